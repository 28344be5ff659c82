// @multisock/adapter-epoll: libcurl's what-bits become epoll_ctl calls on a private epoll set,
// and epoll readiness becomes curl_multi_socket_action, natively (native/epoll.cc over
// @multisock/adapter-core's poller loop): no JavaScript runs per socket event or timer update.
//
// Two ways to run that set:
// - `epoll.attach(multi)`: the set is nested in Node's own loop through ONE uv_poll on the
//   epoll fd, libcurl's timer is one libuv timer, and finished transfers reach JavaScript once
//   per loop turn;
// - `new EpollReactor()`: a loop the application runs itself (runOnce/run), blocking in
//   epoll_wait, typically in a worker thread. Several multis may share one reactor.
import { createRequire } from 'node:module';
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

export type { NativeLoopAttachment } from '@multisock/core';

/** A failed epoll syscall: `code` is the errno name ('ENOSPC'), `errno` its number, `syscall`
 * the call ('epoll_ctl(ADD)'). The cause of the transfers a failed registration aborted. */
export class EpollError extends PollerError {
  override name = 'EpollError';
}

/** What an attachment exposes besides detach(): registrations, timerArmed, detached, multi. */
export type EpollAttachment = NativeLoopAttachment;

/** The `epoll` adapter: one epoll set per attached multi, nested in Node's loop. */
export interface EpollAdapter extends LoopAdapter {
  readonly name: 'epoll';
  attach(multi: Multi): EpollAttachment;
}

interface Addon {
  loop: NativeLoop;
  Reactor: new (maxEvents: number) => NativeReactorHandle;
}

let addon: Addon | undefined;

function load(): Addon {
  if (addon !== undefined) return addon;
  if (process.platform !== 'linux') {
    throw new Error(`@multisock/adapter-epoll needs Linux (epoll); this is ${process.platform}`);
  }
  addon = createRequire(import.meta.url)('../build/Release/multisock_epoll.node') as Addon;
  return addon;
}

const makeError = (errno: number, detail: string): Error => {
  const split = splitDetail(detail, 'epoll_create1');
  return new EpollError(split.syscall, errno, split.detail);
};

/** Nested mode: each attach makes one epoll set, watched by one uv_poll on Node's loop. */
export const epoll: EpollAdapter = {
  name: 'epoll',
  attach(multi: Multi): EpollAttachment {
    if (!(multi instanceof Multi)) throw new TypeError('epoll.attach: expected a Multi');
    if (multi.closed)
      throw CurlMultiError.fromCode(CurlMultiCode.BAD_HANDLE, 'epoll.attach: the Multi is closed');
    return multi.attachNativeLoop(load().loop, { makeError });
  },
};

/** What `new EpollReactor(options)` takes. */
export interface EpollReactorOptions {
  /** Events taken per epoll_wait (default 256). */
  maxEvents?: number;
}

/**
 * A blocking loop over one epoll set that several multis can share. libcurl's timers are not
 * fds here: each attached multi keeps a deadline, and epoll_wait's own timeout is the earliest
 * one. That costs no syscall when libcurl moves its timer and no extra fd, where a timerfd would
 * need a timerfd_settime each time.
 */
export class EpollReactor extends NativeReactor {
  constructor(options: EpollReactorOptions = {}) {
    const maxEvents = checkMaxEvents(options, 'EpollReactor');
    const { Reactor } = load();
    let native: NativeReactorHandle;
    try {
      native = new Reactor(maxEvents);
    } catch (error) {
      const { errno } = error as { errno?: number };
      if (typeof errno !== 'number') throw error;
      throw new EpollError('epoll_create1', errno, 'cannot make an epoll set');
    }
    super('EpollReactor', native, makeError);
  }
}
