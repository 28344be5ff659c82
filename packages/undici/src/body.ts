// Every request body undici 7 accepts, as the core's Client sends it: bytes are copied into
// libcurl once, everything else is a stream pulled as libcurl sends (with its length when known,
// so it goes out with a Content-Length). FormData and Blob go through undici's own extraction,
// so the multipart encoding and the Content-Type are byte for byte what undici sends.
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { errors } from 'undici';

export interface RequestBodySource {
  /** What the Client sends: bytes, or a stream. Undefined for no body. */
  body: string | Uint8Array | AsyncIterable<Uint8Array | string> | undefined;
  /** A stream's length, when known. */
  length: number | undefined;
  /** The Content-Type the body implies (FormData's boundary, a Blob's type), if any. */
  contentType: string | undefined;
}

type ExtractBody = (
  object: unknown,
) => [{ stream: AsyncIterable<Uint8Array>; length: number | null }, string | null];
let extractBody: ExtractBody | null = null;

const NONE: RequestBodySource = { body: undefined, length: undefined, contentType: undefined };

/** The body of a dispatch, or an InvalidArgumentError for what undici would refuse. */
export function requestBody(body: unknown): RequestBodySource {
  if (body == null) return NONE;
  if (typeof body === 'string') return body.length === 0 ? NONE : bytes(body);
  if (body instanceof Uint8Array) return body.byteLength === 0 ? NONE : bytes(body);
  if (ArrayBuffer.isView(body)) {
    return body.byteLength === 0 ? NONE : bytes(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  }
  if (body instanceof ArrayBuffer) return body.byteLength === 0 ? NONE : bytes(Buffer.from(body));
  if (isStream(body)) {
    const readable =
      typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
        ? (body as AsyncIterable<Uint8Array | string>)
        : new Readable().wrap(body as NodeJS.ReadableStream);
    return { body: readable, length: undefined, contentType: undefined };
  }
  if (isFormDataLike(body)) {
    extractBody ??= (
      createRequire(import.meta.url)('undici/lib/web/fetch/body.js') as { extractBody: ExtractBody }
    ).extractBody;
    const [extracted, type] = extractBody(body);
    return { body: extracted.stream, length: extracted.length ?? undefined, contentType: type ?? undefined };
  }
  if (isBlobLike(body)) {
    const blob = body as Blob;
    const source: AsyncIterable<Uint8Array | string> =
      typeof blob.stream === 'function'
        ? (blob.stream() as unknown as AsyncIterable<Uint8Array>)
        : (async function* () {
            yield Buffer.from(await blob.arrayBuffer());
          })();
    return { body: source, length: blob.size ?? undefined, contentType: blob.type || undefined };
  }
  if (typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function') {
    return { body: body as AsyncIterable<Uint8Array | string>, length: undefined, contentType: undefined };
  }
  if (typeof (body as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function') {
    const iterable = body as Iterable<unknown>;
    return {
      body: (async function* () {
        yield* iterable as Iterable<Uint8Array | string>;
      })(),
      length: undefined,
      contentType: undefined,
    };
  }
  throw new errors.InvalidArgumentError(
    'body must be a string, a Buffer, a Readable stream, an iterable, or an async iterable',
  );
}

function bytes(body: string | Uint8Array): RequestBodySource {
  return { body, length: undefined, contentType: undefined };
}

/** The byte length of a bytes body. */
export function bytesLength(body: string | Uint8Array): number {
  return typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
}

function isStream(obj: unknown): boolean {
  return (
    typeof obj === 'object' &&
    obj !== null &&
    typeof (obj as { pipe?: unknown }).pipe === 'function' &&
    typeof (obj as { on?: unknown }).on === 'function'
  );
}

function isBlobLike(object: unknown): boolean {
  if (object instanceof Blob) return true;
  if (typeof object !== 'object' || object === null) return false;
  const tag = (object as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag];
  return (
    (tag === 'Blob' || tag === 'File') &&
    (typeof (object as Blob).stream === 'function' || typeof (object as Blob).arrayBuffer === 'function')
  );
}

function isFormDataLike(object: unknown): boolean {
  if (typeof object !== 'object' || object === null) return false;
  const o = object as Record<string | symbol, unknown>;
  return (
    typeof o.append === 'function' &&
    typeof o.delete === 'function' &&
    typeof o.get === 'function' &&
    typeof o.getAll === 'function' &&
    typeof o.has === 'function' &&
    typeof o.set === 'function' &&
    o[Symbol.toStringTag] === 'FormData'
  );
}
