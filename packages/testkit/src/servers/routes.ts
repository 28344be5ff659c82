import { createHash, type Hash } from 'node:crypto';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { patternBytes } from './pattern.js';

/**
 * The routes every test server answers, decided once here and carried out by two transports
 * (uWebSockets.js for HTTP/1.1 and TLS, node:http2 for h2/h2c), so the servers cannot drift apart.
 */
export type RoutePlan =
  | { kind: 'body'; status: number; headers: Array<[string, string]>; body: string | Buffer }
  | { kind: 'no-body'; status: number; headers: Array<[string, string]> }
  | { kind: 'bytes'; n: number; range: ByteRange | null }
  | { kind: 'chunked'; n: number }
  | { kind: 'slow'; ms: number }
  | { kind: 'trailers'; n: number }
  | { kind: 'echo' };

/** The part of a `/bytes/:n` body a `Range: bytes=first-last` request asked for (206). */
export interface ByteRange {
  first: number;
  last: number;
}

/** What of a request besides its method and URL a route looks at. */
export interface RouteRequest {
  /** The Range header, if any. */
  range?: string | undefined;
  /** The server's count of requests per URL, for `/flaky`. */
  flaky?: FlakyCounts;
}

/** Requests each `/flaky` URL (path and query) has had on one server. */
export class FlakyCounts {
  readonly #seen = new Map<string, number>();
  /** Counts a request to `url` and returns how many came before it. */
  next(url: string): number {
    const before = this.#seen.get(url) ?? 0;
    this.#seen.set(url, before + 1);
    return before;
  }
}

/** The largest n of /bytes/:n and /chunked/:n (100 MiB). */
export const MAX_BYTES = 100 * 1024 * 1024;
/** The largest n of /trailers/:n (1 MiB). */
export const MAX_TRAILER_BYTES = 1024 * 1024;
export const MAX_SLOW_MS = 60_000;
export const MAX_REDIRECTS = 1000;
export const MAX_HEADERS = 5000;

const REASONS: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  206: 'Partial Content',
  408: 'Request Timeout',
  416: 'Range Not Satisfiable',
  301: 'Moved Permanently',
  302: 'Found',
  304: 'Not Modified',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** `'404 Not Found'`: the status line text uWS wants. */
export function statusText(status: number): string {
  return `${status} ${REASONS[status] ?? 'Status'}`;
}

function text(status: number, body: string, headers: Array<[string, string]> = []): RoutePlan {
  return { kind: 'body', status, headers: [['content-type', 'text/plain'], ...headers], body };
}

function intParam(raw: string | undefined, max: number): number | null {
  if (raw === undefined || !/^\d{1,10}$/.test(raw)) return null;
  const n = Number(raw);
  return n <= max ? n : null;
}

/** The value of `name` in a URL's query, if there. */
function queryParam(url: string, name: string): string | undefined {
  const query = url.indexOf('?');
  if (query < 0) return undefined;
  return new URLSearchParams(url.slice(query + 1)).get(name) ?? undefined;
}

/** A Retry-After header from `?retry-after=SECONDS`. */
function retryAfter(url: string): Array<[string, string]> {
  const seconds = queryParam(url, 'retry-after');
  return seconds !== undefined && /^\d{1,5}$/.test(seconds) ? [['retry-after', seconds]] : [];
}

/** One `bytes=first-[last]` range of an n-byte body; null when `header` asks for none (or
 * for several, which these servers do not serve); 'unsatisfiable' past the end. */
function parseRange(header: string | undefined, n: number): ByteRange | null | 'unsatisfiable' {
  const m = header === undefined ? null : /^bytes=(\d{1,10})-(\d{0,10})$/.exec(header.trim());
  if (!m) return null;
  const first = Number(m[1]);
  const last = m[2] === '' ? n - 1 : Math.min(Number(m[2]), n - 1);
  if (first >= n || last < first) return 'unsatisfiable';
  return { first, last };
}

/**
 * Decide what to answer for `method` and `url` (path plus optional query). `/bytes/:n` honours
 * a single `Range: bytes=a-b` (206, or 416 past the end), as static file servers do;
 * `/chunked/:n` ignores Range (200, the whole body), as servers without range support do.
 * `/status/:code?retry-after=S` and `/flaky/:n/:code?retry-after=S` add a Retry-After header;
 * `/flaky/:n/:code` answers `code` to the first n requests for its URL, then 200.
 */
