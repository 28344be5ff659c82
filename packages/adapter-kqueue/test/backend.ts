// What the tests run on: the adapter's native/kqueue.cc as the test tree builds it
// (test/emulation): over the emulation of kqueue(2) on Linux, over the real kqueue on macOS and
// the BSDs (where the package's own exports are tested too).
import { makeKqueueAdapter, makeKqueueReactor } from '../src/adapter.js';
import { type KeventBackend, loadTestAddon } from './emulation/index.js';

export const emulated = process.platform === 'linux';

/** For test names: 'emulated kqueue' or 'native kqueue'. */
export const backendName = emulated ? 'emulated kqueue' : 'native kqueue';

/** kqueue()/kevent() as JS functions, for the emulation's own tests and scripted setups. */
export const backend: KeventBackend = loadTestAddon().emulation;

/** The adapter under test. */
export const adapter = {
  kqueue: makeKqueueAdapter(loadTestAddon),
  KqueueReactor: makeKqueueReactor(loadTestAddon),
};
