import { CurlError } from './errors.js';
import type { EasyInfos, EasyOptions } from './generated/types.js';
import type { Multi } from './multi.js';
import { addon } from './native.js';

/**
 * One transfer (a libcurl easy handle). Options and infos are libcurl's names without the
 * CURLOPT_/CURLINFO_ prefix. Without WRITEFUNCTION/HEADERFUNCTION the body and headers are
 * collected natively: takeBody() and takeHeaders() hand them over once.
 */
/** The native methods, typed from libcurl's option table. */
interface NativeEasy {
  /** curl_easy_setopt by name, the value checked against the option's type. */
  setopt<K extends keyof EasyOptions>(name: K, value: EasyOptions[K]): void;
  /** curl_easy_getinfo by name. */
  getinfo<K extends keyof EasyInfos>(name: K): EasyInfos[K];
  /** Several infos in one call: `getinfos(['RESPONSE_CODE', 'TOTAL_TIME_T'])` -> [200, 1234]. */
  getinfos<const K extends readonly (keyof EasyInfos)[]>(
    names: K,
  ): { -readonly [I in keyof K]: EasyInfos[K[I]] };
  /** curl_easy_duphandle: a new Easy with the same options, callbacks and PRIVATE value. */
  duphandle(): Easy;
  /** curl_easy_pause with Pause bits. */
  pause(bits: number): void;
  /** curl_easy_reset: every option back to its default (not while added to a Multi). */
  reset(): void;
  /** curl_easy_cleanup; an Easy still added is removed from its Multi first. Idempotent. */
  close(): void;
  readonly closed: boolean;
  /** The Multi this Easy is added to, or null. */
  readonly multi: Multi | null;
  /** The body collected natively since the last call (no WRITEFUNCTION set). */
  takeBody(): Buffer;
  /** The raw header bytes collected natively since the last call (no HEADERFUNCTION set). */
  takeHeaders(): Buffer;
  /** What a finished HTTP transfer reports, in one call: `out` (a Float64Array of at least
   * 11) gets RESPONSE_CODE, HTTP_VERSION, REDIRECT_COUNT, NUM_CONNECTS and the NAMELOOKUP,
   * CONNECT, APPCONNECT, PRETRANSFER, STARTTRANSFER, TOTAL and REDIRECT _TIME_T infos, in that
   * order; returns [EFFECTIVE_URL, takeHeaders(), takeBody() when `withBody`, else null]. */
  takeResponse(
    out: Float64Array,
    withBody: boolean,
  ): [url: string | null, headers: Buffer, body: Buffer | null];
  /** The error a JS callback of this transfer threw, once. */
  takeCallbackError(): unknown;
  /** libcurl's error buffer for the last transfer (CURLOPT_ERRORBUFFER). */
  errorText(): string;
}

export class Easy extends (addon.Easy as unknown as new (...args: unknown[]) => NativeEasy) {
  override close(): void {
    this.multi?.removeHandle(this);
    super.close();
  }

  /** The CurlError for a finished transfer's result code, or null for CURLE_OK. */
  errorFor(result: number): CurlError | null {
    if (result === 0) return null;
    const cause = this.takeCallbackError();
    const error = CurlError.fromCode(
      result,
      this.errorText() || undefined,
      cause === undefined ? undefined : { cause },
    );
    const url = this.closed ? null : this.getinfo('EFFECTIVE_URL');
    if (typeof url === 'string') error.url = url;
    return error;
  }
}
