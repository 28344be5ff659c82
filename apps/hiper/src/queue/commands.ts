// hiper worker, hiper enqueue and hiper results: each returns its exit status.
import type { Client, LoopAdapter } from '@multisock/core';
import type { Redis } from 'ioredis';
import { loadAdapter } from '../adapters.js';
import { parseCommandLine } from '../args/parse.js';
import { UsageError } from '../args/usage-error.js';
import { openRun } from '../client-options.js';
import type { Config } from '../config.js';
import { EXIT } from '../exit.js';
import type { ResultsFile } from '../output/results.js';
import { outcomeSink } from '../output/sink.js';
import { Stop } from '../run/stop.js';
import type { FetchContext } from '../transfer/context.js';
import { TempFiles } from '../transfer/temp-files.js';
import {
  type EnqueueArgs,
  parseEnqueueArgs,
  parseResultsArgs,
  parseWorkerArgs,
  QUEUE_USAGE,
  type QueueCommand,
  type ResultsArgs,
  type WorkerArgs,
} from './args.js';
import { connect } from './connect.js';
import { defineFinish } from './finish.js';
import { fieldsObject, jobFields } from './job.js';
import { Worker, type WorkerCounts } from './worker.js';

const report = (line: string) => void process.stderr.write(`${line}\n`);

function usage(error: unknown): number {
  report(`hiper: ${(error as Error).message}\n\n${QUEUE_USAGE}`);
  return EXIT.USAGE;
}

/** Bad arguments are exit 2 with the usage; a Redis that cannot be reached (or refuses a
 * command) is exit 1 with its message. */
export async function runQueueCommand(command: QueueCommand, argv: string[]): Promise<number> {
  try {
    if (command === 'worker') return await worker(argv);
    if (command === 'enqueue') {
      const args = parseEnqueueArgs(argv);
      return args === null ? help() : await enqueue(args);
    }
    const args = parseResultsArgs(argv);
    return args === null ? help() : await results(args);
  } catch (error) {
    if (error instanceof UsageError) return usage(error);
    report(`hiper ${command}: ${(error as Error).message}`);
    return EXIT.FAILED;
  }
}

function help(): number {
  process.stdout.write(`${QUEUE_USAGE}\n`);
  return EXIT.OK;
}

async function worker(argv: string[]): Promise<number> {
  let args: WorkerArgs;
  let config: Config;
  let loop: LoopAdapter;
  let client: Client;
  let resultsFile: ResultsFile | null;
  try {
    args = parseWorkerArgs(argv);
    config = parseCommandLine(args.rest, { worker: true });
    if (config.help) return help();
    loop = await loadAdapter(config.adapter);
  } catch (error) {
    if (error instanceof UsageError && argv.includes('--help')) return help();
    throw error;
  }
  ({ client, results: resultsFile } = await openRun(config, loop));

  const { queue, consumer } = args;
  const reader = connect(queue, { role: `worker ${consumer} reads`, maxReconnects: null, report });
  const writer = connect(queue, { role: `worker ${consumer} writes`, maxReconnects: null, report });
  defineFinish(writer);
  const temp = new TempFiles();
  const onExit = () => temp.removeAll();
  process.on('exit', onExit);
  let abortedNow = () => {};
  const aborted = new Promise<void>((resolve) => (abortedNow = resolve));
  const stop = new Stop(config.graceMs, () => {
    void client.close();
    abortedNow();
  });
  stop.listen();
  const ctx: FetchContext = {
    client,
    config,
    stop,
    temp,
    runStart: performance.now(),
    keepHeaders: config.writeOut !== null || config.verbose,
  };
  const w = new Worker(args, ctx, reader, writer, outcomeSink(config, resultsFile), report);
  if (!config.quiet) {
    report(
      `hiper worker ${consumer}: jobs from ${queue.display} (group ${args.group}), ${config.concurrency} in flight`,
    );
  }
  try {
    await w.run(aborted);
  } finally {
    stop.dispose();
    await client.close();
    temp.removeAll();
    process.off('exit', onExit);
    reader.disconnect();
    writer.disconnect();
    await resultsFile?.close();
  }
  if (!config.silent) report(`hiper worker ${consumer}: ${countsLine(w.counts)}`);
  // A connection that never got to Redis can hold the loop a while as ioredis tears it down:
  // a stopped worker exits within a second whatever is left (process.exitCode is set by then).
  setTimeout(() => process.exit(), 1000).unref();
  if (stop.signal === 'SIGINT') return EXIT.SIGINT;
  if (stop.signal === 'SIGTERM') return EXIT.SIGTERM;
  return EXIT.OK;
}

