// The command line -> a checked Config. Every refusal is a UsageError naming the flag (exit 2).
import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ADAPTERS, type AdapterName, defaultAdapter } from '../adapters.js';
import type { BodySpec, Config } from '../config.js';
import { parseWriteOut } from '../output/write-out.js';
import { FLAGS } from './flags.js';
import { outputPaths } from './outputs.js';
import { parseCount, parseDuration, parseRate, parseSeconds, parseSpeed } from './units.js';
import { UsageError } from './usage-error.js';

/** Demo defaults: what `hiper` with no URL runs against its embedded server. */
export const DEMO_REQUESTS = 20_000;
export const DEFAULT_CONCURRENCY = 64;
/** With --rate, -c is a cap on requests in flight, not what paces them. */
export const DEFAULT_RATE_CAP = 1000;
export const DEFAULT_GRACE_MS = 5000;
export const DEFAULT_MAX_REDIRECTS = 10;

type Values = Record<string, string | boolean | string[] | undefined>;
/** An option as it came, in command-line order (for -d pieces, which join in order). */
type Token = { name: string; value: string | undefined };

function parse(argv: string[]): { values: Values; positionals: string[]; tokens: Token[] } {
  const options: Record<string, { type: 'boolean' | 'string'; short?: string; multiple?: boolean }> = {};
  const canonical = new Map<string, string>();
  for (const flag of FLAGS) {
    const spec = { type: flag.type, multiple: flag.multiple ?? false };
    options[flag.long] = flag.short ? { ...spec, short: flag.short } : spec;
    canonical.set(flag.long, flag.long);
    for (const alias of flag.aliases ?? []) {
      options[alias] = spec;
      canonical.set(alias, flag.long);
    }
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true, tokens: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  // Aliases land under the flag's own name.
  const values: Values = {};
  for (const [name, value] of Object.entries(parsed.values)) {
    const long = canonical.get(name)!;
    const previous = values[long];
    const given = value as Values[string];
    values[long] = Array.isArray(previous) && Array.isArray(given) ? [...previous, ...given] : given;
  }
  const tokens: Token[] = [];
  for (const t of parsed.tokens ?? []) {
    if (t.kind === 'option') tokens.push({ name: canonical.get(t.name)!, value: t.value });
  }
  return { values, positionals: parsed.positionals, tokens };
}

const str = (v: Values[string]) => (typeof v === 'string' ? v : undefined);
const bool = (v: Values[string]) => v === true;
const list = (v: Values[string]) => (Array.isArray(v) ? v : []);

function readFile(flag: string, path: string): Buffer {
  try {
    return readFileSync(path === '-' ? 0 : path);
  } catch (error) {
    throw new UsageError(`cannot read ${flag} ${path}: ${(error as Error).message}`);
  }
}

function readUrlFile(path: string): string[] {
  return readFile('--file', path)
    .toString('utf8')
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
  return [name, checkValue(`--header ${name}`, value)];
}

function checkValue(flag: string, value: string): string {
  if (/[\r\n\0]/.test(value)) throw new UsageError(`${flag}: the value holds CR, LF or NUL`);
  return value;
}

/** -d, --data-binary and --data-raw, joined with & in command-line order, as curl does. */
function dataBody(tokens: Token[]): BodySpec | null {
  const pieces: Buffer[] = [];
  for (const { name, value } of tokens) {
    if (value === undefined) continue;
    if (name === 'data-raw' || !value.startsWith('@')) {
      if (name === 'data' || name === 'data-binary' || name === 'data-raw') pieces.push(Buffer.from(value));
      continue;
    }
    if (name !== 'data' && name !== 'data-binary') continue;
    const bytes = readFile(`--${name}`, value.slice(1));
    // -d @file drops carriage returns and newlines (curl's --data); --data-binary keeps them.
    pieces.push(
      name === 'data' ? Buffer.from(bytes.toString('latin1').replace(/[\r\n]/g, ''), 'latin1') : bytes,
    );
  }
  if (pieces.length === 0) return null;
  const joined: Buffer[] = [];
  pieces.forEach((p, i) => {
    if (i > 0) joined.push(Buffer.from('&'));
    joined.push(p);
  });
  return { kind: 'data', bytes: Buffer.concat(joined) };
}

function uploadBody(path: string): BodySpec {
  let size: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new Error('not a regular file');
    size = stat.size;
  } catch (error) {
    throw new UsageError(`cannot read --upload-file ${path}: ${(error as Error).message}`);
  }
  return { kind: 'upload', path, size };
}

/** `host:port:address[,address]`, as curl's --resolve and libcurl's RESOLVE take it. */
function checkResolve(entry: string): string {
  if (!/^\[?[^:\s\]]+\]?:\d{1,5}:\S+$/.test(entry)) {
    throw new UsageError(`--resolve must look like HOST:PORT:ADDRESS, got '${entry}'`);
  }
  return entry;
}

