import { createRequire } from 'node:module';

/** libuv's poll event bits (UV_READABLE, UV_WRITABLE, UV_DISCONNECT, UV_PRIORITIZED). */
export const PollEvent = { READABLE: 1, WRITABLE: 2, DISCONNECT: 4, PRIORITIZED: 8 } as const;

/**
 * Watches a file descriptor with a `uv_poll_t` on Node's own event loop. The fd stays the
 * caller's: it is never closed here, and must not be closed while the Poll is started.
 *
 * The `uv_poll_t` exists only while the Poll is started. libuv's stop and close of a poll handle
 * always remove its fd number from the loop's epoll set, even when another handle is the one
 * watching it; an idle handle kept around would, once stopped, closed or garbage collected,
 * silently cancel whoever watches that fd number by then. So an idle Poll holds nothing, and
 * one fd can have any number of idle Polls beside the started one.
 */
export interface Poll {
  /** The watched file descriptor. */
  readonly fd: number;
  /**
   * `uv_poll_start`: watch for `events` (a non-empty subset of {@link PollEvent} bits). Called
   * again while started it replaces the mask (no new `uv_poll_init`). Throws {@link UvError}
   * (EEXIST when something else of this thread's loop watches the fd). While started the Poll
   * cannot be garbage collected.
   */
  start(events: number): void;
  /** `uv_poll_stop` (and close of the handle): no more events until the next start(). */
  stop(): void;
  /** Stops and frees the handle. Idempotent; every other method then throws. */
  close(): void;
  /** Whether the Poll is started (false after a poll error: libuv stops it then). */
  readonly active: boolean;
  readonly closed: boolean;
  /** `uv_ref` / `uv_unref`: whether a started Poll keeps the process alive (default: it does). */
  ref(): void;
  unref(): void;
}

/** The `Poll` class: one uv_poll_t watching an fd on Node's loop. */
export interface PollConstructor {
  /**
   * `uv_poll_init` on Node's loop. `onEvent(status, events)` is called with `status` 0 and the
   * ready {@link PollEvent} bits, or with a negative libuv status (e.g. UV_EBADF on POLLERR) and
   * 0 events: libuv has then already stopped the handle, so start() it again to keep watching.
   * The callback runs like any Node callback: promise reactions run right after it, and what
   * it throws goes to process 'uncaughtException'.
   * Throws {@link UvError} from `uv_poll_init` (checked here and at each start() of an idle
   * Poll): EEXIST when the loop already watches `fd` (Node's own sockets, or a started Poll),
   * EBADF for a closed fd, EPERM for a regular file.
   */
  new (fd: number, onEvent: (status: number, events: number) => void): Poll;
  readonly prototype: Poll;
}

/** A one-shot timer on Node's own event loop (`uv_timer_t`, plus a `uv_idle_t` for 0 ms). */
export interface Timer {
  /**
   * `uv_timer_start(t, cb, timeoutMs, 0)`: fire once after `timeoutMs` (a non-negative safe
   * integer). A new start replaces a pending one. 0 fires on the next loop turn, never
   * synchronously, even when started from a timer callback (it runs from a `uv_idle_t`: libuv
   * 1.46, Node 20's, would run a 0 ms `uv_timer_t` restarted there again in the same timer
   * phase, without polling for I/O). The order in which several Timers due at once fire is not
   * specified. While armed the Timer cannot be garbage collected.
   */
  start(timeoutMs: number): void;
  /** Disarms the timer; the handle is kept. */
  stop(): void;
  /** Disarms and frees the handle. Idempotent; every other method then throws. */
  close(): void;
  /** Whether the timer is armed (false once it fired). */
  readonly active: boolean;
  readonly closed: boolean;
  ref(): void;
  unref(): void;
}

/** The `Timer` class: one non-repeating uv_timer_t on Node's loop. */
export interface TimerConstructor {
  /** `uv_timer_init` on Node's loop; `onTimeout` is called like {@link PollConstructor}'s callback. */
  new (onTimeout: () => void): Timer;
  readonly prototype: Timer;
}

interface Binding {
  Poll: PollConstructor;
  Timer: TimerConstructor;
  setErrorClass(errorClass: new (errno: number, syscall: string) => Error): void;
  errName(errno: number): string;
  strError(errno: number): string;
  openHandleCount(): number;
}

const binding = createRequire(import.meta.url)('../build/Release/libuv_bindings.node') as Binding;

/** A libuv error: `code` is libuv's error name ('EEXIST'), `errno` its negative number. */
export class UvError extends Error {
  /** libuv's name for the error: 'EEXIST'. */
  readonly code: string;
  /** The negative errno libuv returned: -17. */
  readonly errno: number;
  /** The libuv call that failed: 'uv_poll_init'. */
  readonly syscall: string;

  constructor(errno: number, syscall: string) {
    const code = binding.errName(errno);
    super(`${code}: ${binding.strError(errno)}, ${syscall}`);
    this.name = 'UvError';
    this.code = code;
    this.errno = errno;
    this.syscall = String(syscall);
  }
}
binding.setErrorClass(UvError);

export const Poll: PollConstructor = binding.Poll;
export const Timer: TimerConstructor = binding.Timer;

/**
 * How many uv handles this module has open in the calling thread (created and not yet through
 * their close callback, which runs on a later loop turn). For leak checks in tests.
 */
export function openHandleCount(): number {
  return binding.openHandleCount();
}
