// A dispatch's options checked by undici 7's rules (lib/core/request.js), with undici's errors
// for what it refuses, into what the core's Client sends. The object is also what the
// diagnostics channels publish as `request`, so tracing that reads `origin`, `method`, `path`
// and `headers`, or adds headers with `addHeader()` (OpenTelemetry's propagation), works as on
// undici's own Request.
import { stringify } from 'node:querystring';
import { type Dispatcher, errors } from 'undici';

const { InvalidArgumentError, NotSupportedError } = errors;

/** Verifies that a path has no control characters or spaces (undici's rule). */
const INVALID_PATH = /[^\u0021-\u00ff]/;
const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const HEADER_CHAR = /[^\t\x20-\x7e\x80-\xff]/;
const DIGITS = /^\d+$/;

export type HeaderValue = string | string[];

export class DispatchRequest {
  readonly origin: string;
  readonly method: string;
  readonly path: string;
  /** [name, value, name, value...] as given (a value repeated is an array), without Host,
   * Content-Length and Connection, which undici handles apart, as here. */
  readonly headers: Array<string | HeaderValue> = [];
  readonly body: unknown;
  readonly upgrade: string | null;
  readonly idempotent: boolean;
  readonly blocking: boolean;
  readonly headersTimeout: number | undefined;
  readonly bodyTimeout: number | undefined;
  reset: boolean | null;
  host: string | null = null;
  contentLength: number | null = null;
  contentType: string | null = null;
  completed = false;
  aborted = false;

  constructor(opts: Dispatcher.DispatchOptions) {
    const { path, method, body, headers, query, upgrade, headersTimeout, bodyTimeout, reset } = opts;
    const origin: unknown = opts.origin;
    if (typeof origin === 'string' && origin !== '') this.origin = origin;
    else if (origin instanceof URL) this.origin = origin.origin;
    else throw new InvalidArgumentError('opts.origin must be a non-empty string or URL.');

    if (typeof path !== 'string') throw new InvalidArgumentError('path must be a string');
    if (
      path[0] !== '/' &&
      !(path.startsWith('http://') || path.startsWith('https://')) &&
      method !== 'CONNECT'
    ) {
      throw new InvalidArgumentError('path must be an absolute URL or start with a slash');
    }
    if (INVALID_PATH.test(path)) throw new InvalidArgumentError('invalid request path');
    if (typeof method !== 'string') throw new InvalidArgumentError('method must be a string');
    if (!TOKEN.test(method)) throw new InvalidArgumentError('invalid request method');
    if (upgrade && typeof upgrade !== 'string') throw new InvalidArgumentError('upgrade must be a string');
    if (upgrade && HEADER_CHAR.test(upgrade as string))
      throw new InvalidArgumentError('invalid upgrade header');
    if (headersTimeout != null && (!Number.isFinite(headersTimeout) || headersTimeout < 0)) {
      throw new InvalidArgumentError('invalid headersTimeout');
    }
    if (bodyTimeout != null && (!Number.isFinite(bodyTimeout) || bodyTimeout < 0)) {
      throw new InvalidArgumentError('invalid bodyTimeout');
    }
    if (reset != null && typeof reset !== 'boolean') throw new InvalidArgumentError('invalid reset');
    const rest = opts as { expectContinue?: unknown; throwOnError?: unknown; maxRedirections?: unknown };
    if (rest.expectContinue != null && typeof rest.expectContinue !== 'boolean') {
      throw new InvalidArgumentError('invalid expectContinue');
    }
    if (rest.throwOnError != null) throw new InvalidArgumentError('invalid throwOnError');
    if (rest.maxRedirections != null && rest.maxRedirections !== 0) {
      throw new InvalidArgumentError('maxRedirections is not supported, use the redirect interceptor');
    }

    this.method = method;
    this.path = query ? withQuery(path, query) : path;
    this.body = body;
    this.upgrade = (upgrade as string | null | undefined) || null;
    this.headersTimeout = headersTimeout ?? undefined;
    this.bodyTimeout = bodyTimeout ?? undefined;
    this.reset = reset ?? null;
    this.idempotent = (opts.idempotent as boolean | undefined) ?? (method === 'HEAD' || method === 'GET');
    this.blocking = (opts.blocking as boolean | undefined) ?? method !== 'HEAD';

    if (Array.isArray(headers)) {
      if (headers.length % 2 !== 0) throw new InvalidArgumentError('headers array must be even');
      for (let i = 0; i < headers.length; i += 2) this.addHeader(headers[i], headers[i + 1]);
    } else if (headers && typeof headers === 'object') {
      if (hasSafeIterator(headers)) {
        for (const header of headers as Iterable<unknown>) {
          if (!Array.isArray(header) || header.length !== 2) {
            throw new InvalidArgumentError('headers must be in key-value pair format');
          }
          this.addHeader(header[0], header[1]);
        }
      } else {
        for (const key of Object.keys(headers))
          this.addHeader(key, (headers as Record<string, unknown>)[key]);
      }
    } else if (headers != null) {
      throw new InvalidArgumentError('headers must be an object or an array');
    }
  }

