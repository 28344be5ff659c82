// The kevent backend interface and the real one (native/kqueue.cc), loaded on first use. It does
// only what TypeScript cannot: kqueue(), kevent() and close(). Every argument is checked natively.
import { createRequire } from 'node:module';

/** Int32 slots per kevent in `changes`/`events`: ident, filter, flags, fflags, data, udata. */
export const KEVENT_FIELDS = 6;

/** The numbers of <sys/event.h> and <errno.h> the adapter needs, as the backend's OS has them
 * (they differ: NetBSD's EVFILT_READ is 0, FreeBSD's and macOS's -1). */
export interface KeventConstants {
  readonly EVFILT_READ: number;
  readonly EVFILT_WRITE: number;
  readonly EV_ADD: number;
  readonly EV_DELETE: number;
  readonly EV_ENABLE: number;
  readonly EV_DISABLE: number;
  readonly EV_RECEIPT: number;
  readonly EV_EOF: number;
  readonly EV_ERROR: number;
  readonly ENOENT: number;
  readonly EBADF: number;
  readonly EINTR: number;
  readonly EINVAL: number;
}

/**
 * A kevent syscall layer, one batch per call. Records are KEVENT_FIELDS int32 each. Only
 * EV_ADD, EV_DELETE, EV_ENABLE, EV_DISABLE and EV_RECEIPT may appear in a change's flags:
 * EV_CLEAR, EV_ONESHOT and EV_DISPATCH are refused with a RangeError (level-triggered only).
 */
export interface KeventBackend {
  readonly constants: KeventConstants;
  /** A new kqueue (close-on-exec): its fd, or -errno. */
  kqueue(): number;
  /** kevent(2): applies `nchanges` changes, then (unless an EV_ERROR entry was written) waits
   * up to `timeoutMs` (-1: no limit) for events. Returns how many records were written into
   * `events`, or -errno. */
  kevent(
    kq: number,
    changes: Int32Array,
    nchanges: number,
    events: Int32Array,
    nevents: number,
    timeoutMs: number,
  ): number;
  /** Closes a kqueue this backend made: 0 or -errno. Any other fd is a RangeError. */
  close(kq: number): number;
}

const KQUEUE_PLATFORMS: ReadonlySet<string> = new Set(['darwin', 'freebsd', 'openbsd', 'netbsd']);

/** kqueue is not available here: another OS (use @multisock/adapter-epoll on Linux), or the
 * native part was not built. */
export class KqueueUnavailableError extends Error {
  override name = 'KqueueUnavailableError';
}

let native: KeventBackend | undefined;

/** The real backend. Throws KqueueUnavailableError where there is no kqueue. */
export function nativeBackend(): KeventBackend {
  if (native !== undefined) return native;
  if (!KQUEUE_PLATFORMS.has(process.platform)) {
    throw new KqueueUnavailableError(
      `@multisock/adapter-kqueue needs kqueue (macOS, FreeBSD, OpenBSD, NetBSD); this is ${process.platform}. ` +
        'On Linux use @multisock/adapter-epoll (epoll, EpollReactor) or @multisock/adapter-libuv.',
    );
  }
  try {
    native = createRequire(import.meta.url)('../build/Release/kqueue.node') as KeventBackend;
  } catch (error) {
    throw new KqueueUnavailableError(
      `@multisock/adapter-kqueue: the native part is not built (run the package's "build" script): ${String(error)}`,
      { cause: error },
    );
  }
  return native;
}
