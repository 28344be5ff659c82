export { Client } from './client.js';
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
