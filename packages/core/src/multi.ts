import type { DoneMessage } from './contract.js';
import type { Easy } from './easy.js';
import { CurlError, CurlMultiError } from './errors.js';
import type { MultiOptions } from './generated/types.js';
import { addon } from './native.js';

/** Where the addon delivers finished transfers, after libcurl's call stack has unwound. */
export const kDone: unique symbol = Symbol('multisock.done');

interface Pending {
  resolve(easy: Easy): void;
  reject(error: unknown): void;
}

/**
 * A libcurl multi handle driven through the multi-socket interface: set SOCKETFUNCTION and
 * TIMERFUNCTION (or attach a LoopAdapter), call socketAction when a socket is ready or the timer
 * fires, read finished transfers with infoRead, or let perform() settle a promise per transfer.
 */
/** The native methods, typed. */
interface NativeMulti {
  /** curl_multi_setopt by name: every CURLMOPT_ option without its prefix. */
  setopt<K extends keyof MultiOptions>(name: K, value: MultiOptions[K]): void;
  addHandle(easy: Easy): void;
  /** curl_multi_remove_handle; a no-op for an Easy that is not added, as in libcurl. */
  removeHandle(easy: Easy): void;
  /** curl_multi_socket_action: `evBitmask` is CSelect bits (0: libcurl checks). Returns the
   * number of running transfers. */
  socketAction(socket: number, evBitmask: number): number;
  /** curl_multi_assign: `socketp` is any JS value, kept until Poll.REMOVE or close. */
  assign(socket: number, socketp: unknown): void;
  close(): void;
  readonly closed: boolean;
  /** True while libcurl is running one of this Multi's callbacks. */
  readonly inCallback: boolean;
}

export class Multi extends (addon.Multi as unknown as new () => NativeMulti) {
  #messages: DoneMessage[] = [];
  #pending = new Map<Easy, Pending>();
  #closeListeners = new Set<() => void>();

  /** Adds the Easy and settles when it finishes: resolves with it on CURLE_OK, rejects with a
   * CurlError otherwise. The Easy is removed from the Multi before the promise settles. */
  perform(easy: Easy): Promise<Easy> {
    return new Promise<Easy>((resolve, reject) => {
      if (this.#pending.has(easy)) {
        throw CurlMultiError.fromCode(7, 'perform: this Easy is already being performed');
      }
      this.#pending.set(easy, { resolve, reject });
      try {
        this.addHandle(easy);
      } catch (error) {
        this.#pending.delete(easy);
        throw error;
      }
    });
  }

  /** The next finished transfer not claimed by perform(), or null (curl_multi_info_read). */
  infoRead(): DoneMessage | null {
    if (this.closed) throw CurlMultiError.fromCode(1, 'infoRead: the Multi is closed');
    if (this.inCallback) throw CurlMultiError.fromCode(8, 'infoRead: called from inside a libcurl callback');
    return this.#messages.shift() ?? null;
  }

  override removeHandle(easy: Easy): void {
    super.removeHandle(easy);
    // libcurl drops a removed handle's queued message (CONTRACT statement 31).
    if (this.#messages.length > 0) this.#messages = this.#messages.filter((m) => m.easy !== easy);
    // Built only when a perform() waits: an Error's stack trace costs microseconds.
    if (this.#pending.has(easy)) {
      this.#settle(
        easy,
        CurlError.fromCode(42, 'the transfer was removed from its Multi before it finished'),
      );
    }
  }

  /** curl_multi_cleanup. Callbacks may run during it; afterwards every close listener has run
   * and every pending perform() has rejected. Idempotent. */
  override close(): void {
    if (this.closed) return;
    try {
      super.close();
    } finally {
      if (this.closed) {
        this.#messages = [];
        for (const easy of [...this.#pending.keys()]) {
          this.#settle(easy, CurlMultiError.fromCode(1, 'the Multi was closed before the transfer finished'));
        }
        const listeners = [...this.#closeListeners];
        this.#closeListeners.clear();
        for (const listener of listeners) listener();
      }
    }
  }

  /** Runs `listener` once when the Multi closes (at once if it is closed). Returns an
   * unsubscribe function. Adapters use it to drop every registration of this Multi. */
  onClose(listener: () => void): () => void {
    if (this.closed) {
      listener();
      return () => {};
    }
    this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  #settle(easy: Easy, error: unknown): void {
    const pending = this.#pending.get(easy);
    if (!pending) return;
    this.#pending.delete(easy);
    pending.reject(error);
  }

  /** Called by the addon for each finished transfer, outside every libcurl callback. */
  [kDone](easy: Easy, result: number): void {
    const pending = this.#pending.get(easy);
    if (!pending) {
      this.#messages.push({ msg: 'DONE', easy, result });
      return;
    }
    this.#pending.delete(easy);
    const error = easy.errorFor(result);
    if (easy.multi === this) super.removeHandle(easy);
    if (error) pending.reject(error);
    else pending.resolve(easy);
  }
}
