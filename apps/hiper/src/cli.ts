#!/usr/bin/env node
// hiper: many concurrent transfers through @multisock/core's Client: saved bodies, retries,
// per-request results, load modes with correct percentiles, a summary. `hiper --help`.
import { readFileSync } from 'node:fs';
import { type Client, type LoopAdapter, libcurl } from '@multisock/core';
import { loadAdapter } from './adapters.js';
import { parseCommandLine } from './args/parse.js';
import { USAGE } from './args/usage.js';
import { UsageError } from './args/usage-error.js';
import { openRun } from './client-options.js';
import type { Config } from './config.js';
import { type DemoServerThread, startDemoServerThread } from './demo-server-thread.js';
import { EXIT } from './exit.js';
import type { ResultsFile } from './output/results.js';
import { outcomeSink } from './output/sink.js';
import type { QueueCommand } from './queue/args.js';
import { Progress } from './report/progress.js';
import { formatSummary } from './report/summary-table.js';
import { runClosed } from './run/closed.js';
import { demoPlan, jobsFor, type Plan, urlPlan } from './run/jobs.js';
import { runOpen } from './run/open.js';
import { Run } from './run/run.js';
import { Stop } from './run/stop.js';
import { Stats } from './stats/stats.js';
import type { Summary } from './stats/summary.js';
import type { FetchContext } from './transfer/context.js';
import { TempFiles } from './transfer/temp-files.js';

// Saving bodies: creating a file costs more than a small transfer, and the disk work runs on
// libuv's thread pool; 4 threads (its default) leave the disk idle while transfers wait. Read
// when the pool first starts, which is after this line (nothing above queues work to it).
process.env.UV_THREADPOOL_SIZE ??= '16';

/** `hiper worker`, `hiper enqueue`, `hiper results` (src/queue/). */
const QUEUE_COMMANDS: readonly string[] = ['worker', 'enqueue', 'results'] satisfies QueueCommand[];

function usage(error: unknown): number {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`hiper: ${message}\n\n${USAGE}\n`);
  return EXIT.USAGE;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return `hiper ${pkg.version} (libcurl ${libcurl.version}${libcurl.ssl ? `, ${libcurl.ssl}` : ''}${libcurl.nghttp2 ? `, nghttp2 ${libcurl.nghttp2}` : ''})`;
}

async function main(argv: string[]): Promise<number> {
  // The queue commands (and their Redis client) load only when asked for.
  if (QUEUE_COMMANDS.includes(argv[0] as QueueCommand)) {
    const { runQueueCommand } = await import('./queue/commands.js');
    return runQueueCommand(argv[0] as QueueCommand, argv.slice(1));
  }
  let config: Config;
  let loop: LoopAdapter;
  let results: ResultsFile | null;
  try {
    config = parseCommandLine(argv);
    if (config.help) {
      process.stdout.write(`${USAGE}\n`);
      return EXIT.OK;
    }
    if (config.version) {
      process.stdout.write(`${version()}\n`);
      return EXIT.OK;
    }
    loop = await loadAdapter(config.adapter);
  } catch (error) {
    if (error instanceof UsageError) return usage(error);
    throw error;
  }

  let client: Client;
  try {
    ({ client, results } = await openRun(config, loop));
  } catch (error) {
    if (error instanceof UsageError) return usage(error);
    throw error;
  }

  const temp = new TempFiles();
  // Whatever ends the process, no temporary file stays behind.
  const onExit = () => temp.removeAll();
  process.on('exit', onExit);
  let server: DemoServerThread | null = null;
  try {
    server = config.demo ? await startDemoServerThread() : null;
    let plan: Plan;
    let urls: number;
    if (server) {
      plan = demoPlan(server.url).plan;
      urls = 2;
    } else {
      plan = urlPlan(jobsFor(config));
      urls = config.urls.length;
    }
    const summary = await execute(config, client, plan, urls, temp, results);
    if (server) summary.server = await server.close();
    await results?.close();
    if (!config.silent) {
      const text = config.json
        ? `${JSON.stringify(summary, null, 2)}\n`
        : `${formatSummary(summary, config.resultsPath)}\n`;
      // stdout carries one thing: -w's lines when there are any, else the summary.
      (config.writeOut ? process.stderr : process.stdout).write(text);
    }
    if (summary.stoppedBy === 'SIGINT') return EXIT.SIGINT;
    if (summary.stoppedBy === 'SIGTERM') return EXIT.SIGTERM;
    return summary.failed > 0 ? EXIT.FAILED : EXIT.OK;
  } finally {
    await client.close();
    await server?.close();
    temp.removeAll();
    process.off('exit', onExit);
  }
}

/** Runs the requests and returns the summary (the server's counts not yet in). */
async function execute(
  config: Config,
  client: Client,
  plan: Plan,
  urls: number,
  temp: TempFiles,
  results: ResultsFile | null,
): Promise<Summary> {
  const runStart = performance.now();
  const measuredFrom = runStart + config.warmupMs;
  const endAt = config.durationMs === null ? null : measuredFrom + config.durationMs;
  const stats = new Stats(config.requests, measuredFrom);
  const stop = new Stop(config.graceMs, () => void client.close());
  stop.listen();
  const ctx: FetchContext = {
    client,
    config,
    stop,
    temp,
    runStart,
    keepHeaders: config.writeOut !== null || config.verbose,
  };
  const run = new Run(ctx, plan, stats, measuredFrom, config.requests, endAt, outcomeSink(config, results));
  const progress = config.quiet ? null : new Progress(stats, endAt);
  // libuv counts timers in whole milliseconds of a clock read at the start of the loop turn: one
  // more millisecond keeps the stop from coming before endAt.
  const timer =
    endAt === null
      ? null
      : setTimeout(() => stop.request('duration'), Math.ceil(endAt - performance.now()) + 1);
  progress?.start();
  try {
    if (config.rate !== null) await runOpen(run, config.rate, config.concurrency, runStart);
    else await runClosed(run, config.concurrency);
  } finally {
    stats.finish();
    progress?.stop();
    if (timer) clearTimeout(timer);
    stop.dispose();
    // Every transfer is over here; close() also ends any a stop left behind.
    await client.close();
    temp.removeAll();
  }
  const mode = config.rate !== null ? 'rate' : config.durationMs !== null ? 'duration' : 'count';
  return stats.summary({
    version: 1,
    adapter: client.loop,
    mode,
    urls,
    concurrency: config.concurrency,
    rate: config.rate === null ? null : { target: config.rate, achieved: stats.startRate() },
    connectionsOpened: client.connectionsOpened,
    stoppedBy: stop.signal,
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`hiper: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = EXIT.FAILED;
  },
);
