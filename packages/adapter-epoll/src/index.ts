// @multisock/adapter-epoll: libcurl's what-bits become epoll_ctl calls on a private epoll set,
// and epoll readiness becomes multi.socketAction(fd, CSelect bits).
//
// Two ways to run that set:
// - `epoll.attach(multi)`: the set is nested in Node's own loop through ONE uv_poll on the
//   epoll fd, and libcurl's timer is ONE uv_timer (both from @multisock/libuv-bindings);
// - `new EpollReactor()`: a loop the application runs itself (runOnce/run), blocking in
//   epoll_wait, typically in a worker thread. Several multis may share one reactor.
//
// The native part (./native.js) is only the syscalls. Everything below is the policy:
// registrations keyed by fd, a generation tag per registration so stale events of a batch are
// dropped, and the CONTRACT.md (c) epoll mapping. Statement numbers refer to CONTRACT.md.
import { constants as osConstants } from 'node:os';
import { debuglog } from 'node:util';
import {
  CSelect,
  CurlMultiError,
  type LoopAdapter,
  type LoopAttachment,
  type Multi,
  Poll,
  SOCKET_TIMEOUT,
} from '@multisock/core';
import { PollEvent, Poll as UvPoll, Timer as UvTimer } from '@multisock/libuv-bindings';
import { constants as C, Epoll } from './native.js';

export type { EpollConstants } from './native.js';
export { constants as epollConstants, Epoll, Timerfd } from './native.js';

const log = debuglog('multisock-epoll');
const DEFAULT_MAX_EVENTS = 256;

/** A failed epoll syscall: `code` is the errno name ('ENOSPC'), `errno` its number. */
export class EpollError extends Error {
  override name = 'EpollError';
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;

  constructor(syscall: string, errno: number, detail: string) {
    const code = errnoName(errno);
    super(`${syscall} failed with ${code}: ${detail}`);
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
  }
}

function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

/** What an attachment exposes besides detach(), for tests and diagnostics. */
export interface EpollAttachment extends LoopAttachment {
  readonly multi: Multi;
  /** How many fds of this multi are registered in the epoll set right now. */
  readonly registrations: number;
  /** A snapshot of those registrations: fd -> the what-bits (Poll.IN/OUT/INOUT/NONE) watched. */
  readonly interest: ReadonlyMap<number, number>;
  /** True while libcurl's single timer is armed (neither fired nor deleted). */
  readonly timerArmed: boolean;
  readonly detached: boolean;
}

export interface EpollAdapter extends LoopAdapter {
  readonly name: 'epoll';
  attach(multi: Multi): EpollAttachment;
}

// ---------------------------------------------------------------------------------------------
// The mapping (CONTRACT (c), epoll column). Level-triggered only: libcurl may leave data in the
// kernel after one call (statement 29).

function epollEventsFor(what: number): number {
  switch (what) {
    case Poll.NONE: // never sent in practice (statement 8): keep the registration, no interest
      return 0;
    case Poll.IN:
      return C.EPOLLIN | C.EPOLLRDHUP;
    case Poll.OUT:
      return C.EPOLLOUT;
    case Poll.INOUT:
      return C.EPOLLIN | C.EPOLLRDHUP | C.EPOLLOUT;
    default:
      throw new RangeError(`the socket callback got what=${what}, which is not a CURL_POLL_* value`);
  }
}

/** epoll events -> CSelect bits (never Poll bits: Poll.REMOVE == CSelect.ERR, statement 1).
 * IN/OUT count only while still wanted: the interest may have changed earlier in the batch. */
function cselectFor(events: number, what: number): number {
  let bits = 0;
  if (events & C.EPOLLIN && what & Poll.IN) bits |= CSelect.IN;
  if (events & C.EPOLLOUT && what & Poll.OUT) bits |= CSelect.OUT;
  if (events & C.EPOLLERR) bits |= CSelect.ERR | CSelect.IN | CSelect.OUT;
  if (events & (C.EPOLLHUP | C.EPOLLRDHUP)) bits |= CSelect.IN;
  return bits;
}