export function planRoute(method: string, url: string, request: RouteRequest = {}): RoutePlan {
  const path = url.split('?', 1)[0] ?? '/';
  const parts = path.split('/').slice(1);
  const [route, arg] = parts;
  const get = method.toUpperCase() === 'GET';
  if (route === 'echo' && parts.length === 1) return { kind: 'echo' };
  if (!get) return text(405, 'method not allowed\n');
  if (parts.length === 1 && route === 'small') return text(200, 'hello world\n');
  if (parts.length === 3 && route === 'flaky') {
    const n = intParam(arg, MAX_REDIRECTS);
    const code = intParam(parts[2], 599);
    if (n === null || code === null || code < 200) return text(400, 'n must be 0..1000, code 200..599\n');
    const before = request.flaky?.next(url) ?? 0;
    return before < n
      ? text(code, `failure ${before + 1} of ${n}\n`, retryAfter(url))
      : text(200, `ok after ${n}\n`);
  }
  if (parts.length !== 2) return text(404, 'not found\n');
  switch (route) {
    case 'bytes': {
      const n = intParam(arg, MAX_BYTES);
      if (n === null) return text(400, `n must be 0..${MAX_BYTES}\n`);
      const range = parseRange(request.range, n);
      if (range === 'unsatisfiable') {
        return text(416, 'range not satisfiable\n', [['content-range', `bytes */${n}`]]);
      }
      return { kind: 'bytes', n, range };
    }
    case 'chunked': {
      const n = intParam(arg, MAX_BYTES);
      return n === null ? text(400, `n must be 0..${MAX_BYTES}\n`) : { kind: 'chunked', n };
    }
    case 'slow': {
      const ms = intParam(arg, MAX_SLOW_MS);
      return ms === null ? text(400, `ms must be 0..${MAX_SLOW_MS}\n`) : { kind: 'slow', ms };
    }
    case 'redirect': {
      const n = intParam(arg, MAX_REDIRECTS);
      if (n === null) return text(400, `n must be 0..${MAX_REDIRECTS}\n`);
      return n === 0 ? text(200, 'done') : text(302, 'redirect\n', [['location', `/redirect/${n - 1}`]]);
    }
    case 'status': {
      const code = intParam(arg, 599);
      if (code === null || code < 200) return text(400, 'code must be 200..599\n');
      // 204 and 304 never carry a body (RFC 9110 15.3.5, 15.4.5).
      if (code === 204 || code === 304) return { kind: 'no-body', status: code, headers: [] };
      return text(code, `status ${code}\n`, retryAfter(url));
    }
    case 'headers': {
      const n = intParam(arg, MAX_HEADERS);
      if (n === null) return text(400, `n must be 0..${MAX_HEADERS}\n`);
      const headers: Array<[string, string]> = [];
      for (let i = 0; i < n; i++) headers.push([`x-h-${i}`, `v${i}`]);
      return text(200, `${n} headers\n`, headers);
    }
    case 'encoded': {
      // ENCODED_TEXT compressed with the coding named: the client (or fetch) decodes it.
      const body = ENCODED[arg ?? ''];
      if (body === undefined) return text(400, `coding must be one of ${Object.keys(ENCODED).join(', ')}\n`);
      return {
        kind: 'body',
        status: 200,
        headers: [
          ['content-type', 'text/plain'],
          ['content-encoding', arg!],
        ],
        body,
      };
    }
    case 'trailers': {
      // n pattern bytes, then trailer fields naming their length and digest (HTTP/2 servers;
      // uWebSockets.js has no trailer API: startRawHttpServer sends them over HTTP/1.1).
      const n = intParam(arg, MAX_TRAILER_BYTES);
      return n === null ? text(400, `n must be 0..${MAX_TRAILER_BYTES}\n`) : { kind: 'trailers', n };
    }
    case 'cache': {
      // A response shared caches may keep for :seconds (the cache interceptor's test).
      const seconds = intParam(arg, 86_400);
      if (seconds === null) return text(400, 'seconds must be 0..86400\n');
      return text(200, `cacheable for ${seconds} s\n`, [['cache-control', `public, max-age=${seconds}`]]);
    }
    case 'repeated': {
      // n headers of one name, and n Set-Cookie lines: a client must keep every one.
      const n = intParam(arg, MAX_HEADERS);
      if (n === null) return text(400, `n must be 0..${MAX_HEADERS}\n`);
      const headers: Array<[string, string]> = [];
      for (let i = 0; i < n; i++) headers.push(['x-repeated', `v${i}`], ['set-cookie', `c${i}=${i}`]);
      return text(200, `${n} repeated\n`, headers);
    }
    default:
      return text(404, 'not found\n');
  }
}

/** What `/echo` answers, as JSON. */
export interface EchoReply {
  method: string;
  url: string;
  headers: Record<string, string>;
  bodyLength: number;
  bodySha256: string;
}

/** Accumulates an echoed request body without keeping it. */
export class EchoBody {
  #hash: Hash = createHash('sha256');
  #length = 0;
  constructor(
    readonly method: string,
    readonly url: string,
    readonly headers: Record<string, string>,
  ) {}
  update(chunk: Uint8Array): void {
    this.#length += chunk.byteLength;
    this.#hash.update(chunk);
  }
  reply(): string {
    const reply: EchoReply = {
      method: this.method,
      url: this.url,
      headers: this.headers,
      bodyLength: this.#length,
      bodySha256: this.#hash.digest('hex'),
    };
    return JSON.stringify(reply);
  }
}

/** Splits `n` into the sizes of the writes `/chunked/:n` makes: at least 4 when n allows, <= 64 KiB each. */
export function chunkSizes(n: number, maxChunk: number): number[] {
  const count = Math.max(Math.min(n, 4), Math.ceil(n / maxChunk));
  const sizes: number[] = [];
  let left = n;
  for (let i = count; i > 0; i--) {
    const size = Math.ceil(left / i);
    sizes.push(size);
    left -= size;
  }
  return sizes;
}

/** What every `/encoded/:coding` route decodes to: 64 KiB of the body pattern. */
export const ENCODED_TEXT: Buffer = patternBytes(64 * 1024);

const ENCODED: Record<string, Buffer> = {
  gzip: gzipSync(ENCODED_TEXT),
  br: brotliCompressSync(ENCODED_TEXT),
  deflate: deflateSync(ENCODED_TEXT),
};

/** The trailer fields `/trailers/:n` ends with, for the body it sent. */
export function trailersFor(n: number): Array<[string, string]> {
  return [
    ['x-body-length', String(n)],
    ['x-body-sha256', createHash('sha256').update(patternBytes(n)).digest('hex')],
  ];
}
