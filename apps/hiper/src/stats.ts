import { CurlError } from '@multisock/core';

/** What one run measured, as the summary prints it (and --json emits it). */
export interface Summary {
  adapter: string;
  urls: number;
  concurrency: number;
  requests: number;
  ok: number;
  failed: number;
  /** Failures by libcurl code name (CURLE_...), or the error's name when not a CurlError. */
  errors: Record<string, number>;
  /** Responses by HTTP status. */
  statuses: Record<string, number>;
  durationMs: number;
  requestsPerSecond: number;
  bytes: number;
  mibPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** New connections the transfers opened, failed ones included: the sum of libcurl's
   * NUM_CONNECTS (the Client's connectionsOpened). */
  connectionsOpened: number;
  /** What the embedded server counted (demo only). */
  server?: { requests: number; bodyBytes: number };
}

/** Counters a run updates per request; cheap enough for tens of thousands per second. */
export class Stats {
  started = 0;
  inFlight = 0;
  done = 0;
  failed = 0;
  bytes = 0;
  readonly errors = new Map<string, number>();
  readonly statuses = new Map<number, number>();
  readonly #latencies: Float64Array;
  #samples = 0;
  readonly #start = performance.now();
  #end = 0;

  constructor(readonly total: number) {
    this.#latencies = new Float64Array(total);
  }

  ok(status: number, bytes: number, latencyMs: number): void {
    this.done++;
    this.bytes += bytes;
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    this.#record(latencyMs);
  }

  fail(error: unknown, latencyMs: number): void {
    this.done++;
    this.failed++;
    const name =
      error instanceof CurlError ? error.codeName : error instanceof Error ? error.name : 'unknown';
    this.errors.set(name, (this.errors.get(name) ?? 0) + 1);
    this.#record(latencyMs);
  }

  /** Seconds since the run started. */
  elapsed(): number {
    return ((this.#end || performance.now()) - this.#start) / 1000;
  }

  finish(): void {
    this.#end = performance.now();
  }

  /** `connectionsOpened`: what the Client counted (failed transfers' connections included). */
  summary(adapter: string, urls: number, concurrency: number, connectionsOpened: number): Summary {
    const seconds = this.elapsed();
    const sorted = this.#latencies.subarray(0, this.#samples).sort();
    const round = (n: number, digits: number) => Number(n.toFixed(digits));
    return {
      adapter,
      urls,
      concurrency,
      requests: this.done,
      ok: this.done - this.failed,
      failed: this.failed,
      errors: Object.fromEntries([...this.errors].sort((a, b) => b[1] - a[1])),
      statuses: Object.fromEntries([...this.statuses].sort((a, b) => a[0] - b[0])),
      durationMs: round(seconds * 1000, 1),
      requestsPerSecond: round(seconds > 0 ? this.done / seconds : 0, 1),
      bytes: this.bytes,
      mibPerSecond: round(seconds > 0 ? this.bytes / seconds / 1048576 : 0, 3),
      latencyMs: {
        p50: round(percentile(sorted, 0.5), 3),
        p90: round(percentile(sorted, 0.9), 3),
        p99: round(percentile(sorted, 0.99), 3),
        max: round(sorted.length > 0 ? sorted[sorted.length - 1]! : 0, 3),
      },
      connectionsOpened,
    };
  }

  #record(latencyMs: number): void {
    if (this.#samples < this.#latencies.length) this.#latencies[this.#samples++] = latencyMs;
  }
}

/** Nearest-rank percentile of sorted values (0 for none). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank]!;
}
