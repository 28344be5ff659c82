// @multisock/adapter-kqueue: libcurl's what-bits become kevent changelists on a private kqueue,
// and kevents become curl_multi_socket_action, natively (native/kqueue.cc over
// @multisock/adapter-core's poller loop). For macOS and the BSDs.
//
// Two ways to run that kqueue:
// - `kqueue.attach(multi)`: the kqueue is nested in Node's own loop through ONE uv_poll on the
//   kqueue fd, libcurl's timer is one libuv timer;
// - `new KqueueReactor()`: a loop the application runs itself (runOnce/run), blocking in
//   kevent(), typically in a worker thread. Several multis may share one reactor.
//
// Where there is no kqueue (Linux) both throw KqueueUnavailableError.
import { createRequire } from 'node:module';
import { NativeReactor } from '@multisock/adapter-core';
import {
  type KqueueAdapter,
  type KqueueAddon,
  type KqueueReactorOptions,
  KqueueUnavailableError,
  kqueueError,
  makeKqueueAdapter,
  makeNativeReactor,
} from './adapter.js';

export type { NativeLoopAttachment } from '@multisock/core';
export {
  type KqueueAdapter,
  type KqueueAttachment,
  KqueueError,
  type KqueueReactorOptions,
  KqueueUnavailableError,
} from './adapter.js';

const KQUEUE_PLATFORMS: ReadonlySet<string> = new Set(['darwin', 'freebsd', 'openbsd', 'netbsd']);

let addon: KqueueAddon | undefined;

/** The real kqueue addon. Throws KqueueUnavailableError where there is none. */
function load(): KqueueAddon {
  if (addon !== undefined) return addon;
  if (!KQUEUE_PLATFORMS.has(process.platform)) {
    throw new KqueueUnavailableError(
      `@multisock/adapter-kqueue needs kqueue (macOS, FreeBSD, OpenBSD, NetBSD); this is ${process.platform}. ` +
        'On Linux use @multisock/adapter-epoll (epoll, EpollReactor) or @multisock/adapter-libuv.',
    );
  }
  try {
    addon = createRequire(import.meta.url)('../build/Release/multisock_kqueue.node') as KqueueAddon;
  } catch (error) {
    throw new KqueueUnavailableError(
      `@multisock/adapter-kqueue: the native part is not built (run the package's "build" script): ${String(error)}`,
      { cause: error },
    );
  }
  return addon;
}

/** Nested mode: each attach makes one kqueue, watched by one uv_poll on Node's loop. Throws
 * KqueueUnavailableError where there is no kqueue (Linux: use @multisock/adapter-epoll). */
export const kqueue: KqueueAdapter = makeKqueueAdapter(load);

/**
 * A blocking loop over one kqueue that several multis can share. libcurl's timers are not
 * kevents here: each attached multi keeps a deadline, and kevent()'s own timeout is the
 * earliest one, so moving libcurl's timer costs no syscall. Throws KqueueUnavailableError where
 * there is no kqueue.
 */
export class KqueueReactor extends NativeReactor {
  constructor(options: KqueueReactorOptions = {}) {
    super('KqueueReactor', makeNativeReactor(load, options), kqueueError);
  }
}
