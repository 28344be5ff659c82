import type { Readable } from 'node:stream';
import type { LoopAdapter } from '../contract.js';
import type { CurlOptions } from './curl-options.js';

/** '1.1': HTTP/1.1 only. '2': h2 over TLS through ALPN, HTTP/1.1 for http:// (libcurl's
 * CURL_HTTP_VERSION_2TLS). 'h2c': HTTP/2 with prior knowledge, also for http://. */
export type HttpVersion = '1.1' | '2' | 'h2c';

/** Request headers: an object (an array value repeats the header) or an array of [name, value]. */
export type HeadersInit =
  | Readonly<Record<string, string | number | readonly string[]>>
  | ReadonlyArray<readonly [string, string]>;

/** What a request can send. Streams are uploaded as they produce data, never buffered whole. */
export type RequestBody = string | Buffer | Uint8Array | Readable | AsyncIterable<Uint8Array | string>;

/** Settings a Client holds as defaults and a request may override. */
export interface RequestDefaults {
  /** Request headers. The Client frames the body itself, as undici does: Transfer-Encoding is
   * refused (TypeError); a Content-Length must be a request's (not the Client's), must equal
   * the body's length (a TypeError before anything is sent otherwise; 0 when there is no body)
   * and is sent once, by libcurl; with a stream body it declares the stream's length like
   * `bodyLength`. */
  headers?: HeadersInit;
  /** Whole-transfer timeout in ms (TIMEOUT_MS); 0 or unset: none. */
  timeout?: number;
  /** Connect-phase timeout in ms (CONNECTTIMEOUT_MS); unset: libcurl's 300 s. */
  connectTimeout?: number;
  /** Follow redirects (default true), at most `maxRedirections` (default 10) of them. The
   * Client follows them itself, as fetch does: 301, 302, 303, 307 and 308 with a Location, to
   * http and https only; 303 (and 301/302 after a POST) turns into a GET without the body and
   * its Content-* headers, 307 and 308 send the method and body again (a stream body cannot
   * be sent twice: that fails with CurlError 65). A user Host header never follows a
   * redirect, and a redirect to another origin (scheme, host or port) drops Authorization,
   * Cookie and Proxy-Authorization (as fetch and undici do) plus the headers named in
   * `stripHeadersOnCrossOriginRedirect`; what was dropped stays dropped for the rest of the
   * chain. */
  followRedirects?: boolean;
  maxRedirections?: number;
  /** More header names to drop on a redirect to another origin, besides Authorization, Cookie
   * and Proxy-Authorization (API keys, tokens...). Case-insensitive. A request's list adds to
   * the Client's: a request cannot send what the Client strips. */
  stripHeadersOnCrossOriginRedirect?: readonly string[];
  /** Ask for and decode gzip/deflate/br bodies (ACCEPT_ENCODING ''; default true). */
  decompress?: boolean;
  /** Default '2' (libcurl's own default). */
  httpVersion?: HttpVersion;
  /** PEM CA certificates to trust instead of the system's (CAINFO_BLOB). */
  ca?: string | Buffer;
  /** PEM client certificate and key (SSLCERT_BLOB, SSLKEY_BLOB). */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Verify the server's certificate and name (default true). */
  rejectUnauthorized?: boolean;
  /** Proxy URL. Unset: no proxy, and proxy environment variables are ignored; 'env': libcurl
   * reads http_proxy/https_proxy/no_proxy itself. */
  proxy?: string;
  /** Largest response body accepted, in bytes (MAXFILESIZE_LARGE plus a check as data arrives);
   * a bigger one fails with CurlError code 63. */
  maxResponseSize?: number;
  /** Largest response header block accepted, in bytes; a bigger one fails with code 23. */
  maxHeaderSize?: number;
}

/** What `new Client(options)` takes: the loop, the connection limits, and the defaults of every
 * request. */
