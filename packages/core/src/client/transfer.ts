import type { CurlError } from '../errors.js';
import type { PooledEasy } from './easy-pool.js';
import type { ResolvedDefaults } from './options.js';
import type { Pauser } from './pauser.js';
import type { RedirectChain } from './redirect.js';
import type { UploadSource } from './upload.js';

/** One request in flight: the handle it borrowed and what can end it early. */
export interface Transfer {
  readonly pooled: PooledEasy;
  /** The URL of the current request (as given, then each redirect's), for errors raised
   * before libcurl knows one. */
  url: string;
  /** The request's settings and method, for the redirects it follows. */
  readonly defaults: ResolvedDefaults;
  method: string;
  /** The redirects followed so far; null until the first. */
  redirect: RedirectChain | null;
  /** Its new connections were added to the Client's count. */
  counted: boolean;
  upload: UploadSource | null;
  pauser: Pauser | null;
  /** Body and header bytes collected in JS (only when a size limit needs a look at them). */
  bodyChunks: Buffer[] | null;
  bodyBytes: number;
  headerChunks: Buffer[] | null;
  headerBytes: number;
  /** Set when the Client's own size check stopped the transfer: the error to report. */
  limitError: CurlError | null;
  /** Set when the request was aborted (signal, close, destroyed body): what it rejects with. */
  aborted: boolean;
  abortReason: unknown;
  /** The natively collected body and headers were handed over. */
  taken: boolean;
  settled: boolean;
  removeAbortListener: (() => void) | null;
  /** Ends the transfer now (or on the next turn when inside a libcurl callback) with `reason`. */
  abort(reason: unknown): void;
}
