// Typed view of the native syscall layer (native/epoll.cc). It does only what TypeScript
// cannot: epoll_create1/epoll_ctl/epoll_wait and timerfd. Every argument is validated natively.
import { createRequire } from 'node:module';

/** An epoll set (epoll_create1 with EPOLL_CLOEXEC). Level-triggered registrations only. */
export interface Epoll {
  /** The epoll fd, or -1 once closed. */
  readonly fd: number;
  readonly closed: boolean;
  readonly maxEvents: number;
  /**
   * Results of the last `wait()`: 3 u32 per event (fd, tag, epoll events), preallocated and
   * shared with native code, so a batch costs one crossing and no allocation.
   */
  readonly events: Uint32Array<ArrayBuffer>;
  /**
   * epoll_ctl(op, fd, { events, data.u64 = fd | tag << 32 }). Returns 0 or -errno.
   * Throws RangeError for EPOLLET/EPOLLONESHOT or any non-readiness bit.
   */
  ctl(op: 1 | 2 | 3, fd: number, events: number, tag: number): number;
  /** epoll_wait: the number of events written into `events`, 0 on EINTR, or -errno. */
  wait(timeoutMs: number): number;
  /** Closes the epoll fd; closing twice is harmless. */
  close(): void;
}

/** A one-shot CLOCK_MONOTONIC timerfd (TFD_CLOEXEC | TFD_NONBLOCK). */
export interface Timerfd {
  readonly fd: number;
  readonly closed: boolean;
  /** Arms the timer `ms` from now (0 becomes 1 ns: an all-zero value would disarm). */
  set(ms: number): void;
  disarm(): void;
  /** Reads the expiration count (0 if none), so the fd stops being readable. */
  drain(): number;
  close(): void;
}

export interface EpollConstants {
  readonly EPOLL_CTL_ADD: 1;
  readonly EPOLL_CTL_DEL: 2;
  readonly EPOLL_CTL_MOD: 3;
  readonly EPOLLIN: number;
  readonly EPOLLPRI: number;
  readonly EPOLLOUT: number;
  readonly EPOLLERR: number;
  readonly EPOLLHUP: number;
  readonly EPOLLRDHUP: number;
  readonly EPOLLET: number;
  readonly EPOLLONESHOT: number;
  readonly EPERM: number;
  readonly ENOENT: number;
  readonly EINTR: number;
  readonly EBADF: number;
  readonly ENOMEM: number;
  readonly EEXIST: number;
  readonly EINVAL: number;
  readonly ENOSPC: number;
  readonly ELOOP: number;
}

interface Binding {
  Epoll: new (maxEvents: number) => Epoll;
  Timerfd: new () => Timerfd;
  constants: EpollConstants;
}

function load(): Binding {
  if (process.platform !== 'linux') {
    throw new Error(`@multisock/adapter-epoll needs Linux (epoll); this is ${process.platform}`);
  }
  return createRequire(import.meta.url)('../build/Release/epoll.node') as Binding;
}

const binding = load();

/** `new Epoll(maxEvents)`: see the Epoll interface. */
export const Epoll: new (maxEvents: number) => Epoll = binding.Epoll;
/** `new Timerfd()`: see the Timerfd interface. */
export const Timerfd: new () => Timerfd = binding.Timerfd;
export const constants: EpollConstants = binding.constants;
