import type { Easy } from '../easy.js';
import type { EasyOptions } from '../generated/types.js';
import { libcurl } from '../setup.js';
import type { HttpVersion, ResolvedDefaults } from './options.js';

export type OptionName = keyof EasyOptions;
export type OptionValue = EasyOptions[OptionName];

/** CURL_HTTP_VERSION_1_1 (2), _2TLS (4), _2_PRIOR_KNOWLEDGE (5). Not _2_0 (3): that one also
 * sends 'Upgrade: h2c' on every plain-http request. */
const HTTP_VERSION_VALUES: Record<HttpVersion, number> = { '1.1': 2, '2': 4, h2c: 5 };

/** Only http and https, also across redirects: a Location header must not reach file:// or
 * any other protocol libcurl speaks. */
const PROTOCOLS = 'http,https';

/**
 * The libcurl options a Client's defaults mean. Every name here is set on every Easy of the
 * Client, so restoring one after a request that changed it is setting it back to this value.
 */
export function optionsFor(d: ResolvedDefaults): Map<OptionName, OptionValue> {
  const verify = d.rejectUnauthorized;
  return new Map<OptionName, OptionValue>([
    ['PROTOCOLS_STR', PROTOCOLS],
    ['REDIR_PROTOCOLS_STR', PROTOCOLS],
    ['HTTPHEADER', d.headerLines.length > 0 ? d.headerLines : null],
    ['TIMEOUT_MS', d.timeout],
    ['CONNECTTIMEOUT_MS', d.connectTimeout],
    // No FOLLOWLOCATION: the Client follows redirects itself (redirect.ts).
    ['ACCEPT_ENCODING', d.decompress ? '' : null],
    ['HTTP_VERSION', HTTP_VERSION_VALUES[d.httpVersion]],
    ['CAINFO_BLOB', d.ca ?? null],
    ['SSLCERT_BLOB', d.cert ?? null],
    ['SSLKEY_BLOB', d.key ?? null],
    ['SSL_VERIFYPEER', verify ? 1 : 0],
    ['SSL_VERIFYHOST', verify ? 2 : 0],
    // An empty PROXY also skips libcurl's environment lookups on every transfer.
    ['PROXY', d.proxy === 'env' ? null : (d.proxy ?? '')],
    ['MAXFILESIZE_LARGE', d.maxResponseSize],
    // A proxy's CONNECT response is not a response of the request: exchange() takes the first
    // head of 200 or more it finds for the response's own, and a tunnel's 200 would be that.
    ['SUPPRESS_CONNECT_HEADERS', 1],
    ['FORBID_REUSE', d.httpVersion === 'h2c' && H2C_REUSE_BROKEN ? 1 : 0],
    ['FRESH_CONNECT', d.httpVersion === 'h2c' && H2C_REUSE_BROKEN ? 1 : 0],
    ...H2_STALL_BUFFER,
  ]);
}

/**
 * libcurl 7.88.0 to 8.0.1 can leave an HTTP/2 response unfinished with all of it received, until
 * the transfer times out (or the server closes the connection: h2o after its 10 s idle timeout),
 * when it is driven by curl_multi_socket_action. In lib/http2.c of those versions:
 * - on_data_chunk_recv copies a stream's DATA into the transfer's receive buffer (BUFFERSIZE,
 *   16 KiB by default); what does not fit pauses nghttp2 (NGHTTP2_ERR_PAUSE), and the frames
 *   after it stay unparsed in the connection's 32 KiB input buffer (H2_BUFSIZE);
 * - cf_h2_recv hands the paused rest over on the next call and unpauses, marking the transfer
 *   for "drain" but without Curl_expire(EXPIRE_RUN_NOW), unlike its other paths;
 * - cf_h2_data_pending tests `ctx->nread_inbuf > ctx->inbuflen`, never true (the operands are
 *   swapped), so readwrite_data (transfer.c) stops reading as soon as the socket is empty.
 * With the socket drained into that buffer, nothing runs the transfer again: no socket event,
 * no timer. Compressed bodies hit it most (no Content-Length, so the end of the stream must be
 * read; nginx's gzip sends small DATA frames). curl_multi_perform runs every transfer on each
 * call, and the curl CLI asks for a 100 KiB buffer, so neither sees it. Fixed in 8.1.0 (curl
 * commit 744dcf22fa, "http2: flow control and buffer improvements").
 * Workaround: a receive buffer larger than the 32 KiB nghttp2 is given at once, so one stream's
 * DATA plus its header block (up to 32 KiB) always fit and nghttp2 is never paused for the
 * transfer reading. Streams multiplexed on one connection can still fill their buffer while
 * another transfer reads; twice as much room makes that rarer, and the core runs a socket again
 * after an action that delivered HTTP/2 bytes (native/multi.cc, RunSocket) for what is left.
 */
