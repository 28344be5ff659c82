// A run's bookkeeping shared by both schedulers: which request comes next (warm-up, then the
// measured ones until -n or --duration is reached), and what happens to each finished one.
import type { Outcome } from '../outcome.js';
import type { Stats } from '../stats/stats.js';
import type { FetchContext } from '../transfer/context.js';
import { fetchOne } from '../transfer/fetch.js';
import type { Job, Plan } from './jobs.js';

export interface Next {
  job: Job;
  /** The measured request's number, -1 for a warm-up request. */
  index: number;
  warm: boolean;
}

export class Run {
  /** Requests handed out, warm-up ones included: the plan cycles through URLs by it. */
  #n = 0;
  #index = 0;

  constructor(
    readonly ctx: FetchContext,
    readonly plan: Plan,
    readonly stats: Stats,
    /** performance.now() ms when measuring starts (the end of the warm-up). */
    readonly measuredFrom: number,
    /** Measured requests to make; null: until endAt. */
    readonly limit: number | null,
    /** When no more measured requests start (--duration); null: none. */
    readonly endAt: number | null,
    /** Called with every measured request's outcome. */
    readonly onOutcome: (o: Outcome, job: Job) => void,
  ) {}

  /** The request due at `due` (performance.now() ms), or null when the run has made them all. */
  next(due: number): Next | null {
    if (due < this.measuredFrom) return { job: this.plan(this.#n++), index: -1, warm: true };
    if (this.limit !== null && this.#index >= this.limit) return null;
    if (this.endAt !== null && due >= this.endAt) return null;
    return { job: this.plan(this.#n++), index: this.#index++, warm: false };
  }

  /** Runs one request due at `dueAt` and books its outcome. */
  async execute(next: Next, dueAt: number): Promise<void> {
    const { stats } = this;
    stats.inFlight++;
    if (!next.warm) stats.markStart();
    const o = await fetchOne(this.ctx, next.job, next.index, dueAt);
    stats.inFlight--;
    if (next.warm) {
      stats.warmupRequests++;
      return;
    }
    stats.record(o, next.job.host);
    this.onOutcome(o, next.job);
  }
}
