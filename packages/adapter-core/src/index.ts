// @multisock/adapter-core: the loop shared by @multisock/adapter-epoll and @multisock/adapter-kqueue.
//
// Both adapters turn libcurl's what-bits into registrations on a private kernel poller set and
// the set's readiness into multi.socketAction(fd, CSelect bits), in two modes: nested in Node's
// loop (one uv_poll on the set's fd, one uv_timer) or a reactor the application runs. Only the
// set differs (syscalls, filter state, generation tags, decoding a batch), so that is the one
// thing a backend provides: a small `PollerSet`. Everything here is the policy around it.
// Statement numbers refer to CONTRACT.md.
import { constants as osConstants } from 'node:os';
import { CurlMultiError, type LoopAttachment, type Multi, Poll, SOCKET_TIMEOUT } from '@multisock/core';
import { PollEvent, Poll as UvPoll, Timer as UvTimer } from '@multisock/libuv-bindings';

/** 'ENOSPC' for an errno number, or 'errno N' when the platform has no name for it. */
export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

/** Throws RangeError unless `what` is CURL_POLL_NONE/IN/OUT/INOUT (REMOVE is handled before). */
export function checkWhat(what: number): void {
  // NONE is never sent in practice (statement 8): it keeps the registration with no interest.
  if (what !== Poll.NONE && what !== Poll.IN && what !== Poll.OUT && what !== Poll.INOUT) {
    throw new RangeError(`the socket callback got what=${what}, which is not a CURL_POLL_* value`);
  }
}

/** Validates a runOnce timeout: an integer from -1 (no limit) to 2^31-1. */
export function checkTimeout(timeoutMs: unknown, where: string): number {
  if (typeof timeoutMs !== 'number') throw new TypeError(`${where}: timeoutMs must be a number`);
  if (!Number.isInteger(timeoutMs) || timeoutMs < -1 || timeoutMs > 0x7fffffff) {
    throw new RangeError(`${where}: timeoutMs must be an integer from -1 (no limit) to 2147483647`);
  }
  return timeoutMs;
}

// ---------------------------------------------------------------------------------------------
// What a backend implements.

/** The per-fd context, stored as libcurl's socketp through multi.assign. A set may extend it
 * with its own kernel state (kqueue: which filters the kernel has). */
export class Registration {
  constructor(
    readonly fd: number,
    readonly owner: Binding,
    /** The what-bits libcurl asked for (Poll.NONE/IN/OUT/INOUT). */
    public what: number,
    /** The generation the kernel carries back with each event: events with another are stale. */
    public tag: number,
  ) {}
}

/**
 * One kernel poller set (an epoll fd, a kqueue) and its registration table. fd numbers are
 * unique in the process, so one table serves every multi attached to the set. Level-triggered
 * only: libcurl may leave data in the kernel after one call (statement 29).
 */
export interface PollerSet<R extends Registration = Registration> {
  /** The set's own fd, readable while events are pending (watched by the nested mode). */
  readonly fd: number;
  /** fd -> live registration. */
  readonly table: ReadonlyMap<number, R>;
  /** Registers `fd` with interest `what` (already checked) and lists it in the table. */
  add(owner: Binding, fd: number, what: number): R;
  /** A new interest set for a registration. */
  modify(reg: R, what: number): void;
  /** libcurl announces as new (socketp lost) an fd the table still lists: the kernel may have
   * dropped it when the fd was closed, so register it again whatever we believed. */
  resync(reg: R, what: number): void;
  /** Unlists (first, so nothing more is dispatched for it) and unregisters; "already gone"
   * counts as done (CONTRACT (b) row 6). Other failures throw only when `strict`. */
  remove(reg: R, strict: boolean): void;
  /**
   * Waits up to `timeoutMs` (-1: no limit; EINTR counts as an empty batch), then calls
   * `onReady(reg, cselectBits)` once per registration ready in the batch, in order. Each call
   * may change the table, so a set looks the fd up again before each one and skips events of a
   * registration removed or re-announced earlier in the batch (CONTRACT (b) row 5, statement
   * 13). Bits are CSelect bits, never Poll bits (Poll.REMOVE == CSelect.ERR, statement 1), and
   * IN/OUT count only while still wanted. Never called with 0 bits.
   */
  wait(timeoutMs: number, onReady: (reg: R, bits: number) => void): void;
  /** Closes the set, which drops every registration the kernel holds; idempotent. */
  close(): void;
}

/** How a binding arms libcurl's single timer and learns about registration changes. */
export interface TimerHost {
  /** Arm (replacing any armed value) for `ms` from now. 0 means on a later loop turn. */
  arm(ms: number): void;
  disarm(): void;
  registrationsChanged(): void;
  /** The binding is gone (detached, or its multi closed). */
  release(binding: Binding): void;
}

