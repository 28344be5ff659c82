#!/usr/bin/env node
// hiper: many concurrent transfers through @multisock/core's Client, with live progress and a
// summary. `hiper --help` for the options.
import { Client, type RequestOptions } from '@multisock/core';
import { loadAdapter } from './adapters.js';
import { type Config, parseCommandLine, USAGE, UsageError } from './args.js';
import { startDemoServerThread } from './demo-server-thread.js';
import { Progress } from './progress.js';
import { formatSummary } from './report.js';
import { Stats } from './stats.js';
import { type Plan, runWorkload } from './workload.js';

/** In the demo, every LARGE_EVERY-th request fetches the 1 MiB body instead of the small one. */
const LARGE_EVERY = 1000;

async function main(argv: string[]): Promise<number> {
  let config: Config;
  try {
    config = parseCommandLine(argv);
  } catch (error) {
    return usage(error);
  }
  if (config.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let loop: Awaited<ReturnType<typeof loadAdapter>>;
  try {
    loop = await loadAdapter(config.adapter);
  } catch (error) {
    if (error instanceof UsageError) return usage(error);
    throw error;
  }

  let client: Client;
  try {
    client = new Client({
      loop,
      httpVersion: config.http2 ? '2' : '1.1',
      headers: config.headers,
      ...(config.timeout === undefined ? {} : { timeout: config.timeout }),
      rejectUnauthorized: !config.insecure,
      // Every connection of a run stays reusable.
      maxIdleConnections: Math.max(256, config.concurrency),
      // hiper measures each request's latency itself.
      timings: false,
    });
  } catch (error) {
    // The Client refuses options no request could be sent with (a Transfer-Encoding or
    // Content-Length header...): they came from the command line.
    if (error instanceof TypeError || error instanceof RangeError) return usage(error);
    throw error;
  }

  let server: Awaited<ReturnType<typeof startDemoServerThread>> | null = null;
  try {
    server = config.demo ? await startDemoServerThread() : null;
    const plan = server ? demoPlan(server.url) : urlPlan(config);
    const stats = new Stats(config.requests);
    const progress = config.quiet ? null : new Progress(stats);
    let stopping = false;
    const onSigint = () => {
      // First Ctrl-C: finish with what is done; the second one kills as usual.
      stopping = true;
      process.off('SIGINT', onSigint);
      void client.close();
    };
    process.on('SIGINT', onSigint);
    progress?.start();
    try {
      await runWorkload(client, plan, stats, config.concurrency, () => stopping);
    } finally {
      progress?.stop();
      process.off('SIGINT', onSigint);
      await client.close();
    }
    const summary = stats.summary(
      loop.name,
      server ? 2 : config.urls.length,
      config.concurrency,
      client.connectionsOpened,
    );
    if (server) summary.server = await server.close();
    process.stdout.write(
      config.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary)}\n`,
    );
    return summary.failed > 0 ? 1 : 0;
  } finally {
    await client.close();
    await server?.close();
  }
}

/** The demo: small GETs, and a 1 MiB one every LARGE_EVERY requests. */
function demoPlan(base: string): Plan {
  const small = { url: `${base}/small`, options: undefined };
  const large = { url: `${base}/large`, options: undefined };
  return (n) => (n % LARGE_EVERY === LARGE_EVERY - 1 ? large : small);
}

/** The URLs in turn. HTTP/2 over plain http:// is h2c with prior knowledge. */
function urlPlan(config: Config): Plan {
  const entries = config.urls.map((url) => {
    const options: RequestOptions = {};
    if (config.method !== 'GET') options.method = config.method;
    if (config.http2 && url.startsWith('http:')) options.httpVersion = 'h2c';
    return { url, options: Object.keys(options).length > 0 ? options : undefined };
  });
  return (n) => entries[n % entries.length]!;
}

function usage(error: unknown): number {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`hiper: ${message}\n\n${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`hiper: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
