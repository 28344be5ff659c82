import { addon } from './native.js';

/** CURL_POLL_*: what libcurl asks the socket callback to watch (the what-bits). */
export const Poll = { NONE: 0, IN: 1, OUT: 2, INOUT: 3, REMOVE: 4 } as const;

/** CURL_CSELECT_*: what happened on a socket, for socketAction's ev_bitmask. Not the what-bits:
 * Poll.REMOVE and CSelect.ERR are both 4 (docs/contract.md#constants). */
export const CSelect = { IN: 1, OUT: 2, ERR: 4 } as const;

/** CURL_SOCKET_TIMEOUT: socketAction's socket argument when the timer fired. */
export const SOCKET_TIMEOUT = -1;

/** CURLPAUSE_*: easy.pause bits. */
export const Pause = { CONT: 0, RECV: 1, SEND: 4, ALL: 5 } as const;

/** Return values libcurl gives meaning to in JS callbacks. */
export const WRITEFUNC_PAUSE: number = addon.constants.WRITEFUNC_PAUSE;
/** CURL_READFUNC_PAUSE: a READFUNCTION's return value that pauses the upload. */
export const READFUNC_PAUSE: number = addon.constants.READFUNC_PAUSE;
/** CURL_READFUNC_ABORT: a READFUNCTION's return value that fails the transfer (CURLE_ABORTED_BY_CALLBACK). */
export const READFUNC_ABORT: number = addon.constants.READFUNC_ABORT;

/** CURLE_* codes users test for most often. Every code's name is on CurlError.codeName. */
export const CurlCode = {
  OK: 0,
  UNSUPPORTED_PROTOCOL: 1,
  COULDNT_RESOLVE_HOST: 6,
  COULDNT_CONNECT: 7,
  WEIRD_SERVER_REPLY: 8,
  HTTP_RETURNED_ERROR: 22,
  WRITE_ERROR: 23,
  READ_ERROR: 26,
  OPERATION_TIMEDOUT: 28,
  ABORTED_BY_CALLBACK: 42,
  BAD_FUNCTION_ARGUMENT: 43,
  TOO_MANY_REDIRECTS: 47,
  UNKNOWN_OPTION: 48,
  GOT_NOTHING: 52,
  SEND_ERROR: 55,
  RECV_ERROR: 56,
  PEER_FAILED_VERIFICATION: 60,
  FILESIZE_EXCEEDED: 63,
  PARTIAL_FILE: 18,
  HTTP2: 16,
  HTTP2_STREAM: 92,
} as const;

/** CURLM_* codes. */
export const CurlMultiCode = {
  OK: 0,
  BAD_HANDLE: 1,
  BAD_EASY_HANDLE: 2,
  OUT_OF_MEMORY: 3,
  INTERNAL_ERROR: 4,
  BAD_SOCKET: 5,
  UNKNOWN_OPTION: 6,
  ADDED_ALREADY: 7,
  RECURSIVE_API_CALL: 8,
  WAKEUP_FAILURE: 9,
  BAD_FUNCTION_ARGUMENT: 10,
  ABORTED_BY_CALLBACK: 11,
  UNRECOVERABLE_POLL: 12,
} as const;