/** Waits once on `set` and dispatches the batch; returns how many socketActions were made. */
function drain(set: PollerSet, timeoutMs: number): number {
  let dispatched = 0;
  set.wait(timeoutMs, (reg, bits) => {
    if (bits === 0) return;
    dispatched++;
    reg.owner.socketAction(reg.fd, bits);
  });
  return dispatched;
}

// ---------------------------------------------------------------------------------------------
// One kind of loop (epoll, kqueue): its wording, its log, its attachment class, and which
// multis it has attached.

/** What a binding needs of its kind. */
export interface BindingKind {
  readonly attached: WeakSet<Multi>;
  readonly log: (format: string, ...args: unknown[]) => void;
}

export type BindingClass<A extends LoopAttachment> = new (
  kind: BindingKind,
  multi: Multi,
  set: PollerSet,
  host: TimerHost,
) => Binding & A;

export interface LoopKindOptions<A extends LoopAttachment> {
  /** For "this Multi is already attached to <loop>": 'an epoll loop'. */
  readonly loop: string;
  /** A debuglog of the adapter. */
  readonly log: (format: string, ...args: unknown[]) => void;
  /** The public attachment: a Binding subclass adding the adapter's own getters. */
  readonly Binding: BindingClass<A>;
}

export class LoopKind<A extends LoopAttachment> implements BindingKind {
  readonly loop: string;
  readonly log: (format: string, ...args: unknown[]) => void;
  readonly Binding: BindingClass<A>;
  /** Every multi attached to any attachment or reactor of this kind, to refuse a second attach. */
  readonly attached = new WeakSet<Multi>();

  constructor(options: LoopKindOptions<A>) {
    this.loop = options.loop;
    this.log = options.log;
    this.Binding = options.Binding;
  }

  checkAttachable(multi: Multi, where: string): void {
    if (multi.closed) throw CurlMultiError.fromCode(1, `${where}: the Multi is closed`);
    if (this.attached.has(multi)) {
      throw new Error(`${where}: this Multi is already attached to ${this.loop}; detach it first`);
    }
  }

  /** Nested mode: `set` (owned from now on, closed on failure) watched by one uv_poll on
   * Node's loop, libcurl's timer one uv_timer. Call checkAttachable first. */
  attachNested(multi: Multi, set: PollerSet): A {
    return new NestedAttachment(this, multi, set).binding;
  }
}

// ---------------------------------------------------------------------------------------------
// One multi attached to a set: its socket and timer callbacks.

export class Binding implements LoopAttachment {
  // TS-private rather than #private: the public getters must also work when read through a
  // Proxy of the attachment (a Proxy's get passes itself as `this`, which has no #fields).
  private timerIsArmed = false;
  private isDetached = false;
  readonly #kind: BindingKind;
  readonly #unsubscribeClose: () => void;

