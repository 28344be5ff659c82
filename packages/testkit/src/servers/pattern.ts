/** The body pattern every `/bytes/:n` and `/chunked/:n` route serves: byte i is `i % 251`. */
export const PATTERN_PERIOD = 251;

/** The first `n` bytes of the pattern, so a test can compare a received body byte for byte. */
export function patternBytes(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`patternBytes: n must be a non-negative integer, got ${n}`);
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = i % PATTERN_PERIOD;
  return out;
}

// One precomputed window lets a server slice any chunk of the pattern without allocating:
// the pattern at absolute offset `o` starts at `window[o % 251]`.
const CHUNK = 64 * 1024;
const window = patternBytes(PATTERN_PERIOD + CHUNK);

/** Largest chunk `patternChunk` returns. */
export const PATTERN_CHUNK = CHUNK;

/** `len` (<= PATTERN_CHUNK) pattern bytes starting at absolute offset `offset`, as a view (no copy). */
export function patternChunk(offset: number, len: number): Buffer {
  const start = offset % PATTERN_PERIOD;
  return window.subarray(start, start + Math.min(len, CHUNK));
}