function pem(flag: string, path: string | undefined): Buffer | null {
  if (path === undefined) return null;
  const bytes = readFile(flag, path);
  if (!bytes.includes('-----BEGIN')) throw new UsageError(`${flag} ${path} is not a PEM file`);
  return bytes;
}

/** Flags that shape a run of the command line's own URLs, which `hiper worker` has not: its
 * jobs come from the queue, each saved to the file it names. */
const NOT_FOR_WORKERS = ['requests', 'duration', 'rate', 'warmup', 'output', 'remote-name', 'json', 'file'];

/**
 * `worker`: the request flags of `hiper worker`, which takes no URL (they come from the queue):
 * no demo, and --output-dir, --create-dirs, --skip-existing and -C - apply to the files the
 * jobs name.
 */
export function parseCommandLine(argv: string[], { worker = false } = {}): Config {
  const { values: v, positionals, tokens } = parse(argv);
  if (worker) {
    if (positionals.length > 0) {
      throw new UsageError(
        `hiper worker takes its URLs from the queue, not the command line: '${positionals[0]}'`,
      );
    }
    for (const flag of NOT_FOR_WORKERS) {
      if (v[flag] !== undefined) throw new UsageError(`--${flag} is not a flag of hiper worker`);
    }
  }
  const help = bool(v.help);
  const version = bool(v.version);

  const adapter = str(v.adapter) ?? defaultAdapter();
  if (!ADAPTERS.includes(adapter as AdapterName)) {
    throw new UsageError(`--adapter must be one of ${ADAPTERS.join(', ')}, got '${adapter}'`);
  }
  const file = str(v.file);
  const urls = [...positionals, ...(file === undefined ? [] : readUrlFile(file))].map(checkUrl);
  if (file !== undefined && urls.length === 0) throw new UsageError(`--file ${file} holds no URL`);
  const demo = urls.length === 0 && !worker;

  const durationMs = str(v.duration) === undefined ? null : parseDuration('--duration', str(v.duration)!);
  const rate = str(v.rate) === undefined ? null : parseRate('--rate', str(v.rate)!);
  const warmupMs = str(v.warmup) === undefined ? 0 : parseDuration('--warmup', str(v.warmup)!);
  const graceMs =
    str(v.grace) === undefined
      ? DEFAULT_GRACE_MS
      : parseDuration('--grace', str(v.grace)!, { allowZero: true });
  const requestsGiven = str(v.requests) === undefined ? null : parseCount('--requests', str(v.requests)!);
  const requests = requestsGiven ?? (durationMs !== null ? null : demo ? DEMO_REQUESTS : urls.length);
  const concurrency =
    str(v.concurrency) === undefined
      ? rate === null
        ? DEFAULT_CONCURRENCY
        : DEFAULT_RATE_CAP
      : parseCount('--concurrency', str(v.concurrency)!);

  if (bool(v.http2) && bool(v['http1.1']))
    throw new UsageError('--http1.1 and --http2 contradict each other');
  if (demo && bool(v.http2)) {
    throw new UsageError('--http2 needs URLs of an HTTP/2 server: the embedded demo server speaks HTTP/1.1');
  }
  if (bool(v.compressed) && bool(v['no-compressed'])) {
    throw new UsageError('--compressed and --no-compressed contradict each other');
  }
  if (bool(v.location) && bool(v['no-location'])) {
    throw new UsageError('--location and --no-location contradict each other');
  }

  // Saving bodies.
  const continueAt = str(v['continue-at']);
  if (continueAt !== undefined && continueAt !== '-') {
    throw new UsageError(
      `--continue-at takes '-' (resume from what is already on disk), got '${continueAt}'`,
    );
  }
  const outputDir = str(v['output-dir']) ?? null;
  const outputs = worker
    ? []
    : outputPaths({
        urls,
        outputs: list(v.output),
        remoteName: bool(v['remote-name']),
        outputDir,
      });
  const saving = outputs.some((o) => o !== null);
  // (hiper worker: whether a job saves its body is the job's to say.)
  if (!worker && saving) {
    if (durationMs !== null || rate !== null || (requests !== null && requests > urls.length)) {
      throw new UsageError(
        '-o/-O save each URL once: they do not go with --duration, --rate or a --requests above the number of URLs',
      );
    }
  } else if (!worker) {
    for (const flag of ['create-dirs', 'skip-existing'] as const) {
      if (bool(v[flag])) throw new UsageError(`--${flag} needs -o or -O`);
    }
    if (continueAt !== undefined) throw new UsageError('--continue-at needs -o or -O');
  }

  // The request.
  const method = str(v.request);
  if (method !== undefined && !TOKEN.test(method)) {
    throw new UsageError(`--request must be a method such as GET, got '${method}'`);
  }
  const upload = str(v['upload-file']);
  const data = dataBody(tokens);
  if (upload !== undefined && data !== null) {
    throw new UsageError('--upload-file and -d/--data-binary both give a body: use one');
  }
  const body = upload !== undefined ? uploadBody(upload) : data;
  const headers: Array<[string, string]> = [];
  const user = str(v.user);
  if (user !== undefined) {
    if (!user.includes(':')) throw new UsageError(`--user must be USER:PASSWORD, got '${user}'`);
    headers.push(['Authorization', `Basic ${Buffer.from(user).toString('base64')}`]);
  }
  if (str(v['user-agent']) !== undefined)
    headers.push(['User-Agent', checkValue('--user-agent', str(v['user-agent'])!)]);
  if (str(v.referer) !== undefined) headers.push(['Referer', checkValue('--referer', str(v.referer)!)]);
  const cookie = str(v.cookie);
  let cookieFile: string | null = null;
  if (cookie !== undefined) {
    // curl's rule: with an = it is the cookie data itself, without one it is a file name.
    if (cookie.includes('=')) headers.push(['Cookie', checkValue('--cookie', cookie)]);
    else {
      readFile('--cookie', cookie);
      cookieFile = cookie;
    }
  }
  // curl's type for every -d flavour; -H 'Content-Type: ...' replaces it.
  if (body?.kind === 'data') headers.push(['Content-Type', 'application/x-www-form-urlencoded']);
  // -H comes last: it replaces what -A, -e, -u, -b or -d put there.
  const given = list(v.header).map(parseHeader);
  const givenNames = new Set(given.map(([n]) => n.toLowerCase()));
  const merged = [...headers.filter(([n]) => !givenNames.has(n.toLowerCase())), ...given];

  const cert = pem('--cert', str(v.cert));
  const key = pem('--key', str(v.key));
  if (key !== null && cert === null) throw new UsageError('--key needs --cert');
  const connectTimeout = str(v['connect-timeout']);
  const maxTime = str(v['max-time']);
  const timeout = str(v.timeout);
  if (maxTime !== undefined && timeout !== undefined) {
    throw new UsageError('--max-time and --timeout both set the request timeout: use one');
  }
  const retryDelay = str(v['retry-delay']);
  const retryMaxTime = str(v['retry-max-time']);
  const writeOutRaw = str(v['write-out']);
  const writeOut =
    writeOutRaw === undefined
      ? null
      : parseWriteOut(
          writeOutRaw.startsWith('@')
            ? readFile('--write-out', writeOutRaw.slice(1)).toString('utf8')
            : writeOutRaw,
        );
  const proxy = str(v.proxy);
  if (proxy !== undefined) checkValue('--proxy', proxy);

  return {
    urls,
    demo,
    adapter: adapter as AdapterName,
    concurrency,
    requests,
    durationMs,
    rate,
    warmupMs,
    graceMs,
    outputs,
    outputDir,
    createDirs: bool(v['create-dirs']),
    skipExisting: bool(v['skip-existing']),
    resume: continueAt === '-',
    method: method?.toUpperCase() ?? null,
    headers: merged,
    body,
    cookieFile,
    compressed: !bool(v['no-compressed']),
    followRedirects: !bool(v['no-location']),
    maxRedirects:
      str(v['max-redirs']) === undefined
        ? DEFAULT_MAX_REDIRECTS
        : parseCount('--max-redirs', str(v['max-redirs'])!, 0),
    proxy: proxy ?? null,
    resolve: list(v.resolve).map(checkResolve),
    connectTimeoutMs: connectTimeout === undefined ? null : parseSeconds('--connect-timeout', connectTimeout),
    timeoutMs:
      maxTime !== undefined
        ? parseSeconds('--max-time', maxTime)
        : timeout !== undefined
          ? parseCount('--timeout', timeout)
          : null,
    limitRate: str(v['limit-rate']) === undefined ? null : parseSpeed('--limit-rate', str(v['limit-rate'])!),
    http2: bool(v.http2),
    noKeepalive: bool(v['no-keepalive']),
    perHost:
      str(v['parallel-max-host']) === undefined
        ? null
        : parseCount('--parallel-max-host', str(v['parallel-max-host'])!),
    ca: pem('--cacert', str(v.cacert)),
    cert,
    key,
    insecure: bool(v.insecure),
    fail: bool(v.fail),
    retries: str(v.retry) === undefined ? 0 : parseCount('--retry', str(v.retry)!, 0),
    retryDelayMs:
      retryDelay === undefined ? null : parseSeconds('--retry-delay', retryDelay, { allowZero: true }),
    retryMaxTimeMs: retryMaxTime === undefined ? null : parseSeconds('--retry-max-time', retryMaxTime),
    resultsPath: str(v.results) ?? null,
    writeOut,
    json: bool(v.json),
    verbose: bool(v.verbose),
    quiet: bool(v.quiet) || bool(v.silent),
    silent: bool(v.silent),
    help,
    version,
  };
}
