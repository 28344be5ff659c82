// The kqueue adapter over a given native addon: src/index.ts makes it over the real one
// (native/kqueue.cc built against <sys/event.h>); the package's tests make it over the test
// tree's build of the same source against the emulation over epoll. Not exported by the package.
import {
  checkMaxEvents,
  NativeReactor,
  type NativeReactorHandle,
  PollerError,
  splitDetail,
} from '@multisock/adapter-core';
import {
  CurlMultiCode,
  CurlMultiError,
  type LoopAdapter,
  Multi,
  type NativeLoop,
  type NativeLoopAttachment,
} from '@multisock/core';

/** A failed kqueue syscall: `code` is the errno name ('EBADF'), `errno` its number, `syscall`
 * the call ('kevent(EVFILT_READ, EV_ADD)'). The cause of the transfers a failed registration
 * aborted. */
export class KqueueError extends PollerError {
  override name = 'KqueueError';
}

/** kqueue is not available here: another OS (use @multisock/adapter-epoll on Linux), or the
 * native part was not built. */
export class KqueueUnavailableError extends Error {
  override name = 'KqueueUnavailableError';
}

/** What an attachment exposes besides detach(): registrations, timerArmed, detached, multi. */
export type KqueueAttachment = NativeLoopAttachment;

/** The `kqueue` adapter: one kqueue per attached multi, nested in Node's loop. */
export interface KqueueAdapter extends LoopAdapter {
  readonly name: 'kqueue';
  attach(multi: Multi): KqueueAttachment;
}

/** What `new KqueueReactor(options)` takes. */
export interface KqueueReactorOptions {
  /** Events taken per kevent() (default 256). */
  maxEvents?: number;
}

/** What the addon exports (poller_loop.h InitAddon). */
export interface KqueueAddon {
  loop: NativeLoop;
  Reactor: new (maxEvents: number) => NativeReactorHandle;
}

const makeError = (errno: number, detail: string): Error => {
  const split = splitDetail(detail, 'kqueue');
  return new KqueueError(split.syscall, errno, split.detail);
};

/** The reactor's native half over `load()`'s addon, with kqueue(2) failures as KqueueError. */
export function makeNativeReactor(load: () => KqueueAddon, options: unknown): NativeReactorHandle {
  const maxEvents = checkMaxEvents(options, 'KqueueReactor');
  const { Reactor } = load();
  try {
    return new Reactor(maxEvents);
  } catch (error) {
    const { errno } = error as { errno?: number };
    if (typeof errno !== 'number') throw error;
    throw new KqueueError('kqueue', errno, 'cannot make a kqueue');
  }
}

export { makeError as kqueueError };

/** The nested adapter over `load()`'s addon. */
export function makeKqueueAdapter(load: () => KqueueAddon): KqueueAdapter {
  return {
    name: 'kqueue',
    attach(multi: Multi): KqueueAttachment {
      const { loop } = load();
      if (!(multi instanceof Multi)) throw new TypeError('kqueue.attach: expected a Multi');
      if (multi.closed)
        throw CurlMultiError.fromCode(CurlMultiCode.BAD_HANDLE, 'kqueue.attach: the Multi is closed');
      return multi.attachNativeLoop(loop, { makeError });
    },
  };
}

/** A KqueueReactor class over `load()`'s addon. */
export function makeKqueueReactor(
  load: () => KqueueAddon,
): new (
  options?: KqueueReactorOptions,
) => NativeReactor {
  return class KqueueReactor extends NativeReactor {
    constructor(options: KqueueReactorOptions = {}) {
      super('KqueueReactor', makeNativeReactor(load, options), makeError);
    }
  };
}