export interface ClientOptions extends RequestDefaults {
  /** The event-loop adapter that drives the Client's Multi. */
  loop: LoopAdapter;
  /** Connections at once to one host (MAX_HOST_CONNECTIONS); 0: no limit (default). */
  maxConnectionsPerHost?: number;
  /** Connections at once in total (MAX_TOTAL_CONNECTIONS); 0: no limit (default). */
  maxConnections?: number;
  /** Idle connections kept for reuse (MAXCONNECTS). Default: 256, raised to the number of
   * requests in flight when more are. libcurl's own default, four per transfer still added,
   * shrinks as transfers finish and closes connections a moment before the next request could
   * have reused them. */
  maxIdleConnections?: number;
  /** Easy handles kept for reuse between requests (default 1024). */
  maxIdleHandles?: number;
  /** Read the phase timings of every response (default true); false makes response.timings
   * null (the timings are read in the same native call as the status, so the saving is small). */
  timings?: boolean;
  /** The Accept header of requests that give none. Default '*\/*', libcurl's; null sends no
   * Accept at all (as undici does). */
  defaultAccept?: string | null;
  /** libcurl options by name (CURLOPT_ without the prefix) set on every handle, for what the
   * Client has no option for: `{ RESOLVE: ['example.org:443:127.0.0.1'], MAX_RECV_SPEED_LARGE:
   * 65536, TCP_KEEPALIVE: 1, COOKIEFILE: 'cookies.txt' }`. Options the Client sets itself
   * (headers, timeouts, TLS, proxy, body, callbacks...) are a TypeError naming what to use
   * instead; FORBID_REUSE and FRESH_CONNECT may only be turned on; a wrong name or value is
   * libcurl's CurlError, at construction. */
  curlOptions?: CurlOptions;
}

/** One request's options for `client.request` (and `stream`, `exchange`): the method, the body,
 * an AbortSignal, and any of the Client's defaults overridden for it. */
export interface RequestOptions extends RequestDefaults {
  /** Default 'GET'. */
  method?: string;
  /** The request body: a string, Buffer or Uint8Array, or a Readable or async iterable of chunks
   * (see bodyLength). */
  body?: RequestBody | null;
  /** Length of a stream body when known (sent as Content-Length); otherwise HTTP/1.1 uses
   * chunked transfer encoding. The stream must produce exactly that many bytes: a longer one
   * fails (CurlError 26 naming bodyLength) before anything past bodyLength is sent, a shorter
   * one fails as soon as it ends. The last byte goes out once the stream has ended, so the
   * server never gets a complete body the stream then contradicts. */
  bodyLength?: number;
  /** Aborts the request: it rejects with the signal's reason and its transfer is removed. */
  signal?: AbortSignal;
}

/** `client.stream`'s options: a request's, and how much body is buffered. */
export interface StreamOptions extends RequestOptions {
  /** Bytes the body stream buffers before the transfer pauses (default 64 KiB). */
  highWaterMark?: number;
}

/** Client defaults after validation. */
export interface ResolvedDefaults {
  /** The header lines for libcurl: no Content-Length (that is in `contentLength`). */
  headerLines: string[];
  headerNames: Set<string>;
  /** A Content-Length header's value, checked against the body. */
  contentLength: number | undefined;
  /** Lower-cased names dropped on a cross-origin redirect (the three of fetch included). */
  stripOnCrossOrigin: ReadonlySet<string>;
  timeout: number;
  connectTimeout: number;
  followRedirects: boolean;
  maxRedirections: number;
  decompress: boolean;
  httpVersion: HttpVersion;
  ca: Buffer | undefined;
  cert: Buffer | undefined;
  key: Buffer | undefined;
  rejectUnauthorized: boolean;
  proxy: string | undefined;
  maxResponseSize: number;
  maxHeaderSize: number;
}

const HTTP_VERSIONS: readonly HttpVersion[] = ['1.1', '2', 'h2c'];
/** What fetch and undici drop on a redirect to another origin. */
const CROSS_ORIGIN_STRIPPED: ReadonlySet<string> = new Set([
  'authorization',
  'cookie',
  'proxy-authorization',
]);
const DECIMAL = /^[ \t]*(\d+)[ \t]*$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const BAD_VALUE = /[\r\n\0]/;

