// CurlDispatcher's options: the core Client's, the two undici timeouts, libcurl options by name.
import { libuv } from '@multisock/adapter-libuv';
import type { ClientOptions, CurlOptions, HttpVersion, LoopAdapter } from '@multisock/core';
import { errors } from 'undici';

/** What `new CurlDispatcher(options)` takes. */
export interface CurlDispatcherOptions {
  /** The loop adapter driving libcurl (default: `libuv` from @multisock/adapter-libuv, Node's
   * own loop; `epoll` from @multisock/adapter-epoll on Linux). */
  loop?: LoopAdapter;
  /** '2' (default): HTTP/2 over TLS where the server offers it, HTTP/1.1 otherwise; '1.1';
   * 'h2c': HTTP/2 with prior knowledge, also for http://. */
  httpVersion?: HttpVersion;
  /** Connections at once to one host (undici's `connections`); 0 or unset: no limit. */
  maxConnectionsPerHost?: number;
  /** Connections at once in total; 0 or unset: no limit. */
  maxConnections?: number;
  /** Idle connections kept for reuse (default 256, raised to the requests in flight). */
  maxIdleConnections?: number;
  /** Easy handles kept for reuse (default 1024). */
  maxIdleHandles?: number;
  /** PEM CA certificates to trust instead of the system's. */
  ca?: string | Buffer;
  /** PEM client certificate and key. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Verify the server's certificate and name (default true). */
  rejectUnauthorized?: boolean;
  /** A proxy URL (http://, https://, socks4://, socks5://, socks5h://...) or 'env' to honour
   * http_proxy, https_proxy and no_proxy. Unset: no proxy, environment ignored. */
  proxy?: string;
  /** ms to establish a connection, TLS included (default 10,000, undici's); 0: libcurl's 300 s. */
  connectTimeout?: number;
  /** ms from sending to the whole response head (default 300,000, undici's); 0: none. */
  headersTimeout?: number;
  /** ms between body chunks, not counted while the consumer holds the body (default 300,000,
   * undici's); 0: none. */
  bodyTimeout?: number;
  /** Largest response head in bytes (default 16 KiB, undici's); larger: HeadersOverflowError. */
  maxHeaderSize?: number;
  /** Largest response body in bytes; larger: ResponseExceededMaxSizeError. Unset: no limit. */
  maxResponseSize?: number;
  /** libcurl options by name for what has no option here: `{ MAXAGE_CONN: 30 }`. */
  curlOptions?: CurlOptions;
}

export interface ResolvedOptions {
  client: ClientOptions;
  headersTimeout: number;
  bodyTimeout: number;
}

/** undici Agent options people will try, and what to use here. */
const AGENT_OPTIONS: Record<string, string> = {
  connections: 'maxConnectionsPerHost',
  connect: 'ca, cert, key, rejectUnauthorized and connectTimeout',
  allowH2: "httpVersion ('2' is the default)",
  keepAliveTimeout: 'curlOptions: { MAXAGE_CONN: seconds }',
  pipelining: 'nothing: HTTP/2 multiplexes by itself, and libcurl does not pipeline HTTP/1.1',
  maxRedirections: 'the redirect interceptor (compose), or fetch',
};

const KNOWN = new Set([
  'loop',
  'httpVersion',
  'maxConnectionsPerHost',
  'maxConnections',
  'maxIdleConnections',
  'maxIdleHandles',
  'ca',
  'cert',
  'key',
  'rejectUnauthorized',
  'proxy',
  'connectTimeout',
  'headersTimeout',
  'bodyTimeout',
  'maxHeaderSize',
  'maxResponseSize',
  'curlOptions',
]);

const DEFAULT_TIMEOUT = 300_000;
const DEFAULT_CONNECT_TIMEOUT = 10_000;
const DEFAULT_MAX_HEADER_SIZE = 16 * 1024;

/** Checks the options (InvalidArgumentError for bad ones) into the Client's. */
export function resolveOptions(options: CurlDispatcherOptions | undefined): ResolvedOptions {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null) {
    throw new errors.InvalidArgumentError('CurlDispatcher: options must be an object');
  }
  for (const key of Object.keys(options)) {
    if (KNOWN.has(key)) continue;
    const instead = AGENT_OPTIONS[key];
    throw new errors.InvalidArgumentError(
      instead
        ? `CurlDispatcher: '${key}' is an option of undici's Agent; use ${instead}`
        : `CurlDispatcher: unknown option '${key}'`,
    );
  }
  const timeout = (name: 'headersTimeout' | 'bodyTimeout' | 'connectTimeout', fallback: number) => {
    const value = options[name];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new errors.InvalidArgumentError(`CurlDispatcher: ${name} must be an integer >= 0 (ms)`);
    }
    return value;
  };
  const { headersTimeout: _h, bodyTimeout: _b, curlOptions, ...rest } = options;
  if (
    curlOptions !== undefined &&
    (typeof curlOptions !== 'object' || curlOptions === null || Array.isArray(curlOptions))
  ) {
    throw new errors.InvalidArgumentError(
      'CurlDispatcher: curlOptions must be an object of libcurl option names and values',
    );
  }
  const client: ClientOptions = {
    ...rest,
    loop: options.loop ?? libuv,
    connectTimeout: timeout('connectTimeout', DEFAULT_CONNECT_TIMEOUT),
    maxHeaderSize: options.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE,
    // The caller (fetch, or an interceptor) follows redirects and decodes bodies.
    followRedirects: false,
    decompress: false,
    // undici sends no Accept of its own; libcurl's '*/*' would be a header nobody asked for.
    defaultAccept: null,
    timings: false,
    ...(curlOptions !== undefined ? { curlOptions } : {}),
  };
  return {
    client,
    headersTimeout: timeout('headersTimeout', DEFAULT_TIMEOUT),
    bodyTimeout: timeout('bodyTimeout', DEFAULT_TIMEOUT),
  };
}
