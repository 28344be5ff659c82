import { Easy } from '../easy.js';
import type { EasyOptions } from '../generated/types.js';
import { listOptions } from '../setup.js';
import { type OptionName, type OptionValue, REQUEST_OPTION_DEFAULTS, setOption } from './easy-options.js';
import { describe } from './options.js';

/** libcurl options by name (CURLOPT_ without the prefix), for what the Client has no option for. */
export type CurlOptions = Readonly<Partial<EasyOptions>>;

/**
 * Options the Client sets on every request itself, each with what to use instead. Aliases
 * (ENCODING for ACCEPT_ENCODING...) are matched through libcurl's table, by option id.
 */
const CLIENT_OPTION = (name: string) => `use the Client's ${name} option`;
const OWNED: ReadonlyMap<string, string> = new Map([
  ['URL', "the URL is the request's"],
  ['HTTPHEADER', CLIENT_OPTION('headers')],
  ['TIMEOUT_MS', CLIENT_OPTION('timeout')],
  ['TIMEOUT', CLIENT_OPTION('timeout')],
  ['CONNECTTIMEOUT_MS', CLIENT_OPTION('connectTimeout')],
  ['CONNECTTIMEOUT', CLIENT_OPTION('connectTimeout')],
  ['ACCEPT_ENCODING', CLIENT_OPTION('decompress')],
  ['HTTP_VERSION', CLIENT_OPTION('httpVersion')],
  ['CAINFO_BLOB', CLIENT_OPTION('ca')],
  ['SSLCERT_BLOB', CLIENT_OPTION('cert')],
  ['SSLKEY_BLOB', CLIENT_OPTION('key')],
  ['SSL_VERIFYPEER', CLIENT_OPTION('rejectUnauthorized')],
  ['SSL_VERIFYHOST', CLIENT_OPTION('rejectUnauthorized')],
  ['PROXY', CLIENT_OPTION('proxy')],
  ['MAXFILESIZE_LARGE', CLIENT_OPTION('maxResponseSize')],
  ['MAXFILESIZE', CLIENT_OPTION('maxResponseSize')],
  ['FOLLOWLOCATION', `the Client follows redirects itself: ${CLIENT_OPTION('followRedirects')}`],
  ['MAXREDIRS', CLIENT_OPTION('maxRedirections')],
  ['PROTOCOLS_STR', 'the Client speaks http and https only'],
  ['REDIR_PROTOCOLS_STR', 'the Client speaks http and https only'],
  ['PROTOCOLS', 'the Client speaks http and https only'],
  ['REDIR_PROTOCOLS', 'the Client speaks http and https only'],
  ['SUPPRESS_CONNECT_HEADERS', "a proxy's CONNECT response is never part of a response"],
  ['CUSTOMREQUEST', "the request's method says it"],
  ['NOBODY', "the request's method says it"],
  ['HTTPGET', "the request's method says it"],
  ['POST', "the request's body says it"],
  ['UPLOAD', "the request's body says it"],
  ['POSTFIELDS', "the request's body says it"],
  ['COPYPOSTFIELDS', "the request's body says it"],
  ['POSTFIELDSIZE', "the request's body says it"],
  ['POSTFIELDSIZE_LARGE', "the request's body says it"],
  ['INFILESIZE', "the request's bodyLength says it"],
  ['INFILESIZE_LARGE', "the request's bodyLength says it"],
  ['READFUNCTION', "the request's body is read through it"],
  ['SEEKFUNCTION', "the request's body is read through it"],
  ['WRITEFUNCTION', 'the response is received through it'],
  ['HEADERFUNCTION', 'the response is received through it'],
  ['PRIVATE', 'the Client keeps its own state'],
]);

let ownedIds: Map<number, string> | null = null;
let idsByName: Map<string, number> | null = null;

function optionTable(): { ids: Map<string, number>; owned: Map<number, string> } {
  if (idsByName === null || ownedIds === null) {
    idsByName = new Map(listOptions().map((o) => [o.name, o.id]));
    ownedIds = new Map();
    for (const [name, instead] of OWNED) {
      const id = idsByName.get(name);
      if (id !== undefined) ownedIds.set(id, instead);
    }
    for (const name of REQUEST_OPTION_DEFAULTS.keys()) {
      const id = idsByName.get(name);
      if (id !== undefined && !ownedIds.has(id)) ownedIds.set(id, 'the Client sets it per request');
    }
  }
  return { ids: idsByName, owned: ownedIds };
}

/**
 * `base` (the options the Client sets on every handle) with the caller's `curlOptions` added.
 * Each name must be one libcurl knows and not one the Client sets itself (a TypeError naming
 * the Client option to use instead); each value is tried on a scratch handle, so a wrong type
 * is libcurl's CurlError (BAD_FUNCTION_ARGUMENT, UNKNOWN_OPTION) now, not at the first request.
 */
export function withCurlOptions(
  where: string,
  base: Map<OptionName, OptionValue>,
  curlOptions: unknown,
): Map<OptionName, OptionValue> {
  if (curlOptions === undefined) return base;
  if (typeof curlOptions !== 'object' || curlOptions === null || Array.isArray(curlOptions)) {
    throw new TypeError(
      `${where}: curlOptions must be an object of libcurl option names and values, got ${describe(curlOptions)}`,
    );
  }
  const entries = Object.entries(curlOptions) as Array<[OptionName, OptionValue]>;
  if (entries.length === 0) return base;
  const { ids, owned } = optionTable();
  for (const [name] of entries) {
    const id = ids.get(name);
    const instead = id === undefined ? undefined : owned.get(id);
    if (instead !== undefined) {
      throw new TypeError(`${where}: curlOptions.${name} is set by the Client itself (${instead})`);
    }
  }
  const scratch = new Easy();
  const merged = new Map(base);
  try {
    for (const [name, value] of entries) {
      if (ONLY_ON.has(name)) {
        // The Client sets these itself where it must (h2c on 7.88): a caller may only add them.
        if (value !== 0 && value !== 1 && value !== false && value !== true) {
          throw new TypeError(`${where}: curlOptions.${name} must be 0, 1 or a boolean`);
        }
        if (value === 1 || value === true) merged.set(name, 1);
        continue;
      }
      setOption(scratch, name, value);
      merged.set(name, value);
    }
  } finally {
    scratch.close();
  }
  // libcurl 7.88 reads up to 100 buffers in one go before it checks a rate limit again, so the
  // HTTP/2 stall workaround's 64 KiB buffer (H2_STALL_BUFFER) would let several MiB through
  // unlimited: a rate limit keeps libcurl's default buffer unless a size is asked for.
  const limited = merged.has('MAX_RECV_SPEED_LARGE') || merged.has('MAX_SEND_SPEED_LARGE');
  if (limited && base.has('BUFFERSIZE') && !entries.some(([name]) => name === 'BUFFERSIZE')) {
    merged.delete('BUFFERSIZE');
  }
  return merged;
}

/** Options a caller may only turn on (the Client may have turned them on itself). */
const ONLY_ON: ReadonlySet<string> = new Set(['FORBID_REUSE', 'FRESH_CONNECT']);
