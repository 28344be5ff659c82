// @multisock/adapter-libuv: libcurl's multi-socket interface on Node's own event loop.
//
// One uv_poll per socket libcurl announces, one uv_timer for libcurl's single timer, both from
// @multisock/libuv-bindings. The adapter only translates (CONTRACT.md section (c), "uv_poll"
// column): what-bits into Poll.start masks, readiness into multi.socketAction(fd, CSelect
// bits), timer values into one non-repeating Timer. Statement numbers refer to CONTRACT.md.
import {
  CSelect,
  CurlMultiCode,
  CurlMultiError,
  type LoopAdapter,
  type LoopAttachment,
  Multi,
  Poll,
  SOCKET_TIMEOUT,
} from '@multisock/core';
import { PollEvent, Timer, Poll as UvPoll } from '@multisock/libuv-bindings';

export type { LoopAdapter, LoopAttachment } from '@multisock/core';

/** What `libuv.attach` returns: detach() plus a read-only view for tests and diagnostics. */
export interface LibuvAttachment extends LoopAttachment {
  /** How many sockets of the multi have a live Poll right now. */
  readonly registrations: number;
  /** True while libcurl's timer is armed (neither fired, deleted nor dropped at close). */
  readonly timerArmed: boolean;
  /** True once detach() ran or the multi closed: nothing of it is registered any more. */
  readonly detached: boolean;
}

export interface LibuvAdapter extends LoopAdapter {
  readonly name: 'libuv';
  attach(multi: Multi): LibuvAttachment;
}

