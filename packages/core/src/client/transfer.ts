import type { CurlError } from '../errors.js';
import type { PooledEasy } from './easy-pool.js';
import type { Pauser } from './pauser.js';
import type { UploadSource } from './upload.js';

/** One request in flight: the handle it borrowed and what can end it early. */
export interface Transfer {
  readonly pooled: PooledEasy;
  /** The URL as given, for errors raised before libcurl knows one. */
  readonly url: string;
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
