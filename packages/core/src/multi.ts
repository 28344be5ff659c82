import { CurlCode, CurlMultiCode } from './constants.js';
import type { DoneMessage } from './contract.js';
import type { Easy } from './easy.js';
import { CurlError, CurlMultiError } from './errors.js';
import type { MultiOptions } from './generated/types.js';
import { addon } from './native.js';
import { type NativeLoop, NativeLoopAttachment, type NativeLoopOptions } from './native-loop.js';

/** Where the addon delivers finished transfers, after libcurl's call stack has unwound. */
export const kDone: unique symbol = Symbol('multisock.done');
/** perform() with the URL set in the same native call: the Client's submission. */
export const kPerformUrl: unique symbol = Symbol('multisock.performUrl');

interface Pending {
  resolve(easy: Easy): void;
  reject(error: unknown): void;
}

/** The native methods, typed. */
interface NativeMulti {
  setopt<K extends keyof MultiOptions>(name: K, value: MultiOptions[K]): void;
  addHandle(easy: Easy, autoRemove?: boolean, url?: string): void;
  removeHandle(easy: Easy): void;
  socketAction(socket: number, evBitmask: number): number;
  assign(socket: number, socketp: unknown): void;
  close(): void;
  /** @internal The native side of `closed`. */
  isClosed(): boolean;
  /** @internal The native side of `inCallback`. */
  isInCallback(): boolean;
  /** @internal The native side of `attachNativeLoop`. */
  attachLoop(loop: NativeLoop, owner: object | undefined, makeError: NativeLoopOptions['makeError']): void;
  /** @internal The native side of a NativeLoopAttachment's `detach`. */
  detachLoop(): void;
  /** @internal The native side of a NativeLoopAttachment's `registrations` and `timerArmed`. */
  loopStats(): [name: string, registrations: number, timerArmed: boolean] | null;
  /** @internal The native side of `traceNativeLoop`. */
  setTrace(on: boolean): void;
  /** @internal The native side of `takeNativeTrace`. */
  takeTrace(): Int32Array;
  failNextNativeSocket(detail: string): void;
}

/**
 * A libcurl multi handle driven through the multi-socket interface: set SOCKETFUNCTION and
 * TIMERFUNCTION (or attach a LoopAdapter), call socketAction when a socket is ready or the timer
 * fires, read finished transfers with infoRead, or let perform() settle a promise per transfer.
 *
 * ```ts
 * const multi = new Multi();
 * libuv.attach(multi);
 * const easy = new Easy();
 * easy.setopt('URL', 'http://127.0.0.1:8080/');
 * await multi.perform(easy);
 * console.log(easy.getinfo('RESPONSE_CODE'), easy.takeBody().toString());
 * multi.close();
 * ```
 */
export class Multi extends (addon.Multi as unknown as new () => NativeMulti) {
  #messages: DoneMessage[] = [];
  #pending = new Map<Easy, Pending>();
  #closeListeners = new Set<() => void>();
  #nativeLoop: NativeLoopAttachment | null = null;

  /** curl_multi_setopt by name: every CURLMOPT_ option without its prefix. Throws
   * CurlMultiError (UNKNOWN_OPTION, BAD_FUNCTION_ARGUMENT...) naming the option. */
  override setopt<K extends keyof MultiOptions>(name: K, value: MultiOptions[K]): void {
    super.setopt(name, value);
  }

  /** curl_multi_add_handle. The timer callback runs inside it (with 0). */
  override addHandle(easy: Easy): void {
    super.addHandle(easy, false);
  }

  /** curl_multi_socket_action: `evBitmask` is CSelect bits (0: libcurl checks the socket);
   * `socket` is an fd or SOCKET_TIMEOUT. Returns the number of transfers still running. Finished
   * transfers are delivered (perform() settles, infoRead() has them) before it returns. */
  override socketAction(socket: number, evBitmask: number): number {
    return super.socketAction(socket, evBitmask);
  }

  /** curl_multi_assign: `socketp` is any JS value, kept until Poll.REMOVE or close. */
  override assign(socket: number, socketp: unknown): void {
    super.assign(socket, socketp);
  }

  /** True while libcurl is running one of this Multi's callbacks (every Multi API but assign
   * then throws CURLM_RECURSIVE_API_CALL). */
  get inCallback(): boolean {
    return super.isInCallback();
  }

  /** True once close() ran. */
  get closed(): boolean {
    return super.isClosed();
  }

  /** Adds the Easy and settles when it finishes: resolves with it on CURLE_OK, rejects with a
   * CurlError otherwise. The Easy is removed from the Multi before the promise settles. Throws
   * (CurlMultiError BAD_FUNCTION_ARGUMENT) when nothing drives the Multi: no loop adapter, and
   * not both SOCKETFUNCTION and TIMERFUNCTION. */
  perform(easy: Easy): Promise<Easy> {
    return this[kPerformUrl](easy, undefined);
  }

