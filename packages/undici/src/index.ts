// @multisock/undici: an undici 7 Dispatcher over libcurl.
//
//   import { setGlobalDispatcher } from 'undici';
//   import { CurlDispatcher } from '@multisock/undici';
//   setGlobalDispatcher(new CurlDispatcher());
export { CurlDispatcher } from './dispatcher.js';
export { ERROR_TABLE, undiciError } from './errors.js';
export type { CurlDispatcherOptions } from './options.js';