const n = (x: number) => x.toLocaleString('en-US');

function countsLine(c: WorkerCounts): string {
  return (
    `${n(c.done)} jobs done (${n(c.ok)} ok, ${n(c.done - c.ok)} failed, ${n(c.dead)} to the dead letters), ` +
    `${n(c.retried)} failed tries put back, ${n(c.claimed)} claimed from other workers, ${n(c.leftPending)} left pending`
  );
}

/** Jobs are added in pipelined batches of this many. */
const ENQUEUE_BATCH = 1000;

async function enqueue({ queue, jobs }: EnqueueArgs): Promise<number> {
  const redis = connect(queue, { role: 'enqueue', maxReconnects: 10, report });
  try {
    for (let i = 0; i < jobs.length; i += ENQUEUE_BATCH) {
      const batch = jobs.slice(i, i + ENQUEUE_BATCH);
      const pipeline = redis.pipeline();
      for (const job of batch) pipeline.xadd(queue.stream, '*', ...jobFields(job));
      for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
      await write(batch.map((j) => `${JSON.stringify({ id: j.id, url: j.url })}\n`).join(''));
    }
  } finally {
    redis.disconnect();
  }
  report(`hiper: ${n(jobs.length)} job${jobs.length === 1 ? '' : 's'} added to ${queue.stream}`);
  return EXIT.OK;
}

/** Writes to stdout, waiting while the pipe is full. */
function write(text: string): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.write(text)) resolve();
    else process.stdout.once('drain', resolve);
  });
}

/** One entry as a JSON line: a result's record, or a dead letter's fields. */
function entryLine(flat: string[]): string {
  const fields = fieldsObject(flat);
  if (fields.record !== undefined) return fields.record;
  const { id, url, attempts, error } = fields;
  return JSON.stringify({
    id,
    url,
    attempts: Number(attempts),
    error: error === undefined ? null : JSON.parse(error),
  });
}

type Entries = Array<[string, string[]]>;
const PAGE = 1000;

async function results({ queue, follow, dead }: ResultsArgs): Promise<number> {
  const stream = dead ? queue.dead : queue.results;
  const redis = connect(queue, { role: 'results', maxReconnects: follow ? null : 10, report });
  let stopped = false;
  const onSignal = () => {
    stopped = true;
    // Ends a blocked XREAD at once.
    redis.disconnect();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let last = '0-0';
  const print = async (entries: Entries) => {
    if (entries.length === 0) return;
    last = entries[entries.length - 1]![0];
    await write(entries.map(([, flat]) => `${entryLine(flat)}\n`).join(''));
  };
  try {
    for (;;) {
      const page = (await redis.xrange(stream, `(${last}`, '+', 'COUNT', PAGE)) as Entries;
      await print(page);
      if (page.length < PAGE) break;
    }
    while (follow && !stopped) {
      const reply = (await followRead(redis, stream, last)) as Array<[string, Entries]> | null;
      await print(reply?.[0]?.[1] ?? []);
    }
  } catch (error) {
    if (!stopped) throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    redis.disconnect();
  }
  return EXIT.OK;
}

function followRead(redis: Redis, stream: string, after: string): Promise<unknown> {
  return redis.call('XREAD', 'COUNT', String(PAGE), 'BLOCK', '5000', 'STREAMS', stream, after);
}