  /** perform() that sets the URL first, in the same native call. */
  [kPerformUrl](easy: Easy, url: string | undefined): Promise<Easy> {
    return new Promise<Easy>((resolve, reject) => {
      if (this.#pending.has(easy)) {
        throw CurlMultiError.fromCode(
          CurlMultiCode.ADDED_ALREADY,
          'perform: this Easy is already being performed',
        );
      }
      this.#pending.set(easy, { resolve, reject });
      try {
        super.addHandle(easy, true, url);
      } catch (error) {
        this.#pending.delete(easy);
        throw error;
      }
    });
  }

  /** The next finished transfer not claimed by perform(), or null (curl_multi_info_read). */
  infoRead(): DoneMessage | null {
    if (this.closed) throw CurlMultiError.fromCode(CurlMultiCode.BAD_HANDLE, 'infoRead: the Multi is closed');
    if (this.inCallback)
      throw CurlMultiError.fromCode(
        CurlMultiCode.RECURSIVE_API_CALL,
        'infoRead: called from inside a libcurl callback',
      );
    return this.#messages.shift() ?? null;
  }

  /** curl_multi_remove_handle; a no-op for an Easy that is not added, as in libcurl. A
   * perform() of it rejects (CurlError 42). */
  override removeHandle(easy: Easy): void {
    // A performed Easy that finished is removed already, and its perform() settles with the
    // delivery that is on its way.
    const added = easy.multi === this;
    super.removeHandle(easy);
    // libcurl drops a removed handle's queued message (docs/contract.md#remove-handle).
    if (this.#messages.length > 0) this.#messages = this.#messages.filter((m) => m.easy !== easy);
    // Built only when a perform() waits: an Error's stack trace costs microseconds.
    if (added && this.#pending.has(easy)) {
      this.#settle(
        easy,
        CurlError.fromCode(
          CurlCode.ABORTED_BY_CALLBACK,
          'the transfer was removed from its Multi before it finished',
        ),
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
          this.#settle(
            easy,
            CurlMultiError.fromCode(
              CurlMultiCode.BAD_HANDLE,
              'the Multi was closed before the transfer finished',
            ),
          );
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

  /**
   * Hands libcurl's socket and timer callbacks to a native loop adapter (multisock/loop.h):
   * from then on they run natively, readiness goes straight back into socket_action, and
   * finished transfers reach JS once per loop turn. This is what the built-in adapters' attach()
   * does; an adapter written in TypeScript sets SOCKETFUNCTION and TIMERFUNCTION instead.
   * Throws CurlMultiError ADDED_ALREADY when a loop or JS callbacks already drive the Multi,
   * BAD_HANDLE when it is closed, RECURSIVE_API_CALL inside a libcurl callback.
   */
  attachNativeLoop(loop: NativeLoop, options: NativeLoopOptions = {}): NativeLoopAttachment {
    super.attachLoop(loop, options.owner, options.makeError);
    const attachment: NativeLoopAttachment = new NativeLoopAttachment(
      this,
      () => {
        // Only the current attachment detaches: an old one's detach() is harmless.
        if (this.#nativeLoop !== attachment) return;
        super.detachLoop();
        this.#nativeLoop = null;
      },
      () => (this.#nativeLoop === attachment ? super.loopStats() : null),
    );
    this.#nativeLoop = attachment;
    return attachment;
  }

  /** The name of the native loop adapter driving this Multi ('libuv', 'epoll'...), or null. */
  get nativeLoop(): string | null {
    return super.loopStats()?.[0] ?? null;
  }

  /** Records every socket and timer callback, socket_action and loop turn of a native loop, for
   * the conformance suite (off by default). */
  traceNativeLoop(on: boolean): void {
    super.setTrace(on);
  }

  /** The trace recorded since the last call: 5 int32 per record (see NativeTraceKind). */
  takeNativeTrace(): Int32Array {
    return super.takeTrace();
  }

  /** Fault injection for the conformance suite: the next socket callback a native loop handles
   * counts as failed, with `detail` as the cause's message (the abort rule then applies). */
  override failNextNativeSocket(detail: string): void {
    super.failNextNativeSocket(detail);
  }

  #settle(easy: Easy, error: unknown): void {
    const pending = this.#pending.get(easy);
    if (!pending) return;
    this.#pending.delete(easy);
    pending.reject(error);
  }

  /** Called by the addon with every transfer that finished, [easy, result, easy, result...],
   * outside every libcurl callback. An Easy performed with perform() is already removed. */
  [kDone](done: Array<Easy | number>): void {
    for (let i = 0; i < done.length; i += 2) {
      const easy = done[i] as Easy;
      const result = done[i + 1] as number;
      const pending = this.#pending.get(easy);
      if (pending === undefined) {
        this.#messages.push({ msg: 'DONE', easy, result });
        continue;
      }
      this.#pending.delete(easy);
      if (result === 0) pending.resolve(easy);
      else pending.reject(easy.errorFor(result));
    }
  }
}
