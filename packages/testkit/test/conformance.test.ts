import { existsSync } from 'node:fs';
import type { LoopAdapter } from '@multisock/core';
import { describe, it } from 'vitest';
import { describeAdapterConformance, driveReactor, type Reactor, referenceAdapter } from '../src/index.js';

// Each adapter runs once its package is built; one that is not gets a visible skipped test
// saying so, never a stand-in. The specifiers are variables so this file type-checks before
// every adapter has been built.
function built(pkg: string): boolean {
  return existsSync(new URL(`../node_modules/${pkg}/dist/index.js`, import.meta.url));
}
async function load<T>(pkg: string): Promise<T | null> {
  return built(pkg) ? ((await import(pkg)) as T) : null;
}
function notBuilt(name: string, pkg: string): void {
  describe(`conformance: ${name}`, () => {
    it.skip(`${name}: ${pkg} is not built (no dist/index.js)`, () => {});
  });
}

// The reference adapter in plain TypeScript (src/reference-adapter.ts): the model a new loop
// copies, on the seed's JS-callback contract.
describeAdapterConformance('reference', () => referenceAdapter);

const uv = await load<{ libuv: LoopAdapter }>('@multisock/adapter-libuv');
if (uv) describeAdapterConformance('libuv', () => uv.libuv);
else notBuilt('libuv', '@multisock/adapter-libuv');

const ep = await load<{ epoll: LoopAdapter; EpollReactor: new () => Reactor }>('@multisock/adapter-epoll');
if (ep) {
  describeAdapterConformance('epoll', () => ep.epoll);
  // The reactor is the application's own loop; here it runs in short slices on Node's loop,
  // where the suite's servers live (see driveReactor).
  describeAdapterConformance('EpollReactor', () => driveReactor('EpollReactor', () => new ep.EpollReactor()));
} else {
  notBuilt('epoll', '@multisock/adapter-epoll');
}
