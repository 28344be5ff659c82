// Counters a run updates per request (cheap enough for tens of thousands a second), and the
// summary made of them.
import { type Outcome, succeeded } from '../outcome.js';
import { Latency } from './latency.js';
import type { FailedUrl, HostRow, Summary } from './summary.js';

/** Failed URLs kept for the summary; the rest are in --results. */
export const FAILED_SHOWN = 10;

interface HostCounts {
  requests: number;
  failed: number;
  bytes: number;
  latencySumMs: number;
  /** Requests whose latency counts (not skipped or cancelled). */
  timed: number;
}

export class Stats {
  /** Requests started (measured ones, warm-up excluded). */
  started = 0;
  inFlight = 0;
  /** Requests finished (measured ones). */
  done = 0;
  failed = 0;
  cancelled = 0;
  skipped = 0;
  retries = 0;
  bytes = 0;
  savedFiles = 0;
  warmupRequests = 0;
  readonly errors = new Map<string, number>();
  readonly statuses = new Map<number, number>();
  readonly hosts = new Map<string, HostCounts>();
  readonly failedUrls: FailedUrl[] = [];
  readonly latency = new Latency();
  #firstStart = 0;
  #lastStart = 0;
  /** When measuring starts (after the warm-up) and ends, performance.now() ms. */
  #from: number;
  #end = 0;

  /** `total`: the requests the run will make, when known (for progress and ETA). */
  constructor(
    readonly total: number | null,
    from = performance.now(),
  ) {
    this.#from = from;
  }

  /** The warm-up is over: measuring starts now. */
  startMeasuring(at = performance.now()): void {
    this.#from = at;
  }

  /** A measured request starts now. */
  markStart(at = performance.now()): void {
    this.started++;
    if (this.started === 1) this.#firstStart = at;
    this.#lastStart = at;
  }

  /** Measured requests started per second, first start to last (--rate's achieved rate). */
  startRate(): number {
    const span = this.#lastStart - this.#firstStart;
    return this.started > 1 && span > 0 ? Math.round(((this.started - 1) * 1e4) / span) / 10 : 0;
  }

  record(o: Outcome, host: string): void {
    this.done++;
    this.bytes += o.bytes;
    this.retries += o.retries;
    if (o.status !== null) this.statuses.set(o.status, (this.statuses.get(o.status) ?? 0) + 1);
    let h = this.hosts.get(host);
    if (h === undefined) {
      h = { requests: 0, failed: 0, bytes: 0, latencySumMs: 0, timed: 0 };
      this.hosts.set(host, h);
    }
    h.requests++;
    h.bytes += o.bytes;
    if (o.skipped) {
      this.skipped++;
      return;
    }
    if (o.cancelled) {
      this.cancelled++;
      return;
    }
    h.latencySumMs += o.latencyMs;
    h.timed++;
    this.latency.record(o.latencyMs);
    if (o.output !== null && succeeded(o)) this.savedFiles++;
    if (o.error !== null) {
      this.failed++;
      h.failed++;
      this.errors.set(o.error.name, (this.errors.get(o.error.name) ?? 0) + 1);
      if (this.failedUrls.length < FAILED_SHOWN) {
        this.failedUrls.push({ url: o.url, status: o.status, error: o.error.name, message: o.error.message });
      }
    }
  }

  /** Seconds measured so far (to the end once finish() was called). */
  elapsed(): number {
    return Math.max(0, (this.#end || performance.now()) - this.#from) / 1000;
  }

  finish(at = performance.now()): void {
    this.#end = at;
  }

  summary(head: SummaryHead): Summary {
    const seconds = this.elapsed();
    const round = (n: number, digits: number) => Number(n.toFixed(digits));
    const l = this.latency.summary();
    const hosts: Record<string, HostRow> = {};
    for (const [name, h] of [...this.hosts].sort((a, b) => b[1].requests - a[1].requests)) {
      const timed = h.timed;
      hosts[name] = {
        requests: h.requests,
        failed: h.failed,
        bytes: h.bytes,
        meanLatencyMs: timed > 0 ? round(h.latencySumMs / timed, 3) : 0,
      };
    }
    return {
      ...head,
      requests: this.done,
      ok: this.done - this.failed - this.cancelled,
      failed: this.failed,
      cancelled: this.cancelled,
      skipped: this.skipped,
      retries: this.retries,
      errors: Object.fromEntries([...this.errors].sort((a, b) => b[1] - a[1])),
      statuses: Object.fromEntries([...this.statuses].sort((a, b) => a[0] - b[0])),
      hosts,
      failedUrls: this.failedUrls,
      durationMs: round(seconds * 1000, 1),
      requestsPerSecond: round(seconds > 0 ? this.done / seconds : 0, 1),
      bytes: this.bytes,
      mibPerSecond: round(seconds > 0 ? this.bytes / seconds / 1048576 : 0, 3),
      latencyMs: { min: l.min, mean: l.mean, p50: l.p50, p90: l.p90, p99: l.p99, p999: l.p999, max: l.max },
      histogram: this.latency.buckets(),
      savedFiles: this.savedFiles,
      warmupRequests: this.warmupRequests,
    };
  }
}

/** The parts of the summary the run itself knows (not the counters). */
export type SummaryHead = Pick<
  Summary,
  'version' | 'adapter' | 'mode' | 'urls' | 'concurrency' | 'rate' | 'connectionsOpened' | 'stoppedBy'
>;