  constructor(
    kind: BindingKind,
    readonly multi: Multi,
    protected readonly set: PollerSet,
    private readonly host: TimerHost,
  ) {
    this.#kind = kind;
    multi.setopt('SOCKETFUNCTION', (_easy, fd, what, _clientp, socketp) => this.#onSocket(fd, what, socketp));
    multi.setopt('TIMERFUNCTION', (_multi, timeoutMs) => this.#onTimer(timeoutMs));
    kind.attached.add(multi);
    // After curl_multi_cleanup nothing of this multi may stay registered (statements 20, 34).
    this.#unsubscribeClose = multi.onClose(() => this.#release());
  }

  /** This multi's live registrations: fd -> the what-bits (Poll.IN/OUT/INOUT/NONE) watched. */
  protected ownInterest(): Map<number, number> {
    const out = new Map<number, number>();
    for (const reg of this.set.table.values()) if (reg.owner === this) out.set(reg.fd, reg.what);
    return out;
  }

  protected ownCount(): number {
    let count = 0;
    for (const reg of this.set.table.values()) if (reg.owner === this) count++;
    return count;
  }

  get timerArmed(): boolean {
    return this.timerIsArmed;
  }

  get detached(): boolean {
    return this.isDetached;
  }

  detach(): void {
    if (this.isDetached) return;
    if (!this.multi.closed) {
      // First, so a detach refused by the core (inside a libcurl callback) changes nothing.
      this.multi.setopt('SOCKETFUNCTION', null);
      this.multi.setopt('TIMERFUNCTION', null);
    }
    this.#release();
  }

  /** Drops every registration and the timer without touching the multi. */
  #release(): void {
    if (this.isDetached) return;
    this.isDetached = true;
    this.#unsubscribeClose();
    this.#kind.attached.delete(this.multi);
    for (const reg of [...this.set.table.values()]) if (reg.owner === this) this.set.remove(reg, false);
    this.#setTimer(-1);
    this.host.registrationsChanged();
    this.host.release(this);
  }

  /** Forgets a registration the table still lists for a socket libcurl closed without REMOVE,
   * whose number another multi of the same reactor now announces. */
  evict(reg: Registration): void {
    this.#kind.log('fd %d re-announced by another multi; dropping the stale registration', reg.fd);
    this.set.remove(reg, false);
  }

  // CURLMOPT_SOCKETFUNCTION. `what` is the whole interest set, not a delta (statement 4).
  #onSocket(fd: number, what: number, socketp: unknown): number {
    if (this.isDetached) return 0;
    const listed = this.set.table.get(fd);
    const mine = listed !== undefined && listed.owner === this ? listed : undefined;
    if (what === Poll.REMOVE) {
      // Stop watching now: the same number may come back at once (statements 9, 13). For an
      // fd never registered this is a no-op (CONTRACT (b) row 3).
      if (mine) this.set.remove(mine, true);
      this.host.registrationsChanged();
      return 0;
    }
    checkWhat(what);
    if (mine !== undefined && socketp === mine) {
      if (mine.what !== what) this.set.modify(mine, what);
      return 0;
    }
    let reg: Registration;
    if (mine !== undefined) {
      this.set.resync(mine, what);
      reg = mine;
    } else {
      if (listed !== undefined) listed.owner.evict(listed);
      reg = this.set.add(this, fd, what);
      this.host.registrationsChanged();
    }
    this.multi.assign(fd, reg); // allowed inside callbacks (statement 33)
    return 0;
  }

