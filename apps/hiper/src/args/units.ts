// Numbers as people type them on a command line: durations, sizes, rates, counts. Each parser
// names the flag in its error, so a bad value exits 2 saying which flag was wrong.
import { UsageError } from './usage-error.js';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `30s`, `500ms`, `2m`, `1h`, `1.5` (seconds, as curl's time options take them): milliseconds. */
export function parseDuration(flag: string, raw: string, { allowZero = false } = {}): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  const ms = m ? Number(m[1]) * DURATION_UNITS[m[2] ?? 's']! : Number.NaN;
  if (!Number.isFinite(ms) || ms < 0 || (ms === 0 && !allowZero)) {
    throw new UsageError(`${flag} must be a duration such as 30s, 500ms, 2m or 1.5 (seconds), got '${raw}'`);
  }
  return ms;
}

/** Seconds as curl takes them (`--connect-timeout 2.5`), or with a unit: milliseconds. */
export function parseSeconds(flag: string, raw: string, options?: { allowZero?: boolean }): number {
  return parseDuration(flag, raw, options);
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Bytes per second as curl's --limit-rate takes them: `100k`, `1M`, `1.5G`, `4096`. */
export function parseSpeed(flag: string, raw: string): number {
  const m = /^(\d+(?:\.\d+)?)([kmg]?)$/i.exec(raw.trim());
  const bytes = m ? Math.floor(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!) : Number.NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new UsageError(`${flag} must be bytes per second such as 100k, 1M or 4096, got '${raw}'`);
  }
  return bytes;
}

const RATE_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600 };

/** Requests per second from curl's --rate form: `200`, `200/s`, `600/m`, `10/h`. */
export function parseRate(flag: string, raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(?:\/(s|m|h))?$/.exec(raw.trim());
  const perSecond = m ? Number(m[1]) / RATE_UNITS[m[2] ?? 's']! : Number.NaN;
  if (!Number.isFinite(perSecond) || perSecond <= 0 || perSecond > 1_000_000) {
    throw new UsageError(
      `${flag} must be requests per second such as 200, 200/s or 600/m (at most 1,000,000/s), got '${raw}'`,
    );
  }
  return perSecond;
}

/** A whole number >= `min`. */
export function parseCount(flag: string, raw: string, min = 1): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min) {
    const what = min === 0 ? 'a whole number' : min === 1 ? 'a positive integer' : `an integer >= ${min}`;
    throw new UsageError(`${flag} must be ${what}, got '${raw}'`);
  }
  return n;
}
