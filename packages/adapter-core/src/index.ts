// @multisock/adapter-core: what @multisock/adapter-epoll and @multisock/adapter-kqueue share.
//
// The loop itself is native (native/include/multisock/poller_loop.h, compiled into each
// adapter's addon): the fd -> registration table, the nested mode and the reactor run without
// any JavaScript per socket event or timer update. This is the thin TypeScript around it: the
// reactor class both adapters' reactors extend, and the errno names of their typed errors.
import { constants as osConstants } from 'node:os';
import {
  CurlMultiCode,
  CurlMultiError,
  Multi,
  type NativeLoop,
  type NativeLoopAttachment,
} from '@multisock/core';

/** 'ENOSPC' for an errno number, or 'errno N' when the platform has no name for it. */
export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

/** Validates a runOnce timeout: an integer from -1 (no limit) to 2^31-1. */
export function checkTimeout(timeoutMs: unknown, where: string): number {
  if (typeof timeoutMs !== 'number') throw new TypeError(`${where}: timeoutMs must be a number`);
  if (!Number.isInteger(timeoutMs) || timeoutMs < -1 || timeoutMs > 0x7fffffff) {
    throw new RangeError(`${where}: timeoutMs must be an integer from -1 (no limit) to 2147483647`);
  }
  return timeoutMs;
}

/** Validates the maxEvents option of a reactor: an integer from 1 to 65536 (256 if absent). */
export function checkMaxEvents(options: unknown, where: string): number {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`${where}: options must be an object`);
  }
  const maxEvents = (options as { maxEvents?: unknown }).maxEvents ?? 256;
  if (typeof maxEvents !== 'number' || !Number.isInteger(maxEvents) || maxEvents < 1 || maxEvents > 65536) {
    throw new RangeError(`${where}: maxEvents must be an integer from 1 to 65536`);
  }
  return maxEvents;
}

/**
 * Splits what the native loop reports of a failed call ("epoll_ctl(ADD): cannot watch fd 12")
 * into the call and the detail. A failure the core reports itself ("attach: the epoll adapter
 * failed: ...", the set could not be made) is `fallback`'s.
 */
export function splitDetail(detail: string, fallback: string): { syscall: string; detail: string } {
  const match = /^([a-z_0-9]+(?:\([^)]*\))?): (.*)$/s.exec(detail);
  if (match === null || match[1] === 'attach') return { syscall: fallback, detail };
  return { syscall: match[1]!, detail: match[2]! };
}

/** A failed syscall of a poller adapter: `code` is the errno name ('ENOSPC'), `errno` its
 * number, `syscall` the call ('epoll_ctl(ADD)'). */
export class PollerError extends Error {
  /** The errno's name: 'EPERM'. */
  readonly code: string;
  /** The errno, positive. */
  readonly errno: number;
  /** The call that failed: 'epoll_ctl(ADD)'. */
  readonly syscall: string;

  constructor(syscall: string, errno: number, detail: string) {
    const code = errnoName(errno);
    super(`${syscall} failed with ${code}: ${detail}`);
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
  }
}

/** The native half of a reactor (poller_loop.h ReactorWrap). */
export interface NativeReactorHandle {
  /** The reactor's table, for Multi.attachNativeLoop. */
  readonly loop: NativeLoop;
  /** Actions made, or -errno of a failed wait. */
  runOnce(timeoutMs: number): number;
  /** 0, or -errno of a failed wait. */
  run(): number;
  stop(): void;
  close(): void;
  /** [open, running, registrations, attached multis, last error]. */
  state(): [boolean, boolean, number, number, string];
}

/**
 * A blocking loop over one kernel set that several multis can share, run natively: runOnce is
 * ONE call that waits, dispatches every ready event, fires the expired timers and delivers each
 * multi's finished transfers. libcurl's timers are not registrations: each multi keeps a
 * deadline and the wait's timeout is the earliest one, so moving a timer (libcurl does on every
 * add and many socketActions) costs no syscall and no fd. Subclassed by EpollReactor and
 * KqueueReactor; error messages name the subclass.
 */
export class NativeReactor {
  readonly #name: string;
  readonly #native: NativeReactorHandle;
  readonly #makeError: (errno: number, detail: string) => Error;
  readonly #attachments = new Set<NativeLoopAttachment>();
  #running = false;
  #closed = false;

  protected constructor(
    name: string,
    native: NativeReactorHandle,
    makeError: (errno: number, detail: string) => Error,
  ) {
    this.#name = name;
    this.#native = native;
    this.#makeError = makeError;
  }

  /** True once close() ran. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Attaches a multi; its transfers then progress while this reactor runs. */
  attach(multi: Multi): NativeLoopAttachment {
    this.#checkOpen('attach');
    if (!(multi instanceof Multi)) throw new TypeError(`${this.#name}.attach: expected a Multi`);
    if (multi.closed)
      throw CurlMultiError.fromCode(CurlMultiCode.BAD_HANDLE, `${this.#name}.attach: the Multi is closed`);
    const attachment = multi.attachNativeLoop(this.#native.loop, { owner: this, makeError: this.#makeError });
    for (const known of this.#attachments) if (known.detached) this.#attachments.delete(known);
    this.#attachments.add(attachment);
    return attachment;
  }

  /**
   * Waits up to `timeoutMs` (-1: no limit; shortened to the earliest libcurl deadline), then
   * dispatches the ready events and the expired timers. Returns how many were dispatched.
   * With nothing registered and no timer armed, runOnce(-1) returns 0 at once instead of
   * blocking forever.
   */
  runOnce(timeoutMs = -1): number {
    this.#checkOpen('runOnce');
    checkTimeout(timeoutMs, `${this.#name}.runOnce`);
    if (this.#running) throw new Error(`${this.#name}.runOnce: called re-entrantly from inside a callback`);
    this.#running = true;
    let result: number;
    try {
      result = this.#native.runOnce(timeoutMs);
    } finally {
      this.#running = false;
    }
    if (result < 0) throw this.#waitFailed(result);
    return result;
  }

  /** Runs until stop() or until nothing is left (no registrations, no armed timers). */
  run(): void {
    this.#checkOpen('run');
    if (this.#running) throw new Error(`${this.#name}.run: called re-entrantly from inside a callback`);
    this.#running = true;
    let result: number;
    try {
      result = this.#native.run();
    } finally {
      this.#running = false;
    }
    if (result < 0) throw this.#waitFailed(result);
  }

  /** Makes run() return after the current iteration; callable from inside a callback. */
  stop(): void {
    this.#native.stop();
  }

  /** Detaches every multi and closes the set. Idempotent; not from inside runOnce/run. */
  close(): void {
    if (this.#closed) return;
    if (this.#running) {
      throw new Error(`${this.#name}.close: called from inside runOnce/run; call stop() first`);
    }
    for (const attachment of this.#attachments) attachment.detach();
    this.#attachments.clear();
    this.#closed = true;
    this.#native.close();
  }

  /** Registrations of every attached multi, right now (diagnostics). */
  get registrations(): number {
    return this.#native.state()[2];
  }

  #checkOpen(where: string): void {
    if (this.#closed) throw new Error(`${this.#name}.${where}: the reactor is closed`);
  }

  #waitFailed(result: number): Error {
    return this.#makeError(-result, this.#native.state()[4]);
  }
}