  // CURLMOPT_TIMERFUNCTION: one non-repeating timer; a new value replaces the old (statement 18).
  #onTimer(timeoutMs: number): number {
    if (!this.isDetached) this.#setTimer(timeoutMs);
    return 0;
  }

  #setTimer(timeoutMs: number): void {
    if (timeoutMs < 0) {
      if (this.timerIsArmed) this.host.disarm();
      this.timerIsArmed = false;
    } else {
      this.host.arm(timeoutMs);
      this.timerIsArmed = true;
    }
  }

  /** The timer fired: it is consumed (7.88.1 sends no -1 afterwards, statement 20). */
  timeout(): void {
    this.timerIsArmed = false;
    this.socketAction(SOCKET_TIMEOUT, 0);
  }

  socketAction(fd: number, bits: number): void {
    if (this.isDetached) return;
    try {
      this.multi.socketAction(fd, bits);
    } catch (error) {
      // A socket/timer callback failed during the call: the core has already failed every
      // transfer with CURLE_ABORTED_BY_CALLBACK and attached the cause to each. Carry on.
      // Anything else is a bug and must surface.
      if (error instanceof CurlMultiError && error.code === 11) return;
      throw error;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Mode 1: nested in Node's loop.

class NestedAttachment<A extends LoopAttachment> implements TimerHost {
  readonly #set: PollerSet;
  readonly #poll: UvPoll;
  readonly #timer: UvTimer;
  #polling = false;
  #closed = false;
  binding!: Binding & A;

  constructor(kind: LoopKind<A>, multi: Multi, set: PollerSet) {
    this.#set = set;
    let poll: UvPoll | undefined;
    try {
      // An epoll or kqueue fd is readable while events are pending (epoll(7); kqueue(2),
      // EVFILT_READ: Kqueues).
      poll = new UvPoll(set.fd, (status) => this.#onReadable(status));
      this.#timer = new UvTimer(() => this.binding.timeout());
    } catch (error) {
      poll?.close();
      set.close();
      throw error;
    }
    this.#poll = poll;
    try {
      this.binding = new kind.Binding(kind, multi, set, this);
    } catch (error) {
      this.release();
      throw error;
    }
  }

  arm(ms: number): void {
    this.#timer.start(ms);
  }

  disarm(): void {
    this.#timer.stop();
  }

  // The uv_poll is active only while something is registered, so an idle multi does not keep
  // the process alive (as an idle uv_poll per socket would not).
  registrationsChanged(): void {
    if (this.#closed) return;
    const wanted = this.#set.table.size > 0;
    if (wanted && !this.#polling) {
      this.#poll.start(PollEvent.READABLE);
      this.#polling = true;
    } else if (!wanted && this.#polling) {
      this.#poll.stop();
      this.#polling = false;
    }
  }

  #onReadable(status: number): void {
    // libuv stops a poll handle that reports an error; re-arm it below if still needed.
    if (status < 0) this.#polling = false;
    if (this.#closed) return;
    // One crossing drains everything ready; the whole batch is dispatched before the next.
    drain(this.#set, 0);
    this.registrationsChanged();
  }

  release(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer.close();
    this.#poll.close(); // stops it first; the set's fd may be closed right after (uv_poll docs)
    this.#set.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Mode 2: a reactor the application runs.

/**
 * A blocking loop over one set that several multis can share. libcurl's timers are not
 * registrations here: each attached multi keeps a deadline, and the set's own wait timeout is
 * the earliest one, so moving libcurl's timer (it does on every add and many socketActions)
 * costs no syscall and no extra fd. Subclassed by each adapter's public reactor class.
 */
export class Reactor<A extends LoopAttachment> {
  readonly #kind: LoopKind<A>;
  /** The public class name, in every error message: 'EpollReactor'. */
  readonly #name: string;
  readonly #set: PollerSet;
  readonly #bindings = new Map<Binding, { deadline: number | null }>();
  #running = false;
  #stopRequested = false;
  #closed = false;

  /** Takes ownership of `set`. */
  protected constructor(kind: LoopKind<A>, name: string, set: PollerSet) {
    this.#kind = kind;
    this.#name = name;
    this.#set = set;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Attaches a multi; its transfers then progress while this reactor runs. */
  attach(multi: Multi): A {
    this.#checkOpen('attach');
    this.#kind.checkAttachable(multi, `${this.#name}.attach`);
    const timer = { deadline: null as number | null };
    const bindings = this.#bindings;
    const binding = new this.#kind.Binding(this.#kind, multi, this.#set, {
      arm: (ms) => {
        timer.deadline = performance.now() + ms;
      },
      disarm: () => {
        timer.deadline = null;
      },
      registrationsChanged: () => {},
      release: (released) => {
        bindings.delete(released);
      },
    });
    bindings.set(binding, timer);
    return binding;
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
    try {
      return this.#iterate(timeoutMs);
    } finally {
      this.#running = false;
    }
  }

  /** Runs until stop() or until nothing is left (no registrations, no armed timers). */
  run(): void {
    this.#checkOpen('run');
    if (this.#running) throw new Error(`${this.#name}.run: called re-entrantly from inside a callback`);
    this.#stopRequested = false;
    this.#running = true;
    try {
      while (!this.#stopRequested && !this.#closed && this.#hasWork()) this.#iterate(-1);
    } finally {
      this.#running = false;
      this.#stopRequested = false;
    }
  }

  /** Makes run() return after the current iteration; callable from inside a callback. */
  stop(): void {
    this.#stopRequested = true;
  }

  /** Detaches every multi and closes the set. Idempotent; not from inside runOnce/run. */
  close(): void {
    if (this.#closed) return;
    if (this.#running) {
      throw new Error(`${this.#name}.close: called from inside runOnce/run; call stop() first`);
    }
    for (const binding of [...this.#bindings.keys()]) binding.detach();
    this.#closed = true;
    this.#set.close();
  }

  #checkOpen(where: string): void {
    if (this.#closed) throw new Error(`${this.#name}.${where}: the reactor is closed`);
  }

  #hasWork(): boolean {
    if (this.#set.table.size > 0) return true;
    for (const timer of this.#bindings.values()) if (timer.deadline !== null) return true;
    return false;
  }

  #iterate(timeoutMs: number): number {
    let wait = timeoutMs;
    let earliest = Number.POSITIVE_INFINITY;
    for (const timer of this.#bindings.values()) {
      if (timer.deadline !== null && timer.deadline < earliest) earliest = timer.deadline;
    }
    if (earliest !== Number.POSITIVE_INFINITY) {
      // Rounded up: waking before the deadline would only cost another turn.
      const untilDeadline = Math.max(0, Math.ceil(earliest - performance.now()));
      wait = wait === -1 ? untilDeadline : Math.min(wait, untilDeadline);
    } else if (wait === -1 && this.#set.table.size === 0) {
      return 0; // nothing could ever wake the wait
    }
    let dispatched = drain(this.#set, wait);
    // Timers that expired by now fire once each, after the events; one set to 0 during this
    // turn waits for the next (statement 18: never from inside the callback that set it).
    const now = performance.now();
    const expired: Binding[] = [];
    for (const [binding, timer] of this.#bindings) {
      if (timer.deadline !== null && timer.deadline <= now) expired.push(binding);
    }
    for (const binding of expired) {
      const timer = this.#bindings.get(binding);
      if (timer === undefined || timer.deadline === null || timer.deadline > now) continue;
      timer.deadline = null;
      dispatched++;
      binding.timeout();
    }
    return dispatched;
  }
}
