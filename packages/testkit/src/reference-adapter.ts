// The reference adapter: libcurl's multi-socket interface on Node's own loop, in plain
// TypeScript, on @multisock/libuv-bindings' Poll (one uv_poll per socket) and Timer. It is the
// model to copy for a loop of your own: the contract as the seed describes it (SocketCallback,
// TimerCallback, multi.socketAction, multi.assign) and nothing else. The built-in adapters do the
// same natively (multisock/loop.h); this one runs JavaScript for every socket event and timer
// update, which is what a loop written in TypeScript does. Numbers are the multi-socket
// contract's statements, as the conformance suite's messages cite them.
//
// Run the conformance suite on a copy: describeAdapterConformance('myloop', () => myloop).
import {
  CSelect,
  CurlMultiCode,
  CurlMultiError,
  type LoopAdapter,
  type LoopAttachment,
  type Multi,
  Poll,
  SOCKET_TIMEOUT,
} from '@multisock/core';
import { PollEvent, Timer, Poll as UvPoll } from '@multisock/libuv-bindings';

/** The uv_poll mask for libcurl's what-bits: `what` is the whole interest set, not a change (docs/contract.md#whole-interest-set). */
export function pollEventsFor(what: number): number {
  switch (what) {
    case Poll.NONE: // never sent in practice (docs/contract.md#poll-none): keep the socket, watch nothing
      return 0;
    case Poll.IN:
      return PollEvent.READABLE | PollEvent.DISCONNECT;
    case Poll.OUT:
      return PollEvent.WRITABLE;
    case Poll.INOUT:
      return PollEvent.READABLE | PollEvent.DISCONNECT | PollEvent.WRITABLE;
    default:
      throw new RangeError(`the socket callback got what=${what}, which is not a CURL_POLL_* value`);
  }
}

/** What a Poll reported, as CSelect bits: never Poll bits (Poll.REMOVE == CSelect.ERR, 1). A poll
 * error (status < 0: libuv saw POLLERR, stopped the handle and hides the events) is ERR plus the
 * directions watched: libcurl 7.88.1 fails a transfer on ERR alone without reading what is
 * still buffered (docs/contract.md#ev_bitmask-is-trusted, conformance row 10). */
export function cselectFor(status: number, events: number, watched: number): number {
  const ready = status < 0 ? watched : events;
  let bits = status < 0 ? CSelect.ERR : 0;
  if (ready & (PollEvent.READABLE | PollEvent.DISCONNECT)) bits |= CSelect.IN;
  if (ready & PollEvent.WRITABLE) bits |= CSelect.OUT;
  return bits;
}

/** One socket libcurl announced: its Poll and what libcurl wants of it. It is also the socketp
 * the adapter assigns to the fd. */
export class WatchedSocket {
  /** The uv_poll watching the fd. */
  readonly poll: UvPoll;
  /** What libcurl last asked for it (Poll bits). */
  what = Poll.NONE as number;
  /** False once REMOVEd (or replaced): a late event for it is dropped. */
  live = true;

  constructor(
    /** The socket's fd. */
    readonly fd: number,
    onReady: (socket: WatchedSocket, status: number, events: number) => void,
  ) {
    this.poll = new UvPoll(fd, (status, events) => onReady(this, status, events));
  }

  /** Watches for `what` (the whole interest set): a running Poll is restarted with the new mask,
   * not opened again (docs/contract.md#conformance rows 1, 2). */
  watch(what: number): void {
    const events = pollEventsFor(what);
    this.what = what;
    if (events === 0) this.poll.stop();
    else this.poll.start(events);
  }
}

/** The multis an attachment drives: one each (a second would silently take the callbacks). */
const attached = new WeakSet<Multi>();

/** One multi driven by the reference adapter. The protected methods are the adapter's three
 * jobs, one each: what libcurl asks for, the timer, and readiness. */
export class ReferenceAttachment implements LoopAttachment {
  /** fd -> the socket watched for it. An fd number is unique in the process while it is open. */
  readonly #sockets = new Map<number, WatchedSocket>();
  readonly #timer = new Timer(() => this.socketAction(SOCKET_TIMEOUT, 0));
  readonly #onReady = (socket: WatchedSocket, status: number, events: number): void =>
    this.ready(socket, status, events);
  #unsubscribe: () => void = () => {};
  #detached = false;

