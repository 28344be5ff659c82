// Stopping a run: no new requests once asked to stop, a grace period for those in flight, then
// `abort` (the Client closed, so every transfer ends). A second Ctrl-C aborts at once.

export type StopReason = 'SIGINT' | 'SIGTERM' | 'duration';

export class Stop {
  stopping = false;
  aborted = false;
  reason: StopReason | null = null;
  #grace: NodeJS.Timeout | null = null;
  readonly #wakers = new Set<() => void>();
  readonly #listeners: Array<() => void> = [];
  readonly #onSignal = (signal: NodeJS.Signals) => this.request(signal as StopReason);

  constructor(
    readonly graceMs: number,
    readonly abort: () => void,
  ) {}

  /** Ctrl-C and SIGTERM stop the run (the first gracefully, another at once). */
  listen(): void {
    process.on('SIGINT', this.#onSignal);
    process.on('SIGTERM', this.#onSignal);
  }

  request(reason: StopReason): void {
    if (this.stopping) {
      if (reason !== 'duration') this.#abortNow();
      return;
    }
    this.stopping = true;
    this.reason = reason;
    for (const wake of this.#wakers) wake();
    this.#wakers.clear();
    for (const listener of this.#listeners) listener();
    this.#grace = setTimeout(() => this.#abortNow(), this.graceMs);
    this.#grace.unref();
  }

  /** Runs `listener` when a stop is asked for. */
  onStop(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** The signal that stopped the run, if one did. */
  get signal(): 'SIGINT' | 'SIGTERM' | null {
    return this.reason === 'SIGINT' || this.reason === 'SIGTERM' ? this.reason : null;
  }

  #abortNow(): void {
    if (this.#grace) clearTimeout(this.#grace);
    this.#grace = null;
    if (this.aborted) return;
    this.aborted = true;
    this.abort();
  }

  /** Waits `ms`; resolves false at once if a stop comes first (or has come). */
  sleep(ms: number): Promise<boolean> {
    if (this.stopping) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.#wakers.delete(wake);
        resolve(true);
      }, ms);
      this.#wakers.add(wake);
    });
  }

  dispose(): void {
    if (this.#grace) clearTimeout(this.#grace);
    process.off('SIGINT', this.#onSignal);
    process.off('SIGTERM', this.#onSignal);
  }
}
