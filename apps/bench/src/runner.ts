// Runs one cell once: one client against one scenario, in its own child process on the client
// core, and returns what it measured.
import { fileURLToPath } from 'node:url';
import type { AnyResult } from './aggregate.js';
import { CLIENT_CORE, collect, lastJson, spawnPinned } from './process.js';
import { BODY_BYTES, HELD_BATCH, HELD_BATCH_INTERVAL_MS } from './routes.js';
import type { Scenario } from './scenarios.js';
import type { ServerPorts } from './server.js';
import type { ClientId, RunResult, RunSpec, ThroughputResult } from './types.js';

export interface RunContext {
  ports: ServerPorts;
  caPath: string | null;
  cProgram: string | null;
  durationMs: number;
  heldCount: number;
  /** HTTP/2 over TLS instead of h2c (libcurl 7.88 cannot reuse an h2c connection). */
  h2OverTls: boolean;
}

export type Outcome =
  | { kind: 'result'; result: AnyResult }
  | { kind: 'unavailable'; reason: string }
  | { kind: 'failed'; reason: string };

const CHILD_SCRIPT = fileURLToPath(new URL('./child.js', import.meta.url));

export function urlFor(scenario: Scenario, ctx: RunContext, route = scenario.route): string {
  const { ports } = ctx;
  switch (scenario.protocol) {
    case 'https':
      if (ports.https === null) throw new Error('the bench server has no TLS port');
      return `https://127.0.0.1:${ports.https}${route}`;
    case 'h2':
      if (!ctx.h2OverTls) return `http://127.0.0.1:${ports.h2c}${route}`;
      if (ports.h2tls === null) throw new Error('the bench server has no h2 TLS port');
      return `https://127.0.0.1:${ports.h2tls}${route}`;
    default:
      return `http://127.0.0.1:${ports.http}${route}`;
  }
}

export function specFor(scenario: Scenario, client: ClientId, ctx: RunContext): RunSpec {
  const held = scenario.kind === 'held';
  const url = urlFor(scenario, ctx);
  return {
    client,
    mode: held ? 'held' : 'throughput',
    url,
    inflight: held ? ctx.heldCount : scenario.inflight,
    durationMs: ctx.durationMs,
    expectBytes: BODY_BYTES[scenario.route] ?? -1,
    cpuEvery: scenario.cpuEvery,
    h2: scenario.protocol === 'h2',
    caPath: url.startsWith('https:') ? ctx.caPath : null,
    warmupUrl: held ? `http://127.0.0.1:${ctx.ports.http}/12b` : null,
  };
}

function timeoutFor(spec: RunSpec): number {
  return spec.mode === 'held' ? 90_000 : spec.durationMs + 30_000;
}

export async function runCell(scenario: Scenario, client: ClientId, ctx: RunContext): Promise<Outcome> {
  const spec = specFor(scenario, client, ctx);
  if (client === 'wrk') return runWrk(spec);
  if (client === 'c') return runC(spec, ctx.cProgram);
  const env = { ...process.env };
  if (ctx.caPath !== null) env.NODE_EXTRA_CA_CERTS = ctx.caPath;
  const child = spawnPinned(
    CLIENT_CORE,
    process.execPath,
    ['--expose-gc', CHILD_SCRIPT, JSON.stringify(spec)],
    {
      env,
    },
  );
  return outcomeOf(await collect(child, timeoutFor(spec)), client);
}

function outcomeOf(
  finished: { code: number | null; stdout: string; stderr: string; timedOut: boolean },
  client: ClientId,
): Outcome {
  const json = lastJson(finished.stdout);
  if (json && typeof json.unavailable === 'string') return { kind: 'unavailable', reason: json.unavailable };
  if (finished.timedOut) return { kind: 'failed', reason: `${client} timed out` };
  if (finished.code !== 0 || json === null) {
    const detail = finished.stderr.trim().split('\n').slice(-3).join(' | ');
    return { kind: 'failed', reason: `${client} exited with ${finished.code}: ${detail}` };
  }
  return { kind: 'result', result: json as unknown as RunResult };
}

async function runC(spec: RunSpec, program: string | null): Promise<Outcome> {
  if (program === null) return { kind: 'unavailable', reason: 'the C program did not compile' };
  const args = [
    '--url',
    spec.url,
    '--inflight',
    String(spec.inflight),
    '--duration-ms',
    String(spec.durationMs),
    '--expect-bytes',
    String(spec.expectBytes),
    '--cpu-every',
    String(spec.cpuEvery),
  ];
  if (spec.h2) args.push('--h2');
  if (spec.caPath !== null) args.push('--cainfo', spec.caPath);
  if (spec.mode === 'held') {
    args.push('--held', '--batch', String(HELD_BATCH), '--batch-interval-ms', String(HELD_BATCH_INTERVAL_MS));
  }
  if (spec.warmupUrl !== null) args.push('--warmup-url', spec.warmupUrl);
  const child = spawnPinned(CLIENT_CORE, program, args);
  return outcomeOf(await collect(child, timeoutFor(spec)), 'c');
}

/** wrk: one thread, as many connections as transfers in flight, whole seconds only. */
async function runWrk(spec: RunSpec): Promise<Outcome> {
  if (spec.mode !== 'throughput' || spec.h2)
    return { kind: 'unavailable', reason: 'wrk speaks HTTP/1.1 only' };
  const seconds = Math.max(1, Math.round(spec.durationMs / 1000));
  const child = spawnPinned(CLIENT_CORE, 'wrk', ['-t1', `-c${spec.inflight}`, `-d${seconds}s`, spec.url]);
  const finished = await collect(child, seconds * 1000 + 30_000);
  if (finished.code === null && !finished.timedOut)
    return { kind: 'unavailable', reason: 'wrk is not installed' };
  if (finished.code !== 0) {
    const missing = /not found|No such file/.test(finished.stderr);
    return missing
      ? { kind: 'unavailable', reason: 'wrk is not installed' }
      : { kind: 'failed', reason: `wrk exited with ${finished.code}: ${finished.stderr.trim()}` };
  }
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(finished.stdout);
  const total = /(\d+) requests in ([\d.]+)(m?s)/.exec(finished.stdout);
  if (!rps || !total) return { kind: 'failed', reason: `wrk printed no rate: ${finished.stdout}` };
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(finished.stdout);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
    finished.stdout,
  );
  const errors =
    Number(non2xx?.[1] ?? 0) + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  const seconds_ = Number(total[2]) / (total[3] === 'ms' ? 1000 : 1);
  const result: ThroughputResult = {
    mode: 'throughput',
    completed: Number(total[1]),
    measured: Number(total[1]),
    seconds: seconds_,
    reqPerSec: Number(rps[1]),
    cpuUsPerReq: -1,
    errors,
    maxRssKiB: -1,
  };
  return { kind: 'result', result };
}
