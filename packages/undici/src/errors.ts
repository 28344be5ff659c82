// libcurl's errors as the undici error classes undici's own code (fetch, the retry and redirect
// interceptors, api-request) and its users check, each with the CurlError as `cause`.
import { CurlError } from '@multisock/core';
import { errors } from 'undici';

/** What a libcurl code becomes; `phase` says whether the connection failed or broke. */
interface Mapping {
  make: (message: string) => Error;
  /** 'connect': no connection was made ('connectionError'); 'socket': one broke ('disconnect'). */
  phase: 'connect' | 'socket' | null;
}

const socket = (phase: 'connect' | 'socket'): Mapping => ({
  make: (message) => new errors.SocketError(message),
  phase,
});

/** libcurl code -> undici class. The README's table is this one. */
const MAPPINGS: ReadonlyMap<number, Mapping> = new Map<number, Mapping>([
  // UNSUPPORTED_PROTOCOL: from a transfer, 7.88's "Unsupported HTTP version in response" (a
  // bad URL scheme is refused before anything is sent: an InvalidArgumentError).
  [1, { make: (m) => new errors.HTTPParserError(m), phase: 'socket' }],
  [5, socket('connect')], // COULDNT_RESOLVE_PROXY
  [6, socket('connect')], // COULDNT_RESOLVE_HOST
  [7, socket('connect')], // COULDNT_CONNECT
  [8, { make: (m) => new errors.HTTPParserError(m), phase: 'socket' }], // WEIRD_SERVER_REPLY
  [16, socket('socket')], // HTTP2
  [18, socket('socket')], // PARTIAL_FILE: the connection ended inside the body
  [23, { make: (m) => new errors.HeadersOverflowError(m), phase: null }], // WRITE_ERROR: maxHeaderSize
  [28, { make: (m) => new errors.ConnectTimeoutError(m), phase: 'connect' }], // OPERATION_TIMEDOUT
  [42, { make: (m) => new errors.RequestAbortedError(m), phase: null }], // ABORTED_BY_CALLBACK
  [52, socket('socket')], // GOT_NOTHING
  [55, socket('socket')], // SEND_ERROR
  [56, socket('socket')], // RECV_ERROR
  [63, { make: (m) => new errors.ResponseExceededMaxSizeError(m), phase: null }], // FILESIZE_EXCEEDED
  [92, socket('socket')], // HTTP2_STREAM
  [97, socket('connect')], // PROXY (SOCKS and CONNECT handshakes)
  [100, { make: (m) => new errors.HeadersOverflowError(m), phase: null }], // TOO_LARGE (8.x)
]);

/** CURLE_READ_ERROR: the request body failed or did not match its length. */
const READ_ERROR = 26;

/** The libcurl codes mapped to an undici class, and the class's name, for the README. */
export const ERROR_TABLE: ReadonlyArray<{ code: number; undici: string }> = [...MAPPINGS].map(
  ([code, m]) => ({ code, undici: className(m.make('')) }),
);

/** The undici class an error was made with (RequestAbortedError's `name` is 'AbortError'). */
function className(error: Error): string {
  return error.constructor.name;
}

export interface MappedError {
  error: unknown;
  /** 'connect' or 'socket' when the failure was the connection's (for the dispatcher's events). */
  phase: 'connect' | 'socket' | null;
}

/**
 * The error a handler gets for a failed transfer: undici's class with the CurlError as `cause`
 * where undici has one for it; the request body's own error when the body failed (as undici
 * reports it); RequestContentLengthMismatchError when a body did not match its Content-Length;
 * the CurlError itself for every other code (TLS failures among them: undici reports Node's
 * TLS error there, not one of its classes). Anything that is not a CurlError passes as is.
 */
export function undiciError(error: unknown): MappedError {
  if (!(error instanceof CurlError)) return { error, phase: null };
  if (error.code === READ_ERROR) {
    if (error.cause !== undefined) return { error: error.cause, phase: null };
    return {
      error: withCause(new errors.RequestContentLengthMismatchError(error.message), error),
      phase: null,
    };
  }
  const mapping = MAPPINGS.get(error.code);
  if (mapping === undefined) return { error, phase: null };
  return { error: withCause(mapping.make(error.message), error), phase: mapping.phase };
}

/** Sets `cause` as the Error constructor's option does (own, not enumerable). */
export function withCause<E extends Error>(error: E, cause: unknown): E {
  Object.defineProperty(error, 'cause', {
    value: cause,
    writable: true,
    configurable: true,
    enumerable: false,
  });
  return error;
}
