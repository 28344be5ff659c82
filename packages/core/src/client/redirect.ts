import { CurlCode } from '../constants.js';
import { CurlError } from '../errors.js';
import { headerNameOf, type ResolvedDefaults } from './options.js';
import type { Timings } from './response.js';
import { redirectUrl } from './url.js';

/** CURLE_SEND_FAIL_REWIND: the body would have to be sent again and cannot be. */
const SEND_FAIL_REWIND = 65;

/**
 * Why the Client follows redirects itself rather than letting libcurl do it (FOLLOWLOCATION):
 * on a redirect libcurl drops only its own credentials and the custom Authorization and Cookie
 * headers when the origin changes (lib/http.c, Curl_add_custom_headers, 7.88.1 and 8.x alike);
 * every other header, Proxy-Authorization and API keys included, goes to whatever host the
 * Location names, and libcurl has no per-redirect hook to change that. Following in the Client
 * costs nothing on a response that is not a redirect (one status comparison) and gives fetch's
 * rules on every libcurl version.
 */

/** The statuses fetch follows. */
export function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** What a transfer carries over from the redirects it followed. */
export class RedirectChain {
  hops = 0;
  /** New connections of the responses before the current one. */
  connects = 0;
  /** Time of the responses before the current one, in microseconds (TOTAL_TIME_T). */
  elapsedUs = 0;
  /** Their phase timings added up, when the Client reads timings. */
  timings: Timings | null = null;

  constructor(
    /** The header lines the current request was sent with. */
    public headerLines: readonly string[],
  ) {}

  /** The timings of the whole chain, libcurl's way: each phase added up over the requests,
   * `redirect` the time before the last one, `total` all of it. */
  totalTimings(last: Timings): Timings {
    const t = this.timings;
    if (t === null) return { ...last, redirect: this.elapsedUs, total: this.elapsedUs + last.total };
    return {
      nameLookup: t.nameLookup + last.nameLookup,
      connect: t.connect + last.connect,
      tlsHandshake: t.tlsHandshake + last.tlsHandshake,
      preTransfer: t.preTransfer + last.preTransfer,
      firstByte: t.firstByte + last.firstByte,
      total: this.elapsedUs + last.total,
      redirect: this.elapsedUs,
    };
  }

  /** Adds a followed response's numbers. */
  add(connects: number, totalUs: number, timings: Timings | null): void {
    this.hops++;
    this.connects += connects;
    this.elapsedUs += totalUs;
    if (timings !== null) {
      const t = this.timings;
      this.timings =
        t === null
          ? { ...timings }
          : {
              nameLookup: t.nameLookup + timings.nameLookup,
              connect: t.connect + timings.connect,
              tlsHandshake: t.tlsHandshake + timings.tlsHandshake,
              preTransfer: t.preTransfer + timings.preTransfer,
              firstByte: t.firstByte + timings.firstByte,
              total: t.total + timings.total,
              redirect: 0,
            };
    }
  }
}

/** The request a redirect leads to. */
export interface NextRequest {
  url: URL;
  /** The method turns into GET and the body is dropped (303; 301 and 302 after a POST). */
  toGet: boolean;
  headerLines: string[];
}

/**
 * The next request of a chain, by fetch's rules (and undici's for headers). Throws a CurlError
 * for a redirect that must not be followed: past maxRedirections (47), to a scheme other than
 * http and https (1), or one that needs a stream body again (65).
 */
export function nextRequest(
  defaults: ResolvedDefaults,
  hops: number,
  status: number,
  location: string,
  from: string,
  method: string,
  streamBody: boolean,
  headerLines: readonly string[],
): NextRequest {
  if (hops >= defaults.maxRedirections) {
    const error = CurlError.fromCode(
      CurlCode.TOO_MANY_REDIRECTS,
      `more than maxRedirections (${defaults.maxRedirections}) redirects`,
    );
    error.url = from;
    throw error;
  }
  // Header bytes reach JS as latin1; a Location is UTF-8 (RFC 3986 3.2.2), as browsers read it.
  const url = redirectUrl(Buffer.from(location, 'latin1').toString('utf8'), from);
  const toGet =
    (status === 303 && method !== 'GET' && method !== 'HEAD') || (status <= 302 && method === 'POST');
  if (!toGet && streamBody) {
    const error = CurlError.fromCode(
      SEND_FAIL_REWIND,
      `a ${status} redirect asks for the request body again, and a stream body cannot be sent twice`,
    );
    error.url = from;
    throw error;
  }
  const crossOrigin = url.origin !== new URL(from).origin;
  const strip = defaults.stripOnCrossOrigin;
  const lines = headerLines.filter((line) => {
    const name = headerNameOf(line);
    if (name === 'host') return false; // libcurl writes the new one
    if (toGet && name.startsWith('content-')) return false; // they described the dropped body
    return !(crossOrigin && strip.has(name));
  });
  return { url, toGet, headerLines: lines };
}
