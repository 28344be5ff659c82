import { existsSync } from 'node:fs';
import type { LoopAdapter } from '@multisock/core';
import { driveReactor, type Reactor } from '../../src/index.js';

export interface NamedAdapter {
  name: string;
  adapter: LoopAdapter;
}

/**
 * Every loop adapter that is built: libuv, epoll nested in Node's loop and, with `reactor`,
 * EpollReactor run in slices by testkit's reactor driver. A built one that fails to load is an
 * error, not a skip.
 */
export async function builtAdapters(options: { reactor?: boolean } = {}): Promise<NamedAdapter[]> {
  const adapters: NamedAdapter[] = [];
  const built = (dir: string) => existsSync(new URL(`../../../${dir}/dist/index.js`, import.meta.url));
  if (built('adapter-libuv')) {
    const { libuv } = (await import('@multisock/adapter-libuv')) as { libuv: LoopAdapter };
    adapters.push({ name: 'libuv', adapter: libuv });
  }
  if (built('adapter-epoll')) {
    const ep = (await import('@multisock/adapter-epoll')) as {
      epoll: LoopAdapter;
      EpollReactor: new () => Reactor;
    };
    adapters.push({ name: 'epoll', adapter: ep.epoll });
    if (options.reactor) {
      adapters.push({
        name: 'EpollReactor',
        adapter: driveReactor('EpollReactor', () => new ep.EpollReactor()),
      });
    }
  }
  return adapters;
}