const H2_STALL_BUFFER: Array<[OptionName, OptionValue]> =
  libcurl.versionNum >= 0x075800 && libcurl.versionNum < 0x080100 ? [['BUFFERSIZE', 64 * 1024]] : [];

/**
 * Whether a request to `url` waits for a connection being set up to the same origin, in case it
 * multiplexes, instead of opening its own (PIPEWAIT). Without it, 100 concurrent requests to a
 * new HTTP/2 origin open 100 connections. Only for https with HTTP/2: TLS tells at connect time
 * (ALPN) whether the connection multiplexes, so the wait is the handshake. For cleartext URLs
 * libcurl only knows once a first response arrived (7.88.1 and 8.14.1 both wait for it, with
 * '2' meaning HTTP/1.1 over http://, and with h2c on 8.x): there the whole first wave would wait
 * behind the first response, seconds when it is slow.
 */
export function pipewaitFor(url: string, httpVersion: HttpVersion): boolean {
  return httpVersion === '2' && HTTPS.test(url);
}

const HTTPS = /^https:/i;

/** libcurl 7.88.0 and 7.88.1 fail every request (CURLE_HTTP2, 16) that reuses an HTTP/2
 * prior-knowledge connection, idle or multiplexed (curl issue 10634, fixed in 7.89.0): there,
 * h2c requests use a connection each (FRESH_CONNECT, FORBID_REUSE). */
const H2C_REUSE_BROKEN = libcurl.versionNum >= 0x075800 && libcurl.versionNum < 0x075900;

/** What a fresh (or curl_easy_reset) handle has for each option optionsFor() names, so a new
 * handle only gets the options that differ. */
const LIBCURL_DEFAULTS: ReadonlyMap<OptionName, OptionValue> = new Map<OptionName, OptionValue>([
  ['HTTPHEADER', null],
  ['TIMEOUT_MS', 0],
  ['CONNECTTIMEOUT_MS', 0],
  ['ACCEPT_ENCODING', null],
  ['CAINFO_BLOB', null],
  ['SSLCERT_BLOB', null],
  ['SSLKEY_BLOB', null],
  ['SSL_VERIFYPEER', 1],
  ['SSL_VERIFYHOST', 2],
  ['PROXY', null],
  ['MAXFILESIZE_LARGE', 0],
  ['FORBID_REUSE', 0],
  ['FRESH_CONNECT', 0],
]);

/** The options a new or reset handle needs to match `options`. */
export function initialOptions(
  options: ReadonlyMap<OptionName, OptionValue>,
): Array<[OptionName, OptionValue]> {
  return [...options].filter(
    ([name, value]) => !LIBCURL_DEFAULTS.has(name) || !sameValue(LIBCURL_DEFAULTS.get(name), value),
  );
}

/** The entries of `request` that differ from `base`. */
export function changedOptions(
  base: ReadonlyMap<OptionName, OptionValue>,
  request: ReadonlyMap<OptionName, OptionValue>,
): Array<[OptionName, OptionValue]> {
  return [...request].filter(([name, value]) => !sameValue(base.get(name), value));
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  return false;
}

/** Per-request options outside optionsFor(), and the value that undoes each. Options that
 * set up a body (POSTFIELDS, POST, READFUNCTION...) are not here: they change libcurl's
 * request method in ways one setopt does not undo, so a handle that used them is reset. */
export const REQUEST_OPTION_DEFAULTS: ReadonlyMap<OptionName, OptionValue> = new Map<OptionName, OptionValue>(
  [
    ['CUSTOMREQUEST', null],
    ['NOBODY', 0],
    ['WRITEFUNCTION', null],
    ['HEADERFUNCTION', null],
    ['PIPEWAIT', 0],
  ],
);

/** setopt with a name known only at run time. */
export function setOption(easy: Easy, name: OptionName, value: OptionValue): void {
  (easy.setopt as (this: Easy, n: OptionName, v: OptionValue) => void).call(easy, name, value);
}
