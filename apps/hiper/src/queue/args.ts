// The command lines of `hiper worker`, `hiper enqueue` and `hiper results`. Every refusal is a
// UsageError naming what was wrong (exit 2, as for hiper's other flags).
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { parseCount, parseDuration } from '../args/units.js';
import { UsageError } from '../args/usage-error.js';
import { checkJob, type QueueJob } from './job.js';
import { parseQueueUrl, type Queue } from './queue-url.js';

export const QUEUE_COMMANDS = ['worker', 'enqueue', 'results'] as const;
export type QueueCommand = (typeof QUEUE_COMMANDS)[number];

export const DEFAULT_GROUP = 'hiper';
export const DEFAULT_CLAIM_IDLE_MS = 60_000;
export const DEFAULT_MAX_ATTEMPTS = 3;

export const QUEUE_USAGE = [
  'usage: hiper worker  --queue redis://HOST:PORT/STREAM [--group G] [--consumer NAME]',
  '                     [--claim-idle TIME] [--max-attempts N] [-c N] [request flags of hiper --help]',
  '       hiper enqueue --queue redis://HOST:PORT/STREAM [URL ... | -f FILE] [-X M] [-H H] [-d DATA] [-o FILE]',
  '       hiper results --queue redis://HOST:PORT/STREAM [--follow] [--dead]',
  '',
  'Many hiper processes on many machines share the jobs of one Redis stream (a consumer group).',
  '',
  '  --queue URL          redis://[USER:PASSWORD@]HOST[:PORT]/STREAM[?db=N] (rediss:// for TLS);',
  '                       results go to STREAM:results, failed jobs to STREAM:dead',
  '  --group G            the consumer group the workers share (default hiper)',
  '  --consumer NAME      this worker in the group (default HOSTNAME-PID)',
  '  --claim-idle TIME    take over jobs pending this long: their worker is presumed dead (default 60s)',
  '  --max-attempts N     tries of a failing job before it goes to STREAM:dead (default 3)',
  '  -f, --file FILE      enqueue: one URL per line, or one JSON job per line:',
  '                       {"url", "id", "method", "headers", "body", "output"} (only url is needed)',
  '  --follow             results: keep printing results as they come (until Ctrl-C)',
  '  --dead               results: print the dead-letter stream instead',
  '',
  'A worker runs until SIGINT or SIGTERM: it reads no more jobs, lets those in flight finish for',
  '--grace, and leaves the rest pending for the other workers.',
].join('\n');

export interface WorkerArgs {
  queue: Queue;
  group: string;
  consumer: string;
  claimIdleMs: number;
  maxAttempts: number;
  /** The request flags, for parseCommandLine. */
  rest: string[];
}

const WORKER_FLAGS = new Set(['queue', 'group', 'consumer', 'claim-idle', 'max-attempts']);

function queueOf(command: QueueCommand, raw: string | undefined): Queue {
  if (raw === undefined) throw new UsageError(`hiper ${command} needs --queue redis://HOST:PORT/STREAM`);
  return parseQueueUrl(raw);
}

function name(flag: string, raw: string | undefined, fallback: string): string {
  if (raw === undefined) return fallback;
  if (raw === '' || /\s/.test(raw))
    throw new UsageError(`${flag} must be a name without spaces, got '${raw}'`);
  return raw;
}

/** `hiper worker`'s own flags, taken out of `argv`; the rest are hiper's request flags. */
export function parseWorkerArgs(argv: string[]): WorkerArgs {
  const own: Record<string, string> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    if (m === null || !WORKER_FLAGS.has(m[1]!)) {
      rest.push(arg);
      continue;
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new UsageError(`--${m[1]} needs a value`);
    own[m[1]!] = value;
  }
  return {
    queue: queueOf('worker', own.queue),
    group: name('--group', own.group, DEFAULT_GROUP),
    consumer: name('--consumer', own.consumer, `${hostname()}-${process.pid}`),
    claimIdleMs:
      own['claim-idle'] === undefined
        ? DEFAULT_CLAIM_IDLE_MS
        : parseDuration('--claim-idle', own['claim-idle']),
    maxAttempts:
      own['max-attempts'] === undefined
        ? DEFAULT_MAX_ATTEMPTS
        : parseCount('--max-attempts', own['max-attempts']),
    rest,
  };
}