// ---------------------------------------------------------------------------------------------
// One epoll set and its registration table.

/** The per-fd context, stored as libcurl's socketp through multi.assign. */
class Registration {
  live = true;
  constructor(
    readonly fd: number,
    readonly owner: Binding,
    public what: number,
    /** The generation written into data.u64: events carrying another tag are stale. */
    public tag: number,
  ) {}
}

class EpollSet {
  readonly epoll: Epoll;
  /** fd -> registration. fd numbers are unique in the process, so one table serves every
   * multi attached to the set. */
  readonly table = new Map<number, Registration>();
  #generation = 0;

  constructor(maxEvents: number) {
    this.epoll = new Epoll(maxEvents);
  }

  #nextTag(): number {
    this.#generation = (this.#generation + 1) >>> 0 || 1;
    return this.#generation;
  }

  add(owner: Binding, fd: number, what: number): Registration {
    const reg = new Registration(fd, owner, what, this.#nextTag());
    const events = epollEventsFor(what);
    let rc = this.epoll.ctl(C.EPOLL_CTL_ADD, fd, events, reg.tag);
    if (rc === -C.EEXIST) {
      // The kernel has it though the table does not (CONTRACT (b) row 7): take it over.
      log('epoll_ctl(ADD, %d) answered EEXIST; falling back to MOD', fd);
      rc = this.epoll.ctl(C.EPOLL_CTL_MOD, fd, events, reg.tag);
    }
    if (rc !== 0) throw new EpollError('epoll_ctl(ADD)', -rc, `cannot watch fd ${fd}`);
    this.table.set(fd, reg);
    return reg;
  }

  modify(reg: Registration, what: number): void {
    const events = epollEventsFor(what);
    let rc = this.epoll.ctl(C.EPOLL_CTL_MOD, reg.fd, events, reg.tag);
    if (rc === -C.ENOENT) {
      // The file we registered was closed (the kernel dropped it) and the number reused:
      // register the new one, under a new tag so no event of the old one is taken for it.
      reg.tag = this.#nextTag();
      rc = this.epoll.ctl(C.EPOLL_CTL_ADD, reg.fd, events, reg.tag);
    }
    if (rc !== 0) throw new EpollError('epoll_ctl(MOD)', -rc, `cannot change interest of fd ${reg.fd}`);
    reg.what = what;
  }

  /** DEL; ENOENT/EBADF mean already gone (CONTRACT (b) row 6). The table entry goes first, so
   * even a failed DEL leaves no event to dispatch. */
  remove(reg: Registration, strict: boolean): void {
    if (this.table.get(reg.fd) === reg) this.table.delete(reg.fd);
    reg.live = false;
    const rc = this.epoll.closed ? 0 : this.epoll.ctl(C.EPOLL_CTL_DEL, reg.fd, 0, 0);
    if (rc === 0 || rc === -C.ENOENT || rc === -C.EBADF || !strict) return;
    throw new EpollError('epoll_ctl(DEL)', -rc, `cannot stop watching fd ${reg.fd}`);
  }

  /** epoll_wait; throws on anything but success or EINTR (which yields 0). */
  wait(timeoutMs: number): number {
    const n = this.epoll.wait(timeoutMs);
    if (n < 0) throw new EpollError('epoll_wait', -n, `on epoll fd ${this.epoll.fd}`);
    return n;
  }

  /** Dispatches the `count` events of the last wait: one socketAction per event. Returns how
   * many were dispatched. */
  dispatch(count: number): number {
    const events = this.epoll.events;
    let dispatched = 0;
    for (let i = 0; i < count; i++) {
      const fd = events[i * 3]!;
      const reg = this.table.get(fd);
      // Removed or re-announced earlier in this batch: the event is not for the current
      // registration (CONTRACT (b) row 5, statement 13).
      if (reg === undefined || reg.tag !== events[i * 3 + 1]) continue;
      const bits = cselectFor(events[i * 3 + 2]!, reg.what);
      if (bits === 0) continue;
      dispatched++;
      reg.owner.socketAction(fd, bits);
    }
    return dispatched;
  }

  hasRegistrations(): boolean {
    return this.table.size > 0;
  }

  close(): void {
    this.table.clear();
    this.epoll.close();
  }
}

