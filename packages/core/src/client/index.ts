export { Client } from './client.js';
export type { CurlOptions } from './curl-options.js';
export {
  Exchange,
  type ExchangeHandler,
  type ExchangeHead,
  type ExchangeOptions,
} from './exchange.js';
export { ResponseHeaders } from './headers.js';
export type {
  ClientOptions,
  HeadersInit,
  HttpVersion,
  RequestBody,
  RequestDefaults,
  RequestOptions,
  StreamOptions,
} from './options.js';
export {
  Response,
  type ResponseHead,
  type ResponseHttpVersion,
  StreamResponse,
  type Timings,
} from './response.js';
