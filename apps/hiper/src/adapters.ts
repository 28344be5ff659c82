import type { LoopAdapter } from '@multisock/core';
import { UsageError } from './args/usage-error.js';

export type AdapterName = 'libuv' | 'epoll' | 'kqueue';
export const ADAPTERS: readonly AdapterName[] = ['libuv', 'epoll', 'kqueue'];

// The adapter hiper uses without --adapter, one constant per platform. apps/bench decides them:
// each is the adapter measured fastest on that platform; flip one after measuring.
/** Linux: epoll nested in Node's loop (for now). */
export const LINUX_DEFAULT_ADAPTER: AdapterName = 'epoll';
/** macOS and the BSDs. */
export const BSD_DEFAULT_ADAPTER: AdapterName = 'kqueue';
/** Every other platform: Node's own loop. */
export const OTHER_DEFAULT_ADAPTER: AdapterName = 'libuv';

const BSDS: readonly string[] = ['darwin', 'freebsd', 'openbsd', 'netbsd'];

export function defaultAdapter(platform: string = process.platform): AdapterName {
  if (platform === 'linux') return LINUX_DEFAULT_ADAPTER;
  if (BSDS.includes(platform)) return BSD_DEFAULT_ADAPTER;
  return OTHER_DEFAULT_ADAPTER;
}

/** Where each adapter lives and the name of its LoopAdapter export. */
const MODULES: Record<AdapterName, { module: string; exportName: string; platforms: readonly string[] }> = {
  libuv: { module: '@multisock/adapter-libuv', exportName: 'libuv', platforms: [] },
  epoll: { module: '@multisock/adapter-epoll', exportName: 'epoll', platforms: ['linux'] },
  kqueue: { module: '@multisock/adapter-kqueue', exportName: 'kqueue', platforms: BSDS },
};

/**
 * Loads the chosen adapter. Imported by name at run time, so one adapter that is not built (or
 * not for this platform) does not keep the others from working. Refusals are UsageErrors.
 */
export async function loadAdapter(name: AdapterName): Promise<LoopAdapter> {
  const { module, exportName, platforms } = MODULES[name];
  if (platforms.length > 0 && !platforms.includes(process.platform)) {
    if (name === 'kqueue') {
      throw new UsageError(
        `kqueue is the macOS/BSD event interface and does not exist on ${process.platform}: use --adapter epoll (or libuv)`,
      );
    }
    throw new UsageError(`${name} is Linux only: use --adapter kqueue (or libuv) on ${process.platform}`);
  }
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(module)) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`cannot load the ${name} adapter (${module}): ${(error as Error).message}`);
  }
  const adapter = loaded[exportName] as LoopAdapter | undefined;
  if (typeof adapter?.attach !== 'function') {
    throw new Error(`${module} has no '${exportName}' adapter export`);
  }
  return adapter;
}
