// The kqueue emulation over epoll (emulation.cc), TEST ONLY: it lets the adapter's logic run on
// Linux. The package never loads it; the tests hand it to createKqueueAdapter explicitly.
import { createRequire } from 'node:module';
import type { KeventBackend } from '../../src/index.js';

export function loadEmulation(): KeventBackend {
  if (process.platform !== 'linux') {
    throw new Error(`the kqueue emulation is built over epoll, for Linux only; this is ${process.platform}`);
  }
  return createRequire(import.meta.url)('./build/Release/kqueue_emulation.node') as KeventBackend;
}