  /** The URL libcurl gets: the origin (any trailing slash dropped) and the path. */
  get url(): string {
    const origin = this.origin;
    return origin.endsWith('/') ? origin.slice(0, -1) + this.path : origin + this.path;
  }

  /** Adds a header by undici's rules (what tracing calls from `undici:request:create`). */
  addHeader(key: unknown, value: unknown): this {
    processHeader(this, key, value);
    return this;
  }

  /** The header pairs for the Client: Host as given, `Connection: close` for `reset`. */
  headerPairs(): Array<[string, string]> {
    const pairs: Array<[string, string]> = [];
    const headers = this.headers;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i] as string;
      const value = headers[i + 1]!;
      if (typeof value === 'string') pairs.push([name, value]);
      else for (const v of value) pairs.push([name, v]);
    }
    if (this.host !== null) pairs.push(['Host', this.host]);
    if (this.reset === true) pairs.push(['Connection', 'close']);
    return pairs;
  }
}

function processHeader(request: DispatchRequest, key: unknown, val: unknown): void {
  if (val && typeof val === 'object' && !Array.isArray(val))
    throw new InvalidArgumentError(`invalid ${key} header`);
  if (val === undefined) return;
  if (typeof key !== 'string') throw new InvalidArgumentError('invalid header key');
  const name = key.toLowerCase();
  if (!TOKEN.test(name)) throw new InvalidArgumentError('invalid header key');
  let value: HeaderValue;
  if (Array.isArray(val)) {
    value = val.map((item: unknown) => {
      if (item === null) return '';
      if (typeof item === 'object') throw new InvalidArgumentError(`invalid ${key} header`);
      const text = typeof item === 'string' ? item : `${item as string | number}`;
      if (HEADER_CHAR.test(text)) throw new InvalidArgumentError(`invalid ${key} header`);
      return text;
    });
  } else {
    value = val === null ? '' : typeof val === 'string' ? val : `${val as string | number}`;
    if (HEADER_CHAR.test(value)) throw new InvalidArgumentError(`invalid ${key} header`);
  }

  if (name === 'host') {
    if (request.host !== null) throw new InvalidArgumentError('duplicate host header');
    if (typeof value !== 'string') throw new InvalidArgumentError('invalid host header');
    request.host = value;
  } else if (name === 'content-length') {
    if (request.contentLength !== null) throw new InvalidArgumentError('duplicate content-length header');
    if (typeof value !== 'string' || !DIGITS.test(value)) {
      throw new InvalidArgumentError('invalid content-length header');
    }
    request.contentLength = Number.parseInt(value, 10);
  } else if (request.contentType === null && name === 'content-type') {
    request.contentType = typeof value === 'string' ? value : (value[0] ?? '');
    request.headers.push(key, value);
  } else if (name === 'transfer-encoding' || name === 'keep-alive' || name === 'upgrade') {
    throw new InvalidArgumentError(`invalid ${name} header`);
  } else if (name === 'connection') {
    if (typeof value !== 'string') throw new InvalidArgumentError('invalid connection header');
    for (const token of value.toLowerCase().split(',')) {
      const trimmed = token.trim();
      if (!TOKEN.test(trimmed)) throw new InvalidArgumentError('invalid connection header');
      if (trimmed === 'close') request.reset = true;
    }
  } else if (name === 'expect') {
    throw new NotSupportedError('expect header not supported');
  } else {
    request.headers.push(key, value);
  }
}

function withQuery(path: string, query: Record<string, unknown>): string {
  if (path.includes('?') || path.includes('#')) {
    throw new Error('Query params cannot be passed when url already contains "?" or "#".');
  }
  const text = stringify(query as Record<string, string>);
  return text ? `${path}?${text}` : path;
}

/** An own iterator, or one from a prototype other than Object's (undici's guard against a
 * polluted Object.prototype[Symbol.iterator]). */
function hasSafeIterator(obj: object): boolean {
  const prototype = Object.getPrototypeOf(obj) as object | null;
  const own = Object.hasOwn(obj, Symbol.iterator);
  return (
    own ||
    (prototype !== null &&
      prototype !== Object.prototype &&
      typeof (obj as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function')
  );
}
