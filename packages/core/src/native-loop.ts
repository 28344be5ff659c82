import type { LoopAttachment } from './contract.js';
import type { Multi } from './multi.js';

declare const nativeLoopBrand: unique symbol;

/**
 * A native loop adapter's table (multisock/loop.h) as its addon hands it to JavaScript: a
 * Node-API External, type-tagged so that nothing else passes for one.
 */
export type NativeLoop = object & { readonly [nativeLoopBrand]: true };

/** What `multi.attachNativeLoop(loop, options)` takes besides the loop. */
export interface NativeLoopOptions {
  /** Kept alive while attached (the object the loop belongs to, e.g. a reactor). */
  owner?: object;
  /** Makes the adapter's own error for a failed registration: the cause of the transfers'
   * CURLE_ABORTED_BY_CALLBACK. `errno` is positive; `detail` names the call that failed. */
  makeError?: (errno: number, detail: string) => Error;
}

/**
 * The records of Multi.takeNativeTrace(): 5 int32 each, [kind, a, b, c, d].
 * - SOCKET: a = fd, b = what (Poll bits), c = SOCKET_* flags, d = the adapter's
 *   registrations right after (-1 when it does not say);
 * - TIMER: a = timeout in ms (-1: delete), d = 1 when the adapter's timer is armed right after;
 * - ACTION: a = fd or SOCKET_TIMEOUT, b = ev_bitmask as the loop passed it, c = ACTION_* flags;
 * - TURN: the loop flushed finished transfers (once per loop turn).
 */
export const NativeTrace = {
  SOCKET: 1,
  TIMER: 2,
  ACTION: 3,
  TURN: 4,
  /** SOCKET flag: `easy` is a transfer the application added (not one of libcurl's own). */
  SOCKET_EASY: 1,
  /** SOCKET flag: MULTISOCK_SOCKET_FRESH, libcurl had no association for the socket. */
  SOCKET_FRESH: 2,
  /** SOCKET flag: MULTISOCK_SOCKET_TRACKED, the loop hears of the socket's close. */
  SOCKET_TRACKED: 4,
  /** ACTION flag: made from inside a libcurl callback, and refused. */
  ACTION_REFUSED: 1,
  /** ACTION flag: multi.socketAction() called from JavaScript. */
  ACTION_FROM_JS: 2,
  /** int32 per record. */
  FIELDS: 5,
} as const;

/** What every built-in adapter's attach() returns. */
export class NativeLoopAttachment implements LoopAttachment {
  readonly #multi: Multi;
  readonly #detach: () => void;
  readonly #stats: () => [string, number, boolean] | null;
  readonly #unsubscribe: () => void;
  #detached = false;

  constructor(multi: Multi, detach: () => void, stats: () => [string, number, boolean] | null) {
    this.#multi = multi;
    this.#detach = detach;
    this.#stats = stats;
    this.#unsubscribe = multi.onClose(() => {
      this.#detached = true;
    });
  }

  /** The Multi this attachment drives. */
  get multi(): Multi {
    return this.#multi;
  }

  /** The adapter's name ('libuv', 'epoll', ...). */
  get loop(): string | null {
    return this.#stats()?.[0] ?? null;
  }

  /** Sockets of the multi registered with the loop right now. */
  get registrations(): number {
    return this.#detached ? 0 : (this.#stats()?.[1] ?? 0);
  }

  /** True while libcurl's single timer is armed (neither fired, deleted nor dropped). */
  get timerArmed(): boolean {
    return this.#detached ? false : (this.#stats()?.[2] ?? false);
  }

  /** True once detach() ran or the multi closed: nothing of it is registered any more. */
  get detached(): boolean {
    return this.#detached;
  }

  /** Drops every registration and the timer; the multi can then be attached again. Transfers
   * in progress stay added, and the core announces their sockets to the next native attachment
   * (libcurl only reports changes). Idempotent; throws CURLM_RECURSIVE_API_CALL inside a libcurl
   * callback. */
  detach(): void {
    if (this.#detached) return;
    if (!this.#multi.closed) this.#detach();
    this.#detached = true;
    this.#unsubscribe();
  }
}
