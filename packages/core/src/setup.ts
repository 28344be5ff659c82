// Hands the TypeScript classes to the addon once, before anything can reach it.
import { Easy } from './easy.js';
import { CurlError, CurlMultiError } from './errors.js';
import { kDone } from './multi.js';
import { addon, type LibcurlInfo, type OptionDescriptor } from './native.js';
import { numbers, scratch } from './scratch.js';

addon.setup({ Easy, CurlError, CurlMultiError, done: kDone, scratch, numbers });

/** The libcurl this process linked: version, TLS library, protocols. */
export const libcurl: LibcurlInfo = addon.libcurl;

/** libcurl's own option table (curl_easy_option_next): every CURLOPT_ name and its type. */
export function listOptions(): OptionDescriptor[] {
  return addon.listOptions();
}
