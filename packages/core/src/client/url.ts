import { CurlCode } from '../constants.js';
import { CurlError } from '../errors.js';
import { describe } from './options.js';

/** CURLE_URL_MALFORMAT: not in CurlCode's short list. */
const URL_MALFORMAT = 3;

/**
 * URLs libcurl can take as they are, and the WHATWG parser would leave as they are: http or
 * https, a host name of ASCII letters, digits and dashes whose last label starts with a letter,
 * or a dotted-quad IPv4 address, an optional port of at most 65535, and a path, query and
 * fragment of printable ASCII (no space, no backslash). Anything else (a unicode host, user
 * info, an IPv6 address, a bad port, a host like 1.2.3.256 or 0x7f.1...) goes through the WHATWG
 * URL parser first. One regular expression test per request: the common case costs nothing more.
 */
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const PLAIN_URL = new RegExp(
  '^https?://' +
    `(?:(?:${OCTET}\\.){3}${OCTET}|(?:[A-Za-z0-9-]+\\.)*[A-Za-z][A-Za-z0-9-]*\\.?)` +
    '(?::(?:6553[0-5]|655[0-2]\\d|65[0-4]\\d\\d|6[0-4]\\d{3}|[1-5]\\d{4}|\\d{1,4}))?' +
    '(?:[/?#][\\x21-\\x5b\\x5d-\\x7e]*)?$',
  'i',
);

/** The last string PLAIN_URL passed: requests to one URL test it once. */
let lastPlain = 'http://localhost/';

/**
 * The URL a request sends, as libcurl gets it. A string libcurl would misread is parsed as
 * fetch parses it: a unicode host becomes its IDNA (punycode) form, which libcurl cannot do
 * itself under Node's "C" locale. Only http and https; a malformed URL is a CurlError
 * (CURLE_URL_MALFORMAT, 3) naming the part that is wrong, another scheme a CurlError
 * CURLE_UNSUPPORTED_PROTOCOL (1), both before anything is sent.
 */
export function requestUrl(where: string, url: unknown): string {
  if (typeof url === 'string') {
    if (url === lastPlain) return url;
    if (PLAIN_URL.test(url)) {
      lastPlain = url;
      return url;
    }
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw urlError(URL_MALFORMAT, url, diagnose(url));
    }
    return checkScheme(parsed, url);
  }
  if (url instanceof URL) return checkScheme(url, url.href);
  throw new TypeError(`${where}: url must be a string or a URL, got ${describe(url)}`);
}

/** A redirect's Location resolved against the URL it came from, under the same rules. */
export function redirectUrl(location: string, base: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(location, base);
  } catch {
    throw urlError(URL_MALFORMAT, base, `the redirect to ${describe(location)} is not a valid URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw urlError(
      CurlCode.UNSUPPORTED_PROTOCOL,
      base,
      `a redirect to ${parsed.protocol} is not followed: only http and https`,
    );
  }
  return parsed;
}

function checkScheme(parsed: URL, given: string): string {
  const { protocol } = parsed;
  if (protocol === 'http:' || protocol === 'https:') return parsed.href;
  const scheme = protocol.slice(0, -1);
  const reason = given.includes('://')
    ? `unsupported scheme ${scheme}: only http and https`
    : `unsupported scheme ${scheme}: only http and https (a URL starts with http:// or https://)`;
  throw urlError(CurlCode.UNSUPPORTED_PROTOCOL, given, reason);
}

function urlError(code: number, url: string, reason: string): CurlError {
  const error = CurlError.fromCode(code, `bad URL ${describe(url)}: ${reason}`);
  error.url = url;
  return error;
}

/** Characters a host cannot hold (WHATWG's forbidden domain code points, printable ones named). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const FORBIDDEN_HOST = /[\x00-\x20\x7f#%/:<>?@[\\\]^|]/;

/** Why the WHATWG parser refused `input`, said as a user would look for it. */
function diagnose(input: string): string {
  if (input.trim() === '') return 'the URL is empty';
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(input);
  if (!scheme) return 'no scheme: a URL starts with http:// or https://';
  const name = scheme[1]!.toLowerCase();
  if (name !== 'http' && name !== 'https') return `unsupported scheme ${name}: only http and https`;
  const rest = input.slice(scheme[0].length).replace(/^[/\\]*/, '');
  const end = rest.search(/[/\\?#]/);
  let authority = end < 0 ? rest : rest.slice(0, end);
  const at = authority.lastIndexOf('@');
  if (at >= 0) authority = authority.slice(at + 1);
  let host = authority;
  let port: string | null = null;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) return `bad IPv6 address ${describe(authority)}: no closing ]`;
    host = authority.slice(0, close + 1);
    const after = authority.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) return `bad host ${describe(authority)}`;
    if (after !== '') port = after.slice(1);
  } else {
    const colon = authority.indexOf(':');
    if (colon >= 0) {
      host = authority.slice(0, colon);
      port = authority.slice(colon + 1);
    }
  }
  if (host === '') return 'no host';
  if (port !== null && port !== '' && (!/^\d+$/.test(port) || Number(port) > 65535)) {
    return `bad port ${describe(port)}: a port is a number from 0 to 65535`;
  }
  if (host.startsWith('[')) return `bad IPv6 address ${describe(host)}`;
  const forbidden = FORBIDDEN_HOST.exec(host);
  if (forbidden) {
    return `bad host ${describe(host)}: it holds ${JSON.stringify(forbidden[0])}, which no host name can`;
  }
  if (/^[\d.]+$/.test(host) || /\.\d+\.?$/.test(host)) {
    return `bad host ${describe(host)}: not a valid IPv4 address`;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ASCII is the point
  if (/[^\x00-\x7f]/.test(host) || /(^|\.)xn--/i.test(host)) {
    return `bad host ${describe(host)}: not a valid internationalized domain name`;
  }
  return 'malformed URL';
}