  constructor(
    /** The multi this attachment drives. */
    protected readonly multi: Multi,
  ) {
    if (attached.has(multi)) {
      this.#timer.close();
      throw new Error('this Multi is already attached to the reference adapter; detach() it first');
    }
    try {
      // 0: handled. A throw (or -1) fails every transfer of the multi: the abort rule.
      multi.setopt('SOCKETFUNCTION', (_easy, fd, what, _clientp, socketp) => {
        this.socket(fd, what, socketp);
        return 0;
      });
      multi.setopt('TIMERFUNCTION', (_multi, timeoutMs) => {
        this.timer(timeoutMs);
        return 0;
      });
    } catch (error) {
      // CURLM_RECURSIVE_API_CALL (attach() inside a libcurl callback), or a native loop drives
      // the multi: nothing was installed.
      this.#timer.close();
      throw error;
    }
    attached.add(multi);
    // After close() nothing of this multi may stay registered, not even the sockets libcurl
    // never sent REMOVE for (docs/contract.md#cleanup, conformance row 20).
    this.#unsubscribe = multi.onClose(() => this.#release());
  }

  /** Sockets with a registration right now (the conformance suite compares it with libcurl's). */
  get registrations(): number {
    return this.#sockets.size;
  }

  /** Whether libcurl's timer is armed (neither fired, deleted nor released). */
  get timerArmed(): boolean {
    return !this.#timer.closed && this.#timer.active;
  }

  /** True once detach() ran or the multi closed. */
  get detached(): boolean {
    return this.#detached;
  }

  /** Drops every registration and the timer, and unsets both callbacks. Idempotent. */
  detach(): void {
    if (this.#detached) return;
    if (!this.multi.closed) {
      // Throws CURLM_RECURSIVE_API_CALL inside a libcurl callback, before anything changed.
      this.multi.setopt('SOCKETFUNCTION', null);
      this.multi.setopt('TIMERFUNCTION', null);
    }
    this.#release();
  }

  /** CURLMOPT_SOCKETFUNCTION. Strictly in order: a REMOVE is handled completely before the same
   * fd number, announced again in the same socketAction, gets a new socket (docs/contract.md#fd-reuse, conformance row 4). */
  protected socket(fd: number, what: number, socketp: unknown): void {
    let socket = this.#sockets.get(fd);
    if (what === Poll.REMOVE) {
      // "Stop watching", not "closed" (docs/contract.md#remove-is-not-close); REMOVE for an fd never announced is a no-op (docs/contract.md#conformance row 3).
      if (socket !== undefined) this.#forget(socket);
      return;
    }
    if (socket !== undefined && socketp !== socket) {
      // libcurl no longer associates our socket with this fd (docs/contract.md#remove-forgets-socketp): the socket we watched went
      // away without a REMOVE, and this is a new one with the same number.
      this.#forget(socket);
      socket = undefined;
    }
    if (socket === undefined) {
      socket = new WatchedSocket(fd, this.#onReady);
      this.#sockets.set(fd, socket);
      this.multi.assign(fd, socket); // the socketp of the next calls for this fd
    }
    socket.watch(what);
  }

  /** CURLMOPT_TIMERFUNCTION: one non-repeating timer that each value replaces; -1 deletes it,
   * 0 fires on a later loop turn, never from in here (docs/contract.md#timer-zero). */
  protected timer(timeoutMs: number): void {
    if (timeoutMs < 0) this.#timer.stop();
    else this.#timer.start(timeoutMs);
  }

  /** A Poll reported readiness (level-triggered: it reports again while the data is there, 29). */
  protected ready(socket: WatchedSocket, status: number, events: number): void {
    if (!socket.live) return;
    const bits = cselectFor(status, events, pollEventsFor(socket.what));
    if (bits !== 0) this.socketAction(socket.fd, bits);
    // libuv stopped the handle on the error: start it again while libcurl still wants the fd.
    if (status < 0 && socket.live && socket.what !== Poll.NONE && !socket.poll.active) {
      socket.poll.start(pollEventsFor(socket.what));
    }
  }

  /** multi.socketAction from the loop. The fired timer is consumed: libcurl arms it again if it
   * needs it (docs/contract.md#timer-only-on-change). */
  protected socketAction(fd: number, bits: number): void {
    if (this.#detached || this.multi.closed) return;
    try {
      this.multi.socketAction(fd, bits);
    } catch (error) {
      // A socket or timer callback failed (the abort rule): the core has already failed every
      // transfer of this multi with the callback's error. Anything else is a bug: surface it.
      if (!(error instanceof CurlMultiError && error.code === CurlMultiCode.ABORTED_BY_CALLBACK)) throw error;
    }
  }

  /** Stops watching at once: REMOVE comes before libcurl closes the fd (docs/contract.md#remove-before-close). */
  #forget(socket: WatchedSocket): void {
    socket.live = false;
    socket.poll.close();
    this.#sockets.delete(socket.fd);
  }

  #release(): void {
    if (this.#detached) return;
    this.#detached = true;
    this.#unsubscribe();
    attached.delete(this.multi);
    for (const socket of this.#sockets.values()) this.#forget(socket);
    this.#timer.close();
  }
}

/** The reference adapter: a LoopAdapter like any other. */
export const referenceAdapter: LoopAdapter = {
  name: 'reference',
  attach: (multi: Multi): ReferenceAttachment => new ReferenceAttachment(multi),
};
