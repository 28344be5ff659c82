// The 'tool' scenarios: whole programs run as their users run them, on the client core, timed
// from the outside. files-5k: hiper and `curl --parallel` save 5,000 small files (every file is
// checked afterwards); load-12b-64: hiper's load mode, autocannon and wrk at 64 connections.
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLIENT_CORE, collect, lastJson, spawnPinned } from './process.js';
import { BODY_12B, FILE_COUNT, ROUTES } from './routes.js';
import { type Outcome, type RunContext, runCell, urlFor } from './runner.js';
import type { Scenario } from './scenarios.js';
import type { ClientId, ThroughputResult } from './types.js';

const AUTOCANNON_SCRIPT = fileURLToPath(new URL('./autocannon-child.js', import.meta.url));
const HIPER_CLI = join(
  dirname(createRequire(import.meta.url).resolve('@multisock/hiper/package.json')),
  'dist',
  'cli.js',
);
/** Load runs: this long unmeasured first, then the measured time. */
const LOAD_WARMUP_S = 0.5;

export interface ToolContext extends RunContext {
  /** A scratch folder of the bench's own. */
  work: string;
}

function result(completed: number, seconds: number, errors: number): ThroughputResult {
  return {
    mode: 'throughput',
    completed,
    measured: completed,
    seconds,
    reqPerSec: seconds > 0 ? completed / seconds : 0,
    cpuUsPerReq: -1,
    errors,
    maxRssKiB: -1,
  };
}

/** Files in `dir` that are not a whole 12 B body (missing ones included). */
function badFiles(dir: string): number {
  let good = 0;
  for (const name of readdirSync(dir)) if (statSync(join(dir, name)).size === BODY_12B.length) good++;
  return FILE_COUNT - good;
}

async function timed(command: string, args: string[], timeoutMs: number) {
  const start = performance.now();
  const finished = await collect(spawnPinned(CLIENT_CORE, command, args), timeoutMs);
  return { ...finished, seconds: (performance.now() - start) / 1000 };
}

async function files(client: ClientId, ctx: ToolContext, scenario: Scenario): Promise<Outcome> {
  const base = urlFor(scenario, ctx, ROUTES.files);
  const urls = Array.from({ length: FILE_COUNT }, (_, i) => `${base}/f${i}`);
  const out = join(ctx.work, `files-${client}`);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  try {
    let run: Awaited<ReturnType<typeof timed>>;
    if (client === 'curl') {
      const config = join(ctx.work, 'curl-urls.conf');
      writeFileSync(config, urls.map((u) => `url = "${u}"\n`).join(''));
      run = await timed(
        'curl',
        [
          '-s',
          '--parallel',
          '--parallel-max',
          String(scenario.inflight),
          '--remote-name-all',
          '--output-dir',
          out,
          '-K',
          config,
        ],
        120_000,
      );
      if (run.code !== 0 && /not found|No such file/.test(run.stderr)) {
        return { kind: 'unavailable', reason: 'curl is not installed' };
      }
    } else {
      const list = join(ctx.work, 'hiper-urls.txt');
      writeFileSync(list, `${urls.join('\n')}\n`);
      run = await timed(
        process.execPath,
        [HIPER_CLI, '-f', list, '-O', '--output-dir', out, '-c', String(scenario.inflight), '-q', '--json'],
        120_000,
      );
    }
    if (run.code !== 0) {
      return {
        kind: 'failed',
        reason: `${client} exited with ${run.code}: ${run.stderr.trim().slice(-300)}`,
      };
    }
    return { kind: 'result', result: result(FILE_COUNT, run.seconds, badFiles(out)) };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

async function load(client: ClientId, ctx: ToolContext, scenario: Scenario): Promise<Outcome> {
  const url = urlFor(scenario, ctx);
  const seconds = Math.max(1, Math.round(ctx.durationMs / 1000));
  if (client === 'wrk') return runCell(scenario, 'wrk', { ...ctx, durationMs: seconds * 1000 });
  if (client === 'autocannon') {
    const config = { url, connections: scenario.inflight, warmupS: LOAD_WARMUP_S, durationS: seconds };
    const run = await timed(
      process.execPath,
      [AUTOCANNON_SCRIPT, JSON.stringify(config)],
      seconds * 1000 + 30_000,
    );
    const summary = lastJson(run.stdout);
    if (run.code !== 0 || summary === null || typeof summary.requests !== 'number') {
      return {
        kind: 'failed',
        reason: `autocannon exited with ${run.code}: ${run.stderr.trim().slice(-300)}`,
      };
    }
    return {
      kind: 'result',
      result: result(summary.requests, summary.seconds as number, summary.errors as number),
    };
  }
  const run = await timed(
    process.execPath,
    [
      HIPER_CLI,
      url,
      '-z',
      `${seconds}s`,
      '--warmup',
      `${LOAD_WARMUP_S}s`,
      '-c',
      String(scenario.inflight),
      '--json',
      '-q',
    ],
    seconds * 1000 + 30_000,
  );
  let summary: Record<string, unknown> | null = null;
  try {
    summary = JSON.parse(run.stdout) as Record<string, unknown>; // hiper --json: one document
  } catch {}
  if (run.code !== 0 || summary === null) {
    return { kind: 'failed', reason: `hiper exited with ${run.code}: ${run.stderr.trim().slice(-300)}` };
  }
  const statuses = summary.statuses as Record<string, number>;
  const requests = summary.requests as number;
  const errors = (summary.failed as number) + requests - (statuses['200'] ?? 0);
  return {
    kind: 'result',
    result: {
      ...result(requests, (summary.durationMs as number) / 1000, errors),
      reqPerSec: summary.requestsPerSecond as number,
    },
  };
}

export function runTool(scenario: Scenario, client: ClientId, ctx: ToolContext): Promise<Outcome> {
  if (scenario.route === ROUTES.files) return files(client, ctx, scenario);
  return load(client, ctx, scenario);
}
