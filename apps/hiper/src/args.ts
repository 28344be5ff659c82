import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

export type AdapterName = 'libuv' | 'epoll' | 'kqueue';
const ADAPTERS: readonly AdapterName[] = ['libuv', 'epoll', 'kqueue'];

/** Demo defaults: what `hiper` with no URL runs against its embedded server. */
export const DEMO_REQUESTS = 20_000;
export const DEFAULT_CONCURRENCY = 64;

export const USAGE = `usage: hiper [URL ... | --file urls.txt] [options]

Fetches URLs many at a time through libcurl's multi-socket interface and prints a summary.
With no URL, hiper starts its own server on 127.0.0.1 and runs a demo workload against it.

options:
  -f, --file PATH          read URLs from PATH, one per line (# starts a comment)
  -a, --adapter NAME       event-loop adapter: libuv (default), epoll, kqueue (macOS/BSD)
  -c, --concurrency N      requests in flight at once (default ${DEFAULT_CONCURRENCY})
  -n, --requests N         requests in total, cycling through the URLs
                           (default: each URL once; ${DEMO_REQUESTS.toLocaleString('en-US')} for the demo)
  -X, --method NAME        request method (default GET)
  -H, --header 'K: V'      add a request header (repeatable)
  -t, --timeout MS         per-request timeout in milliseconds (default none)
      --http2              HTTP/2: h2 over TLS for https://, prior knowledge (h2c) for http://
  -k, --insecure           do not verify TLS certificates
      --json               print the summary as JSON on stdout
  -q, --quiet              no progress output
  -h, --help               show this help

exit status: 0 when every request completed, 1 when some failed, 2 for bad arguments.`;

/** Bad command line: reported with the usage text, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface Config {
  urls: string[];
  /** No URL given: run the demo against the embedded server. */
  demo: boolean;
  adapter: AdapterName;
  concurrency: number;
  requests: number;
  method: string;
  headers: Array<[string, string]>;
  timeout: number | undefined;
  http2: boolean;
  insecure: boolean;
  json: boolean;
  quiet: boolean;
  help: boolean;
}

function positiveInt(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || !Number.isSafeInteger(Number(raw))) {
    throw new UsageError(`${name} must be a positive integer, got '${raw}'`);
  }
  return Number(raw);
}

function readUrlFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read --file ${path}: ${(error as Error).message}`);
  }
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line !== '');
}

function checkUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`not a URL: '${url}'`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`only http:// and https:// URLs are fetched, got '${url}'`);
  }
  return url;
}

/** An HTTP token (RFC 9110 5.6.2): what a header name is made of. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** One --header value as [name, value]; a UsageError for what no request could send. */
function parseHeader(raw: string): [string, string] {
  const colon = raw.indexOf(':');
  if (colon < 1) throw new UsageError(`--header must look like 'Name: value', got '${raw}'`);
  const name = raw.slice(0, colon).trim();
  const value = raw.slice(colon + 1).trim();
  if (!TOKEN.test(name)) throw new UsageError(`--header name ${JSON.stringify(name)} is not an HTTP token`);
  if (/[\r\n\0]/.test(value)) throw new UsageError(`--header ${name}: the value holds CR, LF or NUL`);
  return [name, value];
}

export function parseCommandLine(argv: string[]): Config {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const adapter = values.adapter ?? 'libuv';
  if (!ADAPTERS.includes(adapter as AdapterName)) {
    throw new UsageError(`--adapter must be one of ${ADAPTERS.join(', ')}, got '${adapter}'`);
  }
  const urls = [...positionals, ...(values.file === undefined ? [] : readUrlFile(values.file))].map(checkUrl);
  if (values.file !== undefined && urls.length === 0)
    throw new UsageError(`--file ${values.file} holds no URL`);
  const demo = urls.length === 0;
  if (demo && values.http2) {
    throw new UsageError('--http2 needs URLs of an HTTP/2 server: the embedded demo server speaks HTTP/1.1');
  }
  const headers = (values.header ?? []).map(parseHeader);
  const method = values.method ?? 'GET';
  if (!/^[A-Za-z]+$/.test(method)) throw new UsageError(`--method must be a word like GET, got '${method}'`);
  const requests = positiveInt('--requests', values.requests) ?? (demo ? DEMO_REQUESTS : urls.length);
  return {
    urls,
    demo,
    adapter: adapter as AdapterName,
    concurrency: positiveInt('--concurrency', values.concurrency) ?? DEFAULT_CONCURRENCY,
    requests,
    method: method.toUpperCase(),
    headers,
    timeout: positiveInt('--timeout', values.timeout),
    http2: values.http2 ?? false,
    insecure: values.insecure ?? false,
    json: values.json ?? false,
    quiet: values.quiet ?? false,
    help: values.help ?? false,
  };
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      file: { type: 'string', short: 'f' },
      adapter: { type: 'string', short: 'a' },
      concurrency: { type: 'string', short: 'c' },
      requests: { type: 'string', short: 'n' },
      method: { type: 'string', short: 'X' },
      header: { type: 'string', short: 'H', multiple: true },
      timeout: { type: 'string', short: 't' },
      http2: { type: 'boolean' },
      insecure: { type: 'boolean', short: 'k' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean', short: 'q' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
