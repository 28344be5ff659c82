import type { Stats } from '../stats/stats.js';
import { bytes } from './format.js';

const TTY_INTERVAL_MS = 200;
const PLAIN_INTERVAL_MS = 1000;
const BAR_WIDTH = 24;

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const two = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

/**
 * Progress on stderr while a run goes: on a terminal one line redrawn five times a second (a
 * bar, done/total, in flight, errors, req/s, bytes/s, ETA); elsewhere (a pipe, a CI log) a plain
 * line at most once a second, so logs stay readable.
 */
export class Progress {
  #timer: NodeJS.Timeout | null = null;
  #lastDone = 0;
  #lastBytes = 0;
  #lastAt = 0;
  readonly #tty: boolean;

  /** `endAt`: performance.now() when --duration ends, for the ETA of a timed run. */
  constructor(
    readonly stats: Stats,
    readonly endAt: number | null,
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

  /** Requests and bytes per second since the previous draw (the whole run's for the last). */
  #rates(final: boolean): { perSecond: number; bytesPerSecond: number } {
    const { done, bytes: b } = this.stats;
    if (final) {
      const s = Math.max(1e-3, this.stats.elapsed());
      return { perSecond: done / s, bytesPerSecond: b / s };
    }
    const now = performance.now();
    const seconds = Math.max(1e-3, (now - this.#lastAt) / 1000);
    const rates = {
      perSecond: (done - this.#lastDone) / seconds,
      bytesPerSecond: (b - this.#lastBytes) / seconds,
    };
    this.#lastDone = done;
    this.#lastBytes = b;
    this.#lastAt = now;
    return rates;
  }

  /** Seconds left: from the count and the rate, or to the end of --duration. */
  #eta(perSecond: number): number | null {
    const { done, total } = this.stats;
    if (this.endAt !== null) return Math.max(0, (this.endAt - performance.now()) / 1000);
    if (total === null || perSecond <= 0) return null;
    return (total - done) / perSecond;
  }

  #draw(final = false): void {
    const { done, total, inFlight, failed } = this.stats;
    const { perSecond, bytesPerSecond } = this.#rates(final);
    const eta = final ? null : this.#eta(perSecond);
    const of = total === null ? fmt(done) : `${fmt(done)}/${fmt(total)}`;
    const tail = `${fmt(perSecond)} req/s  ${bytes(bytesPerSecond)}/s${eta === null ? '' : `  ETA ${clock(eta)}`}`;
    if (!this.#tty) {
      this.stream.write(`hiper: ${of} done, ${fmt(inFlight)} in flight, ${fmt(failed)} errors, ${tail}\n`);
      return;
    }
    const share = total !== null && total > 0 ? done / total : null;
    const filled = share === null ? 0 : Math.round(share * BAR_WIDTH);
    const bar = share === null ? '' : `${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)} `;
    const line = `${bar}${of}  in flight ${fmt(inFlight)}  errors ${fmt(failed)}  ${tail}`;
    // \r and erase-line: the line overwrites itself.
    this.stream.write(`\r\x1b[2K${line}`);
  }
}
