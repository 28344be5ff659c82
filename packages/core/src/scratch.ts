// Memory the addon copies small results into, so JavaScript makes their Buffers: a Buffer made in
// JS (from Node's pool) costs a tenth of one made in native code. One per thread (the addon keeps
// one per Node environment); every read is copied out at once.
/** Bytes of takeBody/takeHeaders/takeResponse results that fit. */
export const scratch: Buffer = Buffer.allocUnsafeSlow(64 * 1024);
/** takeResponse's numbers. */
export const numbers = new Float64Array(16);

/** A Buffer of its own with `scratch[start, start + length)`. */
export function fromScratch(start: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  scratch.copy(out, 0, start, start + length);
  return out;
}
