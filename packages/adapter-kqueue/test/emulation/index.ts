// The tests' build of the adapter's native/kqueue.cc (addon.cc): over the kqueue(2) emulation
// on Linux, over the real kqueue elsewhere. TEST ONLY: the package never loads it.
import { createRequire } from 'node:module';
import type { KqueueAddon } from '../../src/adapter.js';

/** A kevent, one int32 field each (the JS side of the `emulation` functions). */
export interface Kev {
  ident: number;
  filter: number;
  flags: number;
  fflags: number;
  data: number;
  udata: number;
}

/** One kevent() call the emulation saw (the adapter's or a test's). */
export interface KeventCall {
  kq: number;
  nevents: number;
  timeoutMs: number;
  rc: number;
  changes: Kev[];
  events: Kev[];
}

export interface KeventConstants {
  readonly EVFILT_READ: number;
  readonly EVFILT_WRITE: number;
  readonly EV_ADD: number;
  readonly EV_DELETE: number;
  readonly EV_RECEIPT: number;
  readonly EV_CLEAR: number;
  readonly EV_EOF: number;
  readonly EV_ERROR: number;
  readonly ENOENT: number;
  readonly EBADF: number;
  readonly EINTR: number;
  readonly EINVAL: number;
}

/** kqueue(2) as JS functions, records of KEVENT_FIELDS int32 (ident, filter, flags, fflags,
 * data, udata). */
export interface KeventBackend {
  readonly constants: KeventConstants;
  kqueue(): number;
  kevent(
    kq: number,
    changes: Int32Array,
    nchanges: number,
    events: Int32Array,
    nevents: number,
    timeoutMs: number,
  ): number;
  close(kq: number): number;
  /** Emulation only: records every kevent() call (the adapter's too) until record(false). */
  record(on: boolean): void;
  take(): KeventCall[];
}

export const KEVENT_FIELDS = 6;

export interface TestAddon extends KqueueAddon {
  emulation: KeventBackend;
}

let addon: TestAddon | undefined;

export function loadTestAddon(): TestAddon {
  addon ??= createRequire(import.meta.url)('./build/Release/kqueue_emulated.node') as TestAddon;
  return addon;
}