/** The uv_poll mask for libcurl's what-bits (statement 4: the whole interest set). */
function uvEventsFor(what: number): number {
  switch (what) {
    case Poll.NONE: // never sent in practice (statement 8): keep the socket, watch nothing
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

/** uv_poll readiness -> CSelect bits, never Poll bits (Poll.REMOVE == CSelect.ERR: statements
 * 1 and 11). A poll error (status < 0: libuv reports UV_EBADF on POLLERR and hides which events
 * came with it) is ERR plus the directions being watched: on 7.88.1 ERR alone fails the
 * transfer with CURLE_SEND_ERROR without reading what is still buffered, e.g. a whole response
 * followed by an RST (statement 27, CONTRACT (b) 10). */
function cselectFor(status: number, events: number, watched: number): number {
  const ready = status < 0 ? watched : events;
  let bits = status < 0 ? CSelect.ERR : 0;
  if (ready & (PollEvent.READABLE | PollEvent.DISCONNECT)) bits |= CSelect.IN;
  if (ready & PollEvent.WRITABLE) bits |= CSelect.OUT;
  return bits;
}

/** One announced socket: its Poll and the mask it watches. Stored as libcurl's socketp. */
class Socket {
  readonly poll: UvPoll;
  events = 0;
  live = true;

  constructor(
    readonly fd: number,
    onReady: (socket: Socket, status: number, events: number) => void,
  ) {
    this.poll = new UvPoll(fd, (status, events) => onReady(this, status, events));
  }

  watch(events: number): void {
    this.events = events;
    if (events === 0) this.poll.stop();
    else this.poll.start(events); // a new mask replaces the old one: no second init (CONTRACT (b) 2)
  }

  /** Stops watching. A stopped Poll holds no uv handle, so the object can serve the next
   * socket libcurl opens on this fd number. */
  retire(): void {
    this.live = false;
    this.events = 0;
    this.poll.stop();
  }

  close(): void {
    this.live = false;
    this.poll.close();
  }
}

/** Retired sockets kept for reuse. libcurl 7.88.1 sends REMOVE each time a keep-alive connection
 * goes idle and announces it again on reuse (statements 9, 12), so without this every request
 * would construct a Poll. */
const MAX_IDLE_SOCKETS = 1024;

const attachments = new WeakMap<Multi, Attachment>();

class Attachment implements LibuvAttachment {
  readonly #multi: Multi;
  /** fd -> its socket. fd numbers are unique in the process while open. */
  readonly #sockets = new Map<number, Socket>();
  /** fd -> a retired socket whose Poll is stopped, for the next announcement of that fd. */
  readonly #idle = new Map<number, Socket>();
  readonly #timer = new Timer(() => this.#onTimeout());
  readonly #unsubscribe: () => void;
  readonly #onReady = (socket: Socket, status: number, events: number): void =>
    this.#ready(socket, status, events);
  #detached = false;

  constructor(multi: Multi) {
    this.#multi = multi;
    try {
      multi.setopt('SOCKETFUNCTION', (_easy, fd, what, _clientp, socketp) => {
        this.#onSocket(fd, what, socketp);
        return 0;
      });
      multi.setopt('TIMERFUNCTION', (_multi, timeoutMs) => {
        this.#onTimer(timeoutMs);
        return 0;
      });
    } catch (error) {
      this.#timer.close(); // e.g. CURLM_RECURSIVE_API_CALL: attach() inside a libcurl callback
      throw error;
    }
    // After curl_multi_cleanup nothing of this multi may stay registered, even the sockets
    // libcurl never sent REMOVE for (statement 34, CONTRACT (b) 20).
    this.#unsubscribe = multi.onClose(() => this.#release());
  }

  get registrations(): number {
    return this.#sockets.size;
  }

  get timerArmed(): boolean {
    return !this.#timer.closed && this.#timer.active;
  }

  get detached(): boolean {
    return this.#detached;
  }

  detach(): void {
    if (this.#detached) return;
    if (!this.#multi.closed) {
      // Throws CURLM_RECURSIVE_API_CALL inside a libcurl callback, before anything changed.
      this.#multi.setopt('SOCKETFUNCTION', null);
      this.#multi.setopt('TIMERFUNCTION', null);
    }
    this.#release();
  }

  #release(): void {
    if (this.#detached) return;
    this.#detached = true;
    this.#unsubscribe();
    attachments.delete(this.#multi);
    for (const socket of this.#sockets.values()) socket.close();
    this.#sockets.clear();
    for (const socket of this.#idle.values()) socket.close();
    this.#idle.clear();
    this.#timer.close();
  }

  // CURLMOPT_SOCKETFUNCTION. Processed strictly in order: a REMOVE stops the socket's Poll at
  // once, so the same fd re-announced within the same socketAction starts a fresh uv_poll
  // (statement 13, CONTRACT (b) 4).
  #onSocket(fd: number, what: number, socketp: unknown): void {
    let socket = this.#sockets.get(fd);
    if (what === Poll.REMOVE) {
      // REMOVE for an fd never announced is a no-op (CONTRACT (b) 3).
      if (socket !== undefined) this.#forget(socket);
      return;
    }
    const events = uvEventsFor(what);
    if (socket !== undefined && socketp !== socket) {
      // libcurl no longer associates our socket with this fd (statements 12, 17): the old
      // socket went away without a REMOVE. Start over with a fresh Poll.
      this.#forget(socket);
      socket = undefined;
    }
    if (socket === undefined) {
      socket = this.#idle.get(fd);
      if (socket === undefined) socket = new Socket(fd, this.#onReady);
      else this.#idle.delete(fd);
      socket.live = true;
      this.#sockets.set(fd, socket);
      this.#multi.assign(fd, socket);
    }
    socket.watch(events);
  }

  // Stop at once: REMOVE comes before libcurl closes the fd (statement 10).
  #forget(socket: Socket): void {
    this.#sockets.delete(socket.fd);
    if (this.#idle.size < MAX_IDLE_SOCKETS) {
      socket.retire();
      this.#idle.set(socket.fd, socket);
    } else {
      socket.close();
    }
  }

  // CURLMOPT_TIMERFUNCTION: one non-repeating timer, replaced by each new value; -1 deletes it
  // (statement 18). 0 fires on a later loop turn: socketAction is never called from in here
  // (statements 18, 21).
  #onTimer(timeoutMs: number): void {
    if (timeoutMs < 0) this.#timer.stop();
    else this.#timer.start(timeoutMs);
  }

  // A fired timer is consumed: nothing re-arms it unless libcurl asks (statement 20).
  #onTimeout(): void {
    this.#socketAction(SOCKET_TIMEOUT, 0);
  }

  #ready(socket: Socket, status: number, events: number): void {
    if (!socket.live) return;
    const bits = cselectFor(status, events, socket.events);
    if (bits !== 0) this.#socketAction(socket.fd, bits);
    // libuv stops the handle on a poll error: restart it if libcurl still wants the fd
    // (CONTRACT (b) 10).
    if (status < 0 && socket.live && socket.events !== 0 && !socket.poll.active) {
      socket.poll.start(socket.events);
    }
  }

  #socketAction(fd: number, bits: number): void {
    if (this.#multi.closed) return;
    try {
      this.#multi.socketAction(fd, bits);
    } catch (error) {
      // A socket or timer callback aborted: the core has already failed every transfer of
      // this multi and attached the error to each of them. Anything else is a bug: surface it.
      if (!(error instanceof CurlMultiError && error.code === CurlMultiCode.ABORTED_BY_CALLBACK)) throw error;
    }
  }
}

/** The adapter for Node's own event loop. */
export const libuv: LibuvAdapter = {
  name: 'libuv',
  attach(multi: Multi): LibuvAttachment {
    if (!(multi instanceof Multi)) throw new TypeError('libuv.attach: expected a Multi');
    if (multi.closed) throw new Error('libuv.attach: the Multi is closed');
    if (attachments.has(multi)) {
      throw new Error('libuv.attach: this Multi is already attached to the libuv adapter; detach() it first');
    }
    const attachment = new Attachment(multi);
    attachments.set(multi, attachment);
    return attachment;
  },
};
