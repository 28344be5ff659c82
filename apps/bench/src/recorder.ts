// Steady-state measurement inside a client child: a timestamp per completion, CPU time every
// `cpuEvery` completions, and the window from the completion at one fifth to the last one
// before the duration ran out, and not before `minCompletions` (so that a start slowed down by a
// loaded machine still leaves a window to measure, not a single completion). The C program
// computes the same figures the same way.
import type { HeldResult, ThroughputResult } from './types.js';

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

export class Recorder {
  #ts = new Float64Array(1 << 16);
  #cpu: number[] = [];
  #count = 0;
  #t0 = 0;
  #errors = 0;
  #stopped = false;

  constructor(
    private readonly durationMs: number,
    private readonly cpuEvery: number,
    private readonly minCompletions = 0,
  ) {}

  start(): void {
    this.#t0 = performance.now();
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Records one finished transfer; false once the duration has run out (stop issuing). The
   * transfers still in flight then are drained: their errors count, their times do not. */
  complete(ok: boolean): boolean {
    if (!ok) this.#errors++;
    if (this.#stopped) return false;
    const t = performance.now();
    if (this.#count === this.#ts.length) {
      const grown = new Float64Array(this.#ts.length * 2);
      grown.set(this.#ts);
      this.#ts = grown;
    }
    this.#ts[this.#count++] = t;
    if (this.#count % this.cpuEvery === 0) this.#cpu.push(cpuUs());
    if (t - this.#t0 >= this.durationMs && this.#count >= this.minCompletions) {
      this.#stopped = true;
      return false;
    }
    return true;
  }

  result(): ThroughputResult {
    const s = this.#count;
    const w = Math.floor(s / 5);
    const ts = this.#ts;
    const seconds = s > w + 1 ? (ts[s - 1]! - ts[w]!) / 1e3 : 0;
    const measured = s > w + 1 ? s - 1 - w : 0;
    // Sample j (1-based) was taken when j*k transfers had completed.
    const k = this.cpuEvery;
    const a = Math.floor((w + k) / k);
    const b = Math.floor(s / k);
    const cpu = this.#cpu;
    const cpuUsPerReq = a >= 1 && b > a && b <= cpu.length ? (cpu[b - 1]! - cpu[a - 1]!) / ((b - a) * k) : -1;
    return {
      mode: 'throughput',
      completed: s,
      measured,
      seconds,
      reqPerSec: seconds > 0 ? measured / seconds : 0,
      cpuUsPerReq,
      errors: this.#errors,
      maxRssKiB: process.resourceUsage().maxRSS,
    };
  }
}

/** RSS and CPU while held transfers are open: baseline first, then the peak. */
export class HeldSampler {
  readonly baselineRssKiB: number;
  #peak: number;
  #cpu0: number;
  #t0: number;
  #lastSample = 0;

  constructor() {
    // The idle baseline: after the warm-up, with the garbage collected where node allows it.
    (globalThis as { gc?: () => void }).gc?.();
    this.baselineRssKiB = process.memoryUsage.rss() / 1024;
    this.#peak = this.baselineRssKiB;
    this.#cpu0 = cpuUs();
    this.#t0 = performance.now();
  }

  /** Takes an RSS sample if 10 ms have passed since the last one. */
  sample(): void {
    const t = performance.now();
    if (t - this.#lastSample < 10) return;
    this.#lastSample = t;
    const rss = process.memoryUsage.rss() / 1024;
    if (rss > this.#peak) this.#peak = rss;
  }

  /** Samples every 10 ms on Node's loop until the returned function is called. */
  sampleOnTimer(): () => void {
    const timer = setInterval(() => this.sample(), 10);
    return () => clearInterval(timer);
  }

  result(transfers: number, errors: number): HeldResult {
    this.#lastSample = 0;
    this.sample();
    const peak = Math.round(this.#peak);
    const baseline = Math.round(this.baselineRssKiB);
    return {
      mode: 'held',
      transfers,
      errors,
      baselineRssKiB: baseline,
      peakRssKiB: peak,
      rssPerTransferKiB: (peak - baseline) / transfers,
      cpuMs: (cpuUs() - this.#cpu0) / 1e3,
      wallMs: performance.now() - this.#t0,
    };
  }
}
