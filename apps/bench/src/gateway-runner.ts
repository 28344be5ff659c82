// The gateway scenario: @multisock/gateway on the multisock Client and on undici, each in its own
// child on the client core, driven by autocannon on the server core (beside the upstreams).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { GatewayResult } from './aggregate.js';
import { CLIENT_CORE, collect, firstJsonLine, lastJson, SERVER_CORE, spawnPinned } from './process.js';
import type { Outcome } from './runner.js';
import type { ServerPorts } from './server.js';
import type { ClientId } from './types.js';

const GATEWAY_SCRIPT = fileURLToPath(new URL('./gateway-child.js', import.meta.url));
const AUTOCANNON_SCRIPT = fileURLToPath(new URL('./autocannon-child.js', import.meta.url));
const UPSTREAMS = ['users', 'orders', 'stock'];

export interface GatewayRunOptions {
  connections: number;
  warmupS: number;
  durationS: number;
}

/** utime + stime of a process, in µs, from /proc (Linux); NaN elsewhere. */
function cpuOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat(5), counted from the state field (3): indexes 11 and 12.
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
  } catch {
    return Number.NaN;
  }
}

function peakRssKiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  } catch {
    return Number.NaN;
  }
}

export async function runGateway(
  client: ClientId,
  ports: ServerPorts,
  options: GatewayRunOptions,
): Promise<Outcome> {
  if (client !== 'client' && client !== 'undici') {
    return { kind: 'unavailable', reason: 'the gateway runs on the multisock Client or on undici' };
  }
  const upstreams = Object.fromEntries(
    UPSTREAMS.map((name) => [name, `http://127.0.0.1:${ports.http}/json/${name}`]),
  );
  const config = { client: client === 'client' ? 'multisock' : 'undici', upstreams, timeoutMs: 10_000 };
  const gateway = spawnPinned(CLIENT_CORE, process.execPath, [GATEWAY_SCRIPT, JSON.stringify(config)], {
    stdin: 'pipe',
  });
  const stop = () => {
    gateway.stdin?.end();
    setTimeout(() => gateway.kill('SIGKILL'), 3000).unref();
  };
  try {
    const ready = await firstJsonLine(gateway, 'the gateway');
    if (typeof ready.unavailable === 'string') return { kind: 'unavailable', reason: ready.unavailable };
    const pid = gateway.pid ?? -1;
    const url = `http://127.0.0.1:${ready.port}/merge`;
    const cannon = spawnPinned(SERVER_CORE, process.execPath, [
      AUTOCANNON_SCRIPT,
      JSON.stringify({ url, ...options }),
    ]);
    let cpuAtMeasure = Number.NaN;
    cannon.stdout?.setEncoding('utf8').on('data', (s: string) => {
      if (Number.isNaN(cpuAtMeasure) && s.includes('"phase"')) cpuAtMeasure = cpuOf(pid);
    });
    const finished = await collect(cannon, (options.warmupS + options.durationS) * 1000 + 30_000);
    const cpuAtEnd = cpuOf(pid);
    const summary = lastJson(finished.stdout);
    if (finished.code !== 0 || summary === null || typeof summary.requests !== 'number') {
      return { kind: 'failed', reason: `autocannon exited with ${finished.code}: ${finished.stderr.trim()}` };
    }
    const requests = summary.requests as number;
    const result: GatewayResult = {
      mode: 'gateway',
      reqPerSec: requests / (summary.seconds as number),
      latencyP50Ms: summary.latencyP50Ms as number,
      latencyP99Ms: summary.latencyP99Ms as number,
      errors: summary.errors as number,
      cpuUsPerReq: requests > 0 ? (cpuAtEnd - cpuAtMeasure) / requests : Number.NaN,
      maxRssKiB: peakRssKiB(pid),
    };
    return { kind: 'result', result };
  } catch (error) {
    return { kind: 'failed', reason: `gateway: ${error instanceof Error ? error.message : String(error)}` };
  } finally {
    stop();
  }
}
