import type { Stats } from './stats.js';

const TTY_INTERVAL_MS = 200;
const PLAIN_INTERVAL_MS = 1000;
const BAR_WIDTH = 30;

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/**
 * Progress on stderr while a run goes: on a terminal one line redrawn five times a second (a
 * bar, done, in flight, errors, rate); elsewhere (a pipe, a CI log) a plain line at most once a
 * second, so logs stay readable.
 */
export class Progress {
  #timer: NodeJS.Timeout | null = null;
  #lastDone = 0;
  #lastAt = 0;
  readonly #tty: boolean;

  constructor(
    readonly stats: Stats,
    readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.#tty = stream.isTTY === true;
  }

  start(): void {
    this.#lastAt = performance.now();
    this.#timer = setInterval(() => this.#draw(), this.#tty ? TTY_INTERVAL_MS : PLAIN_INTERVAL_MS);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    if (this.#tty) {
      this.#draw(true);
      this.stream.write('\n');
    }
  }

  /** Requests per second since the previous draw. */
  #rate(): number {
    const now = performance.now();
    const rate = ((this.stats.done - this.#lastDone) * 1000) / Math.max(1, now - this.#lastAt);
    this.#lastDone = this.stats.done;
    this.#lastAt = now;
    return rate;
  }

  /** `final`: the last line shows the whole run's rate instead of the latest interval's. */
  #draw(final = false): void {
    const { done, total, inFlight, failed } = this.stats;
    const rate = final ? done / Math.max(1e-3, this.stats.elapsed()) : this.#rate();
    if (!this.#tty) {
      this.stream.write(
        `hiper: ${fmt(done)}/${fmt(total)} done, ${fmt(inFlight)} in flight, ${fmt(failed)} errors, ${fmt(rate)} req/s\n`,
      );
      return;
    }
    const filled = total > 0 ? Math.round((done / total) * BAR_WIDTH) : 0;
    const bar = `${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}`;
    const line = `${bar} ${fmt(done)}/${fmt(total)}  in flight ${fmt(inFlight)}  errors ${fmt(failed)}  ${fmt(rate)} req/s`;
    // \r and erase-line: the bar overwrites itself.
    this.stream.write(`\r\x1b[2K${line}`);
  }
}
