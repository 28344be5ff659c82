import { CurlError } from './errors.js';
import type { EasyInfos, EasyOptions } from './generated/types.js';
import type { Multi } from './multi.js';
import { addon } from './native.js';
import { fromScratch } from './scratch.js';

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
  /** @internal The native side of `closed`. */
  isClosed(): boolean;
  /** @internal The native side of `multi`. */
  currentMulti(): Multi | null;
  /** The body (0) or the header bytes (1) collected natively: their length when copied to the
   * scratch memory, else a Buffer. */
  takeInto(which: 0 | 1): number | Buffer;
  /** A finished HTTP transfer's infos, headers and body in one call (see response.ts). */
  takeResponse(
    withBody: boolean,
  ): [url: string | undefined, headers: Buffer | undefined, body: Buffer | undefined] | undefined;
  /** Whether the last transfer left state in the handle that no setopt undoes: an error text, a
   * redirect or retry (REDIRECT_TIME_T), or (before libcurl 8.8.0) a saved errno. */
  carriesState(): boolean;
  /** The error a JS callback of this transfer threw, once. */
  takeCallbackError(): unknown;
  /** libcurl's error buffer for the last transfer (CURLOPT_ERRORBUFFER). */
  errorText(): string;
}

/**
 * One transfer (a libcurl easy handle). Options and infos are libcurl's names without the
 * CURLOPT_/CURLINFO_ prefix. Without WRITEFUNCTION/HEADERFUNCTION the body and headers are
 * collected natively: takeBody() and takeHeaders() hand them over once.
 */
export class Easy extends (addon.Easy as unknown as new (...args: unknown[]) => NativeEasy) {
  /** True once close() ran. */
  get closed(): boolean {
    return super.isClosed();
  }

  /** The Multi this Easy is added to, or null. */
  get multi(): Multi | null {
    return super.currentMulti();
  }

  /** The body of the last transfer, collected natively (no WRITEFUNCTION set); empty once
   * taken. Each transfer starts with an empty body. */
  takeBody(): Buffer {
    const r = super.takeInto(0);
    return typeof r === 'number' ? fromScratch(0, r) : r;
  }

  /** The raw header bytes of the last transfer, every response's block in order (no
   * HEADERFUNCTION set); empty once taken. */
  takeHeaders(): Buffer {
    const r = super.takeInto(1);
    return typeof r === 'number' ? fromScratch(0, r) : r;
  }

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
