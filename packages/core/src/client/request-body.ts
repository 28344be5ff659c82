import { Readable } from 'node:stream';
import { checkInteger, describe } from './options.js';

/** Methods that send an empty body (Content-Length: 0) when given none. */
const EMPTY_BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** A request body as the Client sends it: bytes copied into libcurl (POSTFIELDS), or a stream
 * pulled through READFUNCTION, of a declared `length` (from bodyLength or a Content-Length
 * header; sent as Content-Length) or of unknown length (chunked on HTTP/1.1). */
export type RequestBodySource =
  | { kind: 'bytes'; bytes: string | Uint8Array }
  | { kind: 'stream'; source: AsyncIterable<unknown>; length: DeclaredLength | null }
  | null;

/** How long a stream body says it is, and who said it (for the error when it is not). */
export interface DeclaredLength {
  bytes: number;
  by: 'bodyLength' | 'Content-Length';
}

/**
 * Checks the body against the method, `bodyLength` and a Content-Length header
 * (`contentLength`): contradictions are TypeErrors, thrown before anything is sent.
 */
export function checkBody(
  where: string,
  method: string,
  body: unknown,
  bodyLength: unknown,
  contentLength: number | undefined,
): RequestBodySource {
  if (bodyLength !== undefined) checkInteger(where, 'bodyLength', bodyLength, 0);
  if (body === undefined || body === null) {
    if (contentLength !== undefined && contentLength !== 0) {
      throw new TypeError(
        `${where}: Content-Length ${contentLength} contradicts the request, which has no body`,
      );
    }
    return EMPTY_BODY_METHODS.has(method) ? { kind: 'bytes', bytes: '' } : null;
  }
  if (method === 'HEAD') throw new TypeError(`${where}: a HEAD request cannot have a body`);
  if (typeof body === 'string' || body instanceof Uint8Array) {
    if (bodyLength !== undefined) {
      throw new TypeError(`${where}: bodyLength is for stream bodies; a string or buffer has its own length`);
    }
    if (contentLength !== undefined) {
      const bytes = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
      if (bytes !== contentLength) {
        throw new TypeError(
          `${where}: Content-Length ${contentLength} contradicts the body's ${bytes} bytes`,
        );
      }
    }
    return { kind: 'bytes', bytes: body };
  }
  if (body instanceof Readable || isAsyncIterable(body)) {
    if (bodyLength !== undefined && contentLength !== undefined && bodyLength !== contentLength) {
      throw new TypeError(`${where}: Content-Length ${contentLength} contradicts bodyLength ${bodyLength}`);
    }
    const length: DeclaredLength | null =
      bodyLength !== undefined
        ? { bytes: bodyLength as number, by: 'bodyLength' }
        : contentLength !== undefined
          ? { bytes: contentLength, by: 'Content-Length' }
          : null;
    return { kind: 'stream', source: body, length };
  }
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
