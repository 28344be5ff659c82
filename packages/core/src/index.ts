export {
  Client,
  type ClientOptions,
  type CurlOptions,
  Exchange,
  type ExchangeHandler,
  type ExchangeHead,
  type ExchangeOptions,
  type HeadersInit,
  type HttpVersion,
  type RequestBody,
  type RequestDefaults,
  type RequestOptions,
  Response,
  type ResponseHead,
  ResponseHeaders,
  type ResponseHttpVersion,
  type StreamOptions,
  StreamResponse,
  type Timings,
} from './client/index.js';
export {
  CSelect,
  CurlCode,
  CurlMultiCode,
  Pause,
  Poll,
  READFUNC_ABORT,
  READFUNC_PAUSE,
  SOCKET_TIMEOUT,
  WRITEFUNC_PAUSE,
} from './constants.js';
export type { DoneMessage, LoopAdapter, LoopAttachment, SocketCallback, TimerCallback } from './contract.js';
export { Easy } from './easy.js';
export { CurlError, CurlMultiError } from './errors.js';
export type {
  DebugFunction,
  EasyInfos,
  EasyOptions,
  MultiOptions,
  ReadFunction,
  SeekFunction,
  WriteFunction,
  XferInfoFunction,
} from './generated/types.js';
export { Multi } from './multi.js';
export {
  type NativeLoop,
  NativeLoopAttachment,
  type NativeLoopOptions,
  NativeTrace,
} from './native-loop.js';
export { libcurl, listOptions } from './setup.js';
