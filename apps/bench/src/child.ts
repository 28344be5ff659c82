// A client child process: runs one RunSpec with one client and prints one JSON line, either a
// RunResult or { unavailable: reason } when the client cannot be loaded on this machine.
//
//   node --expose-gc dist/child.js '<RunSpec as JSON>'
import type { LoopAdapter } from '@multisock/core';
import { dispatcherClient } from './clients/dispatchers.js';
import type { Driver } from './clients/driver.js';
import { fromRequester } from './clients/driver.js';
import { fetchClient } from './clients/fetch.js';
import { multisockClient } from './clients/multisock-client.js';
import { nodeHttpClient } from './clients/node-http.js';
import { type Reactor, rawNested, rawReactor } from './clients/raw.js';
import { load, Unavailable } from './clients/unavailable.js';
import { undiciClient } from './clients/undici.js';
import { HeldSampler, Recorder } from './recorder.js';
import type { RunResult, RunSpec } from './types.js';

async function makeDriver(spec: RunSpec): Promise<Driver> {
  switch (spec.client) {
    case 'raw-libuv': {
      const { libuv } = await load<{ libuv: LoopAdapter }>('@multisock/adapter-libuv');
      return fromRequester(spec, rawNested(spec, libuv));
    }
    case 'raw-epoll': {
      const { epoll } = await load<{ epoll: LoopAdapter }>('@multisock/adapter-epoll');
      return fromRequester(spec, rawNested(spec, epoll));
    }
    case 'raw-reactor': {
      const { EpollReactor } = await load<{ EpollReactor: new () => Reactor }>('@multisock/adapter-epoll');
      return rawReactor(spec, new EpollReactor());
    }
    case 'raw-kqueue': {
      if (!['darwin', 'freebsd', 'openbsd', 'netbsd'].includes(process.platform)) {
        throw new Unavailable(`kqueue does not exist on ${process.platform}`);
      }
      const { kqueue } = await load<{ kqueue: LoopAdapter }>('@multisock/adapter-kqueue');
      return fromRequester(spec, rawNested(spec, kqueue));
    }
    case 'client':
      return fromRequester(spec, multisockClient(spec));
    case 'undici':
      return fromRequester(spec, undiciClient(spec));
    case 'node-http':
      return fromRequester(spec, nodeHttpClient(spec));
    case 'fetch':
      if (spec.h2) throw new Unavailable("Node's fetch does not speak HTTP/2");
      return fromRequester(spec, fetchClient(spec));
    case 'undici-agent':
      return fromRequester(spec, await dispatcherClient(spec, 'request', 'agent'));
    case 'undici-curl':
      return fromRequester(spec, await dispatcherClient(spec, 'request', 'curl'));
    case 'fetch-agent':
      return fromRequester(spec, await dispatcherClient(spec, 'fetch', 'agent'));
    case 'fetch-curl':
      return fromRequester(spec, await dispatcherClient(spec, 'fetch', 'curl'));
    default:
      throw new Unavailable(`${spec.client} is not a TypeScript client`);
  }
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as RunSpec;
  let driver: Driver;
  try {
    driver = await makeDriver(spec);
  } catch (error) {
    if (!(error instanceof Unavailable)) throw error;
    process.stdout.write(`${JSON.stringify({ unavailable: error.message })}\n`);
    return;
  }
  let result: RunResult;
  if (spec.mode === 'throughput') {
    // Two rounds of every transfer in flight at least (multi-epoll.c does the same).
    const recorder = new Recorder(spec.durationMs, spec.cpuEvery, 2 * spec.inflight);
    await driver.throughput(recorder);
    result = recorder.result();
  } else {
    if (spec.warmupUrl !== null) await driver.warmup(spec.warmupUrl);
    const sampler = new HeldSampler();
    const errors = await driver.held(sampler);
    result = sampler.result(spec.inflight, errors);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await driver.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench client: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
