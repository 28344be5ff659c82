import { Readable } from 'node:stream';
import { checkInteger, describe } from './options.js';

/** Methods that send an empty body (Content-Length: 0) when given none. */
const EMPTY_BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** A request body as the Client sends it: bytes copied into libcurl (POSTFIELDS), or a stream
 * pulled through READFUNCTION. */
export type RequestBodySource =
  | { kind: 'bytes'; bytes: string | Uint8Array }
  | { kind: 'stream'; source: AsyncIterable<unknown> }
  | null;

export function checkBody(
  where: string,
  method: string,
  body: unknown,
  bodyLength: unknown,
): RequestBodySource {
  if (bodyLength !== undefined) checkInteger(where, 'bodyLength', bodyLength, 0);
  if (body === undefined || body === null) {
    return EMPTY_BODY_METHODS.has(method) ? { kind: 'bytes', bytes: '' } : null;
  }
  if (method === 'HEAD') throw new TypeError(`${where}: a HEAD request cannot have a body`);
  if (typeof body === 'string' || body instanceof Uint8Array) {
    if (bodyLength !== undefined) {
      throw new TypeError(`${where}: bodyLength is for stream bodies; a string or buffer has its own length`);
    }
    return { kind: 'bytes', bytes: body };
  }
  if (body instanceof Readable || isAsyncIterable(body)) return { kind: 'stream', source: body };
  throw new TypeError(
    `${where}: body must be a string, Buffer, Uint8Array, Readable or async iterable, got ${describe(body)}`,
  );
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}
