// What one request came to: the record the stats, --results, -w and -v all read.
import { CurlError, type ResponseHeaders, type Timings } from '@multisock/core';

/** A failure as the results show it: libcurl's code and name, or the one curl uses for the
 * same thing (22 for an HTTP error under --fail, 23 for a file that cannot be written). */
export interface ErrorInfo {
  code: number;
  name: string;
  message: string;
}

export interface Outcome {
  /** The request's number in the run, from 0 (warm-up requests excluded). */
  index: number;
  url: string;
  /** The URL of the last request, after redirects. */
  effectiveUrl: string;
  method: string;
  /** Null when no response came (a transport failure, a skipped file). */
  status: number | null;
  httpVersion: string | null;
  /** Body bytes received (with -o: written this run). */
  bytes: number;
  /** When the request was due, ms since the run started (with --rate: its scheduled time). */
  startMs: number;
  /** From when the request was due to its end, retries and waits included. */
  latencyMs: number;
  /** The last try alone, from the call to the end of the body. */
  lastTryMs: number;
  retries: number;
  redirects: number;
  connects: number;
  /** The last response's headers, kept when something reads them (-w, -v, Retry-After). */
  headers: ResponseHeaders | null;
  timings: Timings | null;
  /** The file the body went to. */
  output: string | null;
  /** With -C -: the offset the transfer resumed from (0 for a whole file). */
  resumedFrom: number;
  /** --skip-existing found the file there: no request was made. */
  skipped: boolean;
  /** Ended by a stop (Ctrl-C, SIGTERM, the end of --duration) before it finished. */
  cancelled: boolean;
  error: ErrorInfo | null;
}

/** libcurl's code for "an HTTP status >= 400 under --fail" (curl -f). */
export const HTTP_RETURNED_ERROR = 22;
/** libcurl's code for "the body could not be written" (curl's for local file errors). */
export const WRITE_ERROR = 23;

/** An HTTP status >= 400 under --fail, as curl -f reports it. */
export function httpFailure(status: number): ErrorInfo {
  return {
    code: HTTP_RETURNED_ERROR,
    name: 'CURLE_HTTP_RETURNED_ERROR',
    message: `The requested URL returned error: ${status}`,
  };
}

export function errorInfo(error: unknown): ErrorInfo {
  if (error instanceof CurlError) return { code: error.code, name: error.codeName, message: error.message };
  if (error instanceof HiperError) return { code: error.code, name: error.codeName, message: error.message };
  const message = error instanceof Error ? error.message : String(error);
  return { code: -1, name: error instanceof Error ? error.name : 'Error', message };
}

/** A failure hiper itself decides (an HTTP error under --fail, a file it cannot write), named as
 * curl names it. */
export class HiperError extends Error {
  override name = 'HiperError';
  constructor(
    readonly code: number,
    readonly codeName: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Whether an outcome counts as a success for the summary and the exit status. */
export function succeeded(o: Outcome): boolean {
  return o.error === null && !o.cancelled;
}
