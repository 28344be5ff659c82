// --results FILE: one JSON line per request, written as requests finish, in batches of about
// 64 KiB (one write per line would cost a syscall per request in load modes).
import { createWriteStream, type WriteStream } from 'node:fs';
import type { ErrorInfo, Outcome } from '../outcome.js';

/** One line of the results file (documented in the README). */
export interface ResultRecord {
  url: string;
  effectiveUrl: string;
  method: string;
  status: number | null;
  ok: boolean;
  httpVersion: string | null;
  bytes: number;
  startMs: number;
  timeMs: number;
  retries: number;
  redirects: number;
  output: string | null;
  resumedFrom?: number;
  skipped?: true;
  cancelled?: true;
  error: ErrorInfo | null;
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

export function resultRecord(o: Outcome): ResultRecord {
  const record: ResultRecord = {
    url: o.url,
    effectiveUrl: o.effectiveUrl,
    method: o.method,
    status: o.status,
    ok: o.error === null && !o.cancelled,
    httpVersion: o.httpVersion,
    bytes: o.bytes,
    startMs: round3(o.startMs),
    timeMs: round3(o.latencyMs),
    retries: o.retries,
    redirects: o.redirects,
    output: o.output,
    error: o.error,
  };
  if (o.resumedFrom > 0) record.resumedFrom = o.resumedFrom;
  if (o.skipped) record.skipped = true;
  if (o.cancelled) record.cancelled = true;
  return record;
}

/** Bytes of JSON lines buffered before lines are batched instead of written one by one. */
const BATCH_BYTES = 64 * 1024;

export class ResultsFile {
  readonly #stream: WriteStream;
  #pending = '';
  #failure: Error | null = null;

  /** Opens (truncates) `path`; a failure to open shows in `close()`. */
  constructor(readonly path: string) {
    this.#stream = createWriteStream(path);
    this.#stream.on('error', (error) => {
      this.#failure ??= error;
    });
  }

  add(o: Outcome): void {
    this.#pending += `${JSON.stringify(resultRecord(o))}\n`;
    if (this.#pending.length >= BATCH_BYTES) this.#flush();
  }

  #flush(): void {
    if (this.#pending === '' || this.#failure) return;
    this.#stream.write(this.#pending);
    this.#pending = '';
  }

  /** Writes what is left and closes the file; rejects with the first write error. */
  close(): Promise<void> {
    this.#flush();
    return new Promise((resolve, reject) => {
      this.#stream.end(() => (this.#failure ? reject(this.#failure) : resolve()));
      this.#stream.once('error', reject);
    });
  }
}