export function checkInteger(where: string, name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${where}: ${name} must be an integer >= ${min}, got ${describe(value)}`);
  }
  return value;
}

function checkBoolean(where: string, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean')
    throw new TypeError(`${where}: ${name} must be a boolean, got ${describe(value)}`);
  return value;
}

function checkPem(where: string, name: string, value: unknown): Buffer {
  if (typeof value === 'string') return Buffer.from(value);
  if (Buffer.isBuffer(value)) return value;
  throw new TypeError(`${where}: ${name} must be a PEM string or Buffer, got ${describe(value)}`);
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}

export function checkMethod(where: string, value: unknown): string {
  if (typeof value !== 'string' || !TOKEN.test(value)) {
    throw new TypeError(`${where}: method must be an HTTP token such as 'GET', got ${describe(value)}`);
  }
  return value.toUpperCase();
}

/** Header lines for libcurl's HTTPHEADER ('Name: value'; 'Name;' sends an empty value). A
 * Content-Length is checked and returned apart: the Client frames the body itself. */
export function headerLines(
  where: string,
  init: unknown,
): { lines: string[]; names: Set<string>; contentLength: number | undefined } {
  const lines: string[] = [];
  const names = new Set<string>();
  let contentLength: number | undefined;
  const add = (name: unknown, value: unknown) => {
    if (typeof name !== 'string' || !TOKEN.test(name)) {
      throw new TypeError(`${where}: header name ${describe(name)} is not an HTTP token`);
    }
    const text = typeof value === 'number' ? String(value) : value;
    if (typeof text !== 'string' || BAD_VALUE.test(text)) {
      throw new TypeError(`${where}: header ${name} must have a string value without CR, LF or NUL`);
    }
    const lower = name.toLowerCase();
    names.add(lower);
    if (lower === 'transfer-encoding') {
      throw new TypeError(
        `${where}: the Transfer-Encoding header is not allowed: the Client frames the body itself ` +
          '(Content-Length, or chunked for a stream of unknown length)',
      );
    }
    if (lower === 'content-length') {
      const digits = DECIMAL.exec(text);
      if (!digits || !Number.isSafeInteger(Number(digits[1]))) {
        throw new TypeError(`${where}: Content-Length must be a number of bytes, got ${describe(text)}`);
      }
      if (contentLength !== undefined)
        throw new TypeError(`${where}: Content-Length is given more than once`);
      contentLength = Number(digits[1]);
      return;
    }
    lines.push(text === '' ? `${name};` : `${name}: ${text}`);
  };
  if (Array.isArray(init)) {
    for (const pair of init) {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw new TypeError(`${where}: headers given as an array must hold [name, value] pairs`);
      }
      add(pair[0], pair[1]);
    }
  } else if (typeof init === 'object' && init !== null) {
    for (const [name, value] of Object.entries(init)) {
      if (Array.isArray(value)) for (const v of value) add(name, v);
      else add(name, value);
    }
  } else {
    throw new TypeError(`${where}: headers must be an object or an array of [name, value] pairs`);
  }
  return { lines, names, contentLength };
}

/** Validates the settings shared by the Client and each request, over `base`. */
export function resolveDefaults(
  where: string,
  options: RequestDefaults,
  base?: ResolvedDefaults,
): ResolvedDefaults {
  const r: ResolvedDefaults = base
    ? { ...base }
    : {
        headerLines: [],
        headerNames: new Set(),
        contentLength: undefined,
        stripOnCrossOrigin: CROSS_ORIGIN_STRIPPED,
        timeout: 0,
        connectTimeout: 0,
        followRedirects: true,
        maxRedirections: 10,
        decompress: true,
        httpVersion: '2',
        ca: undefined,
        cert: undefined,
        key: undefined,
        rejectUnauthorized: true,
        proxy: undefined,
        maxResponseSize: 0,
        maxHeaderSize: 0,
      };
  if (options.headers !== undefined) {
    const { lines, names, contentLength } = headerLines(where, options.headers);
    // A request's header replaces the Client's header of the same name.
    const kept = base ? base.headerLines.filter((line) => !names.has(headerNameOf(line))) : [];
    r.headerLines = [...kept, ...lines];
    r.headerNames = new Set([...(base ? [...base.headerNames].filter((n) => !names.has(n)) : []), ...names]);
    r.contentLength = contentLength;
  }
  if (!base) {
    // The Client's defaultAccept: a line every request without its own Accept carries (kept
    // through per-request headers by the filter above, dropped by a request's own Accept).
    const accept = (options as ClientOptions).defaultAccept;
    if (accept !== undefined && accept !== '*/*' && !r.headerNames.has('accept')) {
      if (accept !== null && (typeof accept !== 'string' || accept === '' || BAD_VALUE.test(accept))) {
        throw new TypeError(
          `${where}: defaultAccept must be a header value or null, got ${describe(accept)}`,
        );
      }
      r.headerLines = [...r.headerLines, accept === null ? 'Accept:' : `Accept: ${accept}`];
    }
  }
  if (options.stripHeadersOnCrossOriginRedirect !== undefined) {
    const list: unknown = options.stripHeadersOnCrossOriginRedirect;
    if (!Array.isArray(list) || !list.every((n) => typeof n === 'string' && TOKEN.test(n))) {
      throw new TypeError(
        `${where}: stripHeadersOnCrossOriginRedirect must be an array of header names, got ${describe(list)}`,
      );
    }
    r.stripOnCrossOrigin = new Set([...r.stripOnCrossOrigin, ...list.map((n: string) => n.toLowerCase())]);
  }
  if (options.timeout !== undefined) r.timeout = checkInteger(where, 'timeout', options.timeout, 0);
  if (options.connectTimeout !== undefined) {
    r.connectTimeout = checkInteger(where, 'connectTimeout', options.connectTimeout, 0);
  }
  if (options.followRedirects !== undefined) {
    r.followRedirects = checkBoolean(where, 'followRedirects', options.followRedirects);
  }
  if (options.maxRedirections !== undefined) {
    r.maxRedirections = checkInteger(where, 'maxRedirections', options.maxRedirections, 0);
  }
  if (options.decompress !== undefined) r.decompress = checkBoolean(where, 'decompress', options.decompress);
  if (options.httpVersion !== undefined) {
    if (!HTTP_VERSIONS.includes(options.httpVersion)) {
      throw new RangeError(
        `${where}: httpVersion must be one of ${HTTP_VERSIONS.map((v) => `'${v}'`).join(', ')}, got ${describe(options.httpVersion)}`,
      );
    }
    r.httpVersion = options.httpVersion;
  }
  if (options.ca !== undefined) r.ca = checkPem(where, 'ca', options.ca);
  if (options.cert !== undefined) r.cert = checkPem(where, 'cert', options.cert);
  if (options.key !== undefined) r.key = checkPem(where, 'key', options.key);
  if (options.rejectUnauthorized !== undefined) {
    r.rejectUnauthorized = checkBoolean(where, 'rejectUnauthorized', options.rejectUnauthorized);
  }
  if (options.proxy !== undefined) {
    if (typeof options.proxy !== 'string' || options.proxy === '' || BAD_VALUE.test(options.proxy)) {
      throw new TypeError(`${where}: proxy must be a proxy URL or 'env', got ${describe(options.proxy)}`);
    }
    r.proxy = options.proxy;
  }
  if (options.maxResponseSize !== undefined) {
    r.maxResponseSize = checkInteger(where, 'maxResponseSize', options.maxResponseSize, 1);
  }
  if (options.maxHeaderSize !== undefined) {
    r.maxHeaderSize = checkInteger(where, 'maxHeaderSize', options.maxHeaderSize, 1);
  }
  return r;
}

export function headerNameOf(line: string): string {
  const end = line.search(/[:;]/);
  return (end < 0 ? line : line.slice(0, end)).toLowerCase();
}