type Options = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;
type Values = Record<string, string | boolean | string[] | undefined>;

function strictParse(argv: string[], options: Options): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: values as Values, positionals };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export interface EnqueueArgs {
  queue: Queue;
  jobs: QueueJob[];
}

/** One line of `-f FILE`: a URL, or a JSON job. Blank lines and # comments are skipped. */
function jobsOfFile(path: string): Array<Record<string, unknown>> {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read --file ${path}: ${(error as Error).message}`);
  }
  const jobs: Array<Record<string, unknown>> = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (!line.startsWith('{')) {
      jobs.push({ url: line, line: i + 1 });
      return;
    }
    let job: unknown;
    try {
      job = JSON.parse(line);
    } catch (error) {
      throw new UsageError(`--file ${path}:${i + 1}: not JSON: ${(error as Error).message}`);
    }
    if (job === null || typeof job !== 'object' || Array.isArray(job)) {
      throw new UsageError(`--file ${path}:${i + 1}: a job is a JSON object`);
    }
    jobs.push({ ...job, line: i + 1 });
  });
  if (jobs.length === 0) throw new UsageError(`--file ${path} holds no job`);
  return jobs;
}

/** Null for --help. */
export function parseEnqueueArgs(argv: string[]): EnqueueArgs | null {
  const { values: v, positionals } = strictParse(argv, {
    queue: { type: 'string' },
    file: { type: 'string', short: 'f' },
    request: { type: 'string', short: 'X' },
    header: { type: 'string', short: 'H', multiple: true },
    data: { type: 'string', short: 'd' },
    'data-raw': { type: 'string' },
    output: { type: 'string', short: 'o', multiple: true },
    help: { type: 'boolean', short: 'h' },
  });
  if (v.help) return null;
  const queue = queueOf('enqueue', v.queue as string | undefined);
  const file = v.file as string | undefined;
  const given: Array<Record<string, unknown>> = [
    ...positionals.map((url) => ({ url })),
    ...(file === undefined ? [] : jobsOfFile(file)),
  ];
  if (given.length === 0) throw new UsageError('hiper enqueue needs URLs or -f FILE');
  const outputs = (v.output as string[] | undefined) ?? [];
  if (outputs.length > given.length) {
    throw new UsageError(
      `--output: ${outputs.length} files for ${given.length} jobs (each -o goes with one, in order)`,
    );
  }
  const common: Record<string, unknown> = {};
  if (v.request !== undefined) common.method = v.request;
  if (v.header !== undefined) common.headers = v.header;
  const body = (v['data-raw'] ?? v.data) as string | undefined;
  if (body !== undefined) common.body = body;
  const jobs = given.map(({ line, ...job }, i) => {
    try {
      return checkJob({ ...common, ...job, ...(outputs[i] === undefined ? {} : { output: outputs[i] }) });
    } catch (error) {
      const where = line === undefined ? `'${String(job.url)}'` : `--file ${file}:${line}`;
      throw new UsageError(`${where}: ${(error as Error).message}`);
    }
  });
  return { queue, jobs };
}

export interface ResultsArgs {
  queue: Queue;
  follow: boolean;
  dead: boolean;
}

/** Null for --help. */
export function parseResultsArgs(argv: string[]): ResultsArgs | null {
  const { values: v, positionals } = strictParse(argv, {
    queue: { type: 'string' },
    follow: { type: 'boolean' },
    dead: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (v.help) return null;
  if (positionals.length > 0) throw new UsageError(`hiper results takes no URL, got '${positionals[0]}'`);
  return {
    queue: queueOf('results', v.queue as string | undefined),
    follow: v.follow === true,
    dead: v.dead === true,
  };
}
