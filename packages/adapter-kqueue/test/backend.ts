// Which kevent backend the tests run on: the real kqueue where the OS has one (the workflow's
// macOS and FreeBSD runs), the emulation over epoll on Linux.
import { createKqueueAdapter, type KeventBackend, KqueueReactor, kqueue } from '../src/index.js';
import { nativeBackend } from '../src/native.js';
import { loadEmulation } from './emulation/index.js';

export const emulated = process.platform === 'linux';

/** For test names: 'emulated kqueue' or 'native kqueue'. */
export const backendName = emulated ? 'emulated kqueue' : 'native kqueue';

export const backend: KeventBackend = emulated ? loadEmulation() : nativeBackend();

/** The adapter under test: over the emulation on Linux, the public exports elsewhere. */
export const adapter: { kqueue: typeof kqueue; KqueueReactor: new () => KqueueReactor } = emulated
  ? createKqueueAdapter(backend)
  : { kqueue, KqueueReactor };

/** The same adapter over a given backend (a recording wrapper, for instance). */
export function adapterOver(over: KeventBackend): ReturnType<typeof createKqueueAdapter> {
  return createKqueueAdapter(over);
}