// ---------------------------------------------------------------------------------------------
// One multi attached to an epoll set: its socket and timer callbacks.

/** Every multi attached to any epoll attachment or reactor, to refuse a second attach. */
const attachedMultis = new WeakSet<Multi>();

function checkAttachable(multi: Multi, where: string): void {
  if (multi.closed) throw CurlMultiError.fromCode(1, `${where}: the Multi is closed`);
  if (attachedMultis.has(multi)) {
    throw new Error(`${where}: this Multi is already attached to an epoll loop; detach it first`);
  }
}

/** How a binding arms libcurl's single timer and learns about registration changes. */
interface TimerHost {
  /** Arm (replacing any armed value) for `ms` from now. 0 means on a later loop turn. */
  arm(ms: number): void;
  disarm(): void;
  registrationsChanged(): void;
  /** The binding is gone (detached, or its multi closed). */
  release(binding: Binding): void;
}

class Binding implements EpollAttachment {
  // TS-private rather than #private: the public getters must also work when read through a
  // Proxy of the attachment (a Proxy's get passes itself as `this`, which has no #fields).
  private timerIsArmed = false;
  private isDetached = false;
  readonly #unsubscribeClose: () => void;

  constructor(
    readonly multi: Multi,
    private readonly set: EpollSet,
    private readonly host: TimerHost,
  ) {
    multi.setopt('SOCKETFUNCTION', (_easy, fd, what, _clientp, socketp) => this.#onSocket(fd, what, socketp));
    multi.setopt('TIMERFUNCTION', (_multi, timeoutMs) => this.#onTimer(timeoutMs));
    attachedMultis.add(multi);
    // After curl_multi_cleanup nothing of this multi may stay registered (statements 20, 34).
    this.#unsubscribeClose = multi.onClose(() => this.#release());
  }

  get registrations(): number {
    let count = 0;
    for (const reg of this.set.table.values()) if (reg.owner === this) count++;
    return count;
  }

  get interest(): ReadonlyMap<number, number> {
    const out = new Map<number, number>();
    for (const reg of this.set.table.values()) if (reg.owner === this) out.set(reg.fd, reg.what);
    return out;
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
    attachedMultis.delete(this.multi);
    for (const reg of [...this.set.table.values()]) if (reg.owner === this) this.set.remove(reg, false);
    this.#setTimer(-1);
    this.host.registrationsChanged();
    this.host.release(this);
  }

  /** Forgets a registration the table still lists for a socket libcurl closed without REMOVE,
   * whose number another multi of the same reactor now announces. */
  evict(reg: Registration): void {
    log('fd %d re-announced by another multi; dropping the stale registration', reg.fd);
    this.set.remove(reg, false);
  }

  // CURLMOPT_SOCKETFUNCTION. `what` is the whole interest set, not a delta (statement 4).
  #onSocket(fd: number, what: number, socketp: unknown): number {
    if (this.isDetached) return 0;
    const listed = this.set.table.get(fd);
    const mine = listed !== undefined && listed.owner === this ? listed : undefined;
    if (what === Poll.REMOVE) {
      // Stop watching now: the same number may come back at once (statements 9, 13).
      if (mine) this.set.remove(mine, true);
      this.host.registrationsChanged();
      return 0;
    }
    if (mine !== undefined && socketp === mine) {
      if (mine.what !== what) this.set.modify(mine, what);
      return 0;
    }
    let reg: Registration;
    if (mine !== undefined) {
      // libcurl announces the fd as new (socketp lost) while we still list it: re-sync.
      this.set.modify(mine, what);
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

class NestedAttachment implements TimerHost {
  readonly #set: EpollSet;
  readonly #poll: UvPoll;
  readonly #timer: UvTimer;
  #polling = false;
  #closed = false;
  binding!: Binding;

  constructor(multi: Multi) {
    this.#set = new EpollSet(DEFAULT_MAX_EVENTS);
    let poll: UvPoll | undefined;
    try {
      poll = new UvPoll(this.#set.epoll.fd, (status) => this.#onReadable(status));
      this.#timer = new UvTimer(() => this.binding.timeout());
    } catch (error) {
      poll?.close();
      this.#set.close();
      throw error;
    }
    this.#poll = poll;
    try {
      this.binding = new Binding(multi, this.#set, this);
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
    const wanted = this.#set.hasRegistrations();
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
    this.#set.dispatch(this.#set.wait(0));
    this.registrationsChanged();
  }

  release(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer.close();
    this.#poll.close(); // stops it first; the epoll fd may be closed right after (uv_poll docs)
    this.#set.close();
  }
}

/** Nested mode: each attach makes one epoll set, watched by one uv_poll on Node's loop. */
export const epoll: EpollAdapter = {
  name: 'epoll',
  attach(multi: Multi): EpollAttachment {
    checkAttachable(multi, 'epoll.attach');
    return new NestedAttachment(multi).binding;
  },
};

// ---------------------------------------------------------------------------------------------
// Mode 2: a reactor the application runs.

export interface EpollReactorOptions {
  /** Events taken per epoll_wait (default 256). */
  maxEvents?: number;
}

function checkTimeout(timeoutMs: unknown, where: string): number {
  if (typeof timeoutMs !== 'number') throw new TypeError(`${where}: timeoutMs must be a number`);
  if (!Number.isInteger(timeoutMs) || timeoutMs < -1 || timeoutMs > 0x7fffffff) {
    throw new RangeError(`${where}: timeoutMs must be an integer from -1 (no limit) to 2147483647`);
  }
  return timeoutMs;
}

/**
 * A blocking loop over one epoll set that several multis can share. libcurl's timers are not
 * fds here: each attached multi keeps a deadline, and epoll_wait's own timeout is the earliest
 * one. That costs no syscall when libcurl moves its timer (it does on every add and many
 * socketActions) and no extra fd, where a timerfd would need a timerfd_settime each time; a
 * timerfd only pays off when the set is waited on by someone else, which is the nested mode's
 * job (and there Node's own timer serves).
 */
export class EpollReactor {
  readonly #set: EpollSet;
  readonly #bindings = new Map<Binding, { deadline: number | null }>();
  #running = false;
  #stopRequested = false;
  #closed = false;

  constructor(options: EpollReactorOptions = {}) {
    const maxEvents = options.maxEvents ?? DEFAULT_MAX_EVENTS;
    if (!Number.isInteger(maxEvents) || maxEvents < 1 || maxEvents > 65536) {
      throw new RangeError('EpollReactor: maxEvents must be an integer from 1 to 65536');
    }
    this.#set = new EpollSet(maxEvents);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Attaches a multi; its transfers then progress while this reactor runs. */
  attach(multi: Multi): EpollAttachment {
    this.#checkOpen('attach');
    checkAttachable(multi, 'EpollReactor.attach');
    const timer = { deadline: null as number | null };
    const bindings = this.#bindings;
    const binding = new Binding(multi, this.#set, {
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
    checkTimeout(timeoutMs, 'EpollReactor.runOnce');
    if (this.#running) throw new Error('EpollReactor.runOnce: called re-entrantly from inside a callback');
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
    if (this.#running) throw new Error('EpollReactor.run: called re-entrantly from inside a callback');
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

  /** Detaches every multi and closes the epoll set. Idempotent; not from inside runOnce. */
  close(): void {
    if (this.#closed) return;
    if (this.#running)
      throw new Error('EpollReactor.close: called from inside runOnce/run; call stop() first');
    for (const binding of [...this.#bindings.keys()]) binding.detach();
    this.#closed = true;
    this.#set.close();
  }

  #checkOpen(where: string): void {
    if (this.#closed) throw new Error(`EpollReactor.${where}: the reactor is closed`);
  }

  #hasWork(): boolean {
    if (this.#set.hasRegistrations()) return true;
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
    } else if (wait === -1 && !this.#set.hasRegistrations()) {
      return 0; // nothing could ever wake epoll_wait
    }
    let dispatched = this.#set.dispatch(this.#set.wait(wait));
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
