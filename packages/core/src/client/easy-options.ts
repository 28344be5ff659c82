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
  ]);
}

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
