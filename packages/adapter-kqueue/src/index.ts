// @multisock/adapter-kqueue: libcurl's what-bits become kevent changelists on a private kqueue,
// and kevents become multi.socketAction(fd, CSelect bits). For macOS and the BSDs.
//
// Two ways to run that kqueue:
// - `kqueue.attach(multi)`: the kqueue is nested in Node's own loop through ONE uv_poll on the
//   kqueue fd, and libcurl's timer is ONE uv_timer (both from @multisock/libuv-bindings);
// - `new KqueueReactor()`: a loop the application runs itself (runOnce/run), blocking in
//   kevent(), typically in a worker thread. Several multis may share one reactor.
//
// What makes kqueue different from epoll: read and write are separate filters, each keyed by
// (fd, filter). So the adapter keeps, per socket, which filters the kernel has, submits only
// the ones that change (IN->OUT deletes READ and adds WRITE) in one kevent() call with
// EV_RECEIPT, and reads the receipts: deleting a filter that is gone answers ENOENT (or EBADF
// once the fd is closed), which counts as done. Readiness arrives as one kevent per filter;
// READ and WRITE for one fd in a batch become one socketAction(fd, IN|OUT).
//
// The syscalls come from a backend (./native.js): the real one on macOS/BSD; the tests run this
// same file on Linux over an emulation of kqueue(2) (test/emulation/). Statement numbers refer
// to CONTRACT.md.
import { constants as osConstants } from 'node:os';
import { debuglog } from 'node:util';
import {
  CSelect,
  CurlMultiError,
  type LoopAdapter,
  type LoopAttachment,
  type Multi,
  Poll,
} from '@multisock/core';
import { PollEvent, Poll as UvPoll, Timer as UvTimer } from '@multisock/libuv-bindings';
import { KEVENT_FIELDS, type KeventBackend, type KeventConstants, nativeBackend } from './native.js';

export {
  KEVENT_FIELDS,
  type KeventBackend,
  type KeventConstants,
  KqueueUnavailableError,
} from './native.js';

const log = debuglog('multisock-kqueue');
const SOCKET_TIMEOUT = -1;
const DEFAULT_MAX_EVENTS = 256;
const F = KEVENT_FIELDS;

/** A failed kqueue syscall: `code` is the errno name ('EBADF'), `errno` its number. */
export class KqueueError extends Error {
  override name = 'KqueueError';
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
export interface KqueueAttachment extends LoopAttachment {
  readonly multi: Multi;
  /** Live registrations of this multi: fd -> the what-bits (Poll.IN/OUT/INOUT/NONE) watched. */
  readonly registrations: ReadonlyMap<number, number>;
  /** True while libcurl's single timer is armed (neither fired nor deleted). */
  readonly timerArmed: boolean;
  readonly detached: boolean;
}

export interface KqueueAdapter extends LoopAdapter {
  readonly name: 'kqueue';
  attach(multi: Multi): KqueueAttachment;
}

// ---------------------------------------------------------------------------------------------
// One kqueue and its registration table.

/** The per-fd context, stored as libcurl's socketp through multi.assign. */
class Registration {
  /** Whether the kernel has this fd's EVFILT_READ / EVFILT_WRITE (as the receipts said). */
  read = false;
  write = false;
  constructor(
    readonly fd: number,
    readonly owner: Binding,
    /** The what-bits libcurl asked for (Poll.NONE/IN/OUT/INOUT). */
    public what: number,
    /** The generation in both filters' udata: kevents carrying another tag are stale. */
    public tag: number,
  ) {}
}

function checkWhat(what: number): void {
  // NONE is never sent in practice (statement 8): it keeps the registration with no filter.
  if (what !== Poll.NONE && what !== Poll.IN && what !== Poll.OUT && what !== Poll.INOUT) {
    throw new RangeError(`the socket callback got what=${what}, which is not a CURL_POLL_* value`);
  }
}

// Per-fd readiness gathered from one batch, before it becomes CSelect bits.
const SEEN_READ = 1;
const SEEN_WRITE = 2;
const SEEN_EOF = 4;
const SEEN_ERROR = 8;

class KqueueSet {
  readonly kq: number;
  readonly maxEvents: number;
  /** fd -> registration. fd numbers are unique in the process, so one table serves every
   * multi attached to the set. */
  readonly table = new Map<number, Registration>();
  readonly #backend: KeventBackend;
  readonly #c: KeventConstants;
  readonly #events: Int32Array;
  // At most one change per filter per call: two records of changes, two of receipts.
  readonly #changes = new Int32Array(2 * F);
  readonly #receipts = new Int32Array(2 * F);
  readonly #empty = new Int32Array(0);
  // One batch's readiness per fd (SEEN_* bits) and the tag it came with; reused.
  readonly #seen = new Map<number, number>();
  readonly #seenTag = new Map<number, number>();
  #generation = 0;
  #closed = false;

  constructor(backend: KeventBackend, maxEvents: number) {
    this.#backend = backend;
    this.#c = backend.constants;
    this.maxEvents = maxEvents;
    this.#events = new Int32Array(maxEvents * F);
    const kq = backend.kqueue();
    if (kq < 0) throw new KqueueError('kqueue', -kq, 'cannot make a kqueue');
    this.kq = kq;
  }

  get closed(): boolean {
    return this.#closed;
  }

  #nextTag(): number {
    // Positive int32: it travels in udata as an int32.
    this.#generation = (this.#generation % 0x7fffffff) + 1;
    return this.#generation;
  }

  add(owner: Binding, fd: number, what: number): Registration {
    const reg = new Registration(fd, owner, what, this.#nextTag());
    this.table.set(fd, reg);
    try {
      this.#submit(reg, what, true, false);
    } catch (error) {
      this.remove(reg, false); // whichever filter did get added
      throw error;
    }
    return reg;
  }

  /** A new interest set for a registration: only the filters that change are submitted. */
  modify(reg: Registration, what: number): void {
    this.#submit(reg, what, true, false);
    reg.what = what;
  }

  /** libcurl announces as new (socketp lost) an fd we still list: the kernel may have dropped
   * its filters when the fd was closed, so re-add every wanted filter under a new tag and
   * delete the others, whatever we believed they were. */
  resync(reg: Registration, what: number): void {
    reg.tag = this.#nextTag();
    this.#submit(reg, what, true, true);
    reg.what = what;
  }

  /** EV_DELETE of the filters registered; ENOENT/EBADF mean already gone (CONTRACT (b) row 6).
   * The table entry goes first, so even a failed delete leaves no event to dispatch. */
  remove(reg: Registration, strict: boolean): void {
    if (this.table.get(reg.fd) === reg) this.table.delete(reg.fd);
    if (this.#closed) return;
    this.#submit(reg, Poll.NONE, strict, false);
  }

  /**
   * Diffs the filters the kernel has for `reg` against `what` and submits the difference in
   * ONE kevent() call, every change with EV_RECEIPT so each gets an EV_ERROR entry (data 0 on
   * success) and no pending event is drained (FreeBSD kqueue(2), EV_RECEIPT). Level-triggered:
   * never EV_CLEAR (statement 29).
   */
  #submit(reg: Registration, what: number, strict: boolean, everything: boolean): void {
    const c = this.#c;
    const changes = this.#changes;
    let n = 0;
    const put = (filter: number, add: boolean) => {
      const r = n * F;
      changes[r] = reg.fd;
      changes[r + 1] = filter;
      changes[r + 2] = (add ? c.EV_ADD : c.EV_DELETE) | c.EV_RECEIPT;
      changes[r + 3] = 0;
      changes[r + 4] = 0;
      changes[r + 5] = reg.tag;
      n++;
    };
    const wantRead = (what & Poll.IN) !== 0;
    const wantWrite = (what & Poll.OUT) !== 0;
    if (wantRead !== reg.read || (everything && wantRead)) put(c.EVFILT_READ, wantRead);
    else if (everything) put(c.EVFILT_READ, false);
    if (wantWrite !== reg.write || (everything && wantWrite)) put(c.EVFILT_WRITE, wantWrite);
    else if (everything) put(c.EVFILT_WRITE, false);
    if (n === 0) return;

    const rc = this.#backend.kevent(this.kq, changes, n, this.#receipts, n, 0);
    if (rc < 0 && rc !== -c.EINTR) {
      throw new KqueueError('kevent', -rc, `cannot change the filters of fd ${reg.fd}`);
    }
    let failure: KqueueError | undefined;
    if (rc === -c.EINTR) {
      // "When kevent() call fails with EINTR error, all changes in the changelist have been
      // applied" (kqueue(2)); only the receipts are lost.
      reg.read = wantRead;
      reg.write = wantWrite;
    }
    for (let i = 0; i < rc; i++) {
      const r = i * F;
      const filter = this.#receipts[r + 1]!;
      const errno = this.#receipts[r + 4]!;
      if ((this.#receipts[r + 2]! & c.EV_ERROR) === 0) continue; // not a receipt
      const adding = filter === c.EVFILT_READ ? wantRead : wantWrite;
      let done = errno === 0;
      // Deleting what the kernel no longer has (never added, or dropped at close()) is done.
      if (!adding && (errno === c.ENOENT || errno === c.EBADF)) done = true;
      if (done) {
        if (filter === c.EVFILT_READ) reg.read = adding;
        else reg.write = adding;
      } else if (failure === undefined) {
        const name = filter === c.EVFILT_READ ? 'EVFILT_READ' : 'EVFILT_WRITE';
        const op = adding ? 'EV_ADD' : 'EV_DELETE';
        failure = new KqueueError(`kevent(${name}, ${op})`, errno, `on fd ${reg.fd}`);
      }
    }
    if (failure !== undefined) {
      if (strict) throw failure;
      log('%s (ignored)', failure.message);
    }
  }

  /** Waits up to `timeoutMs` (-1: no limit) for kevents; EINTR yields 0. */
  wait(timeoutMs: number): number {
    const n = this.#backend.kevent(this.kq, this.#empty, 0, this.#events, this.maxEvents, timeoutMs);
    if (n === -this.#c.EINTR) return 0;
    if (n < 0) throw new KqueueError('kevent', -n, `waiting on kqueue fd ${this.kq}`);
    return n;
  }

  /**
   * Dispatches the `count` kevents of the last wait: READ and WRITE of one fd are coalesced
   * into one socketAction(fd, IN|OUT) (CONTRACT (b) row 9), in the order the fds first appear.
   * Returns how many socketActions were made.
   */
  dispatch(count: number): number {
    const c = this.#c;
    const events = this.#events;
    const seen = this.#seen;
    const seenTag = this.#seenTag;
    seen.clear();
    seenTag.clear();
    for (let i = 0; i < count; i++) {
      const r = i * F;
      const fd = events[r]!;
      const filter = events[r + 1]!;
      const flags = events[r + 2]!;
      const tag = events[r + 5]!;
      const reg = this.table.get(fd);
      if (reg === undefined || reg.tag !== tag) continue; // from a registration that is gone
      let bits = seen.get(fd) ?? 0;
      if (filter === c.EVFILT_READ) bits |= SEEN_READ;
      else if (filter === c.EVFILT_WRITE) bits |= SEEN_WRITE;
      if (flags & c.EV_EOF) bits |= SEEN_EOF;
      if (flags & c.EV_ERROR) bits |= SEEN_ERROR;
      seen.set(fd, bits);
      seenTag.set(fd, tag);
    }
    let dispatched = 0;
    for (const [fd, bits] of seen) {
      const reg = this.table.get(fd);
      // Removed or re-announced earlier in this batch: the kevent is not for the current
      // registration (CONTRACT (b) row 5, statement 13).
      if (reg === undefined || reg.tag !== seenTag.get(fd)) continue;
      const cselect = cselectFor(bits, reg.what);
      if (cselect === 0) continue;
      dispatched++;
      reg.owner.socketAction(fd, cselect);
    }
    return dispatched;
  }

  hasRegistrations(): boolean {
    return this.table.size > 0;
  }

  /** Closes the kqueue, which drops every filter it holds. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.table.clear();
    this.#backend.close(this.kq);
  }
}

/** SEEN_* bits -> CSelect bits (never Poll bits: Poll.REMOVE == CSelect.ERR, statement 1),
 * per CONTRACT (c): EVFILT_READ->IN, EVFILT_WRITE->OUT, EV_EOF->IN, EV_ERROR->ERR. READ/WRITE
 * count only while still wanted: the interest may have changed earlier in the batch. */
function cselectFor(seen: number, what: number): number {
  let bits = 0;
  if (seen & SEEN_READ && what & Poll.IN) bits |= CSelect.IN;
  if (seen & SEEN_WRITE && what & Poll.OUT) bits |= CSelect.OUT;
  if (seen & SEEN_EOF) bits |= CSelect.IN;
  if (seen & SEEN_ERROR) bits |= CSelect.ERR;
  return bits;
}

// ---------------------------------------------------------------------------------------------
// One multi attached to a kqueue: its socket and timer callbacks.

/** Every multi attached to any kqueue attachment or reactor, to refuse a second attach. */
const attachedMultis = new WeakSet<Multi>();

function checkAttachable(multi: Multi, where: string): void {
  if (multi.closed) throw CurlMultiError.fromCode(1, `${where}: the Multi is closed`);
  if (attachedMultis.has(multi)) {
    throw new Error(`${where}: this Multi is already attached to a kqueue loop; detach it first`);
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

class Binding implements KqueueAttachment {
  #timerArmed = false;
  #detached = false;
  readonly #unsubscribeClose: () => void;

  constructor(
    readonly multi: Multi,
    private readonly set: KqueueSet,
    private readonly host: TimerHost,
  ) {
    multi.setopt('SOCKETFUNCTION', (_easy, fd, what, _clientp, socketp) => this.#onSocket(fd, what, socketp));
    multi.setopt('TIMERFUNCTION', (_multi, timeoutMs) => this.#onTimer(timeoutMs));
    attachedMultis.add(multi);
    // After curl_multi_cleanup nothing of this multi may stay registered (statements 20, 34).
    this.#unsubscribeClose = multi.onClose(() => this.#release());
  }

  get registrations(): ReadonlyMap<number, number> {
    const out = new Map<number, number>();
    for (const reg of this.set.table.values()) if (reg.owner === this) out.set(reg.fd, reg.what);
    return out;
  }

  get timerArmed(): boolean {
    return this.#timerArmed;
  }

  get detached(): boolean {
    return this.#detached;
  }

  detach(): void {
    if (this.#detached) return;
    if (!this.multi.closed) {
      // First, so a detach refused by the core (inside a libcurl callback) changes nothing.
      this.multi.setopt('SOCKETFUNCTION', null);
      this.multi.setopt('TIMERFUNCTION', null);
    }
    this.#release();
  }

  /** Drops every registration and the timer without touching the multi. */
  #release(): void {
    if (this.#detached) return;
    this.#detached = true;
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
    if (this.#detached) return 0;
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
    if (!this.#detached) this.#setTimer(timeoutMs);
    return 0;
  }

  #setTimer(timeoutMs: number): void {
    if (timeoutMs < 0) {
      if (this.#timerArmed) this.host.disarm();
      this.#timerArmed = false;
    } else {
      this.host.arm(timeoutMs);
      this.#timerArmed = true;
    }
  }

  /** The timer fired: it is consumed (7.88.1 sends no -1 afterwards, statement 20). */
  timeout(): void {
    this.#timerArmed = false;
    this.socketAction(SOCKET_TIMEOUT, 0);
  }

  socketAction(fd: number, bits: number): void {
    if (this.#detached) return;
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
  readonly #set: KqueueSet;
  readonly #poll: UvPoll;
  readonly #timer: UvTimer;
  #polling = false;
  #closed = false;
  binding!: Binding;

  constructor(backend: KeventBackend, multi: Multi) {
    this.#set = new KqueueSet(backend, DEFAULT_MAX_EVENTS);
    try {
      // A kqueue fd is readable while events are pending (kqueue(2), EVFILT_READ: Kqueues).
      this.#poll = new UvPoll(this.#set.kq, (status) => this.#onReadable(status));
      this.#timer = new UvTimer(() => this.binding.timeout());
    } catch (error) {
      this.#set.close();
      throw error;
    }
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
    this.#poll.close(); // stops it first; the kqueue fd may be closed right after (uv_poll docs)
    this.#set.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Mode 2: a reactor the application runs.

export interface KqueueReactorOptions {
  /** Events taken per kevent() (default 256). */
  maxEvents?: number;
}

function checkTimeout(timeoutMs: unknown, where: string): number {
  if (typeof timeoutMs !== 'number') throw new TypeError(`${where}: timeoutMs must be a number`);
  if (!Number.isInteger(timeoutMs) || timeoutMs < -1 || timeoutMs > 0x7fffffff) {
    throw new RangeError(`${where}: timeoutMs must be an integer from -1 (no limit) to 2147483647`);
  }
  return timeoutMs;
}

/** Where createKqueueAdapter hands its backend to the reactor; not exported. */
const kBackend: unique symbol = Symbol('multisock.kqueue.backend');
interface ReactorInternals extends KqueueReactorOptions {
  [kBackend]?: KeventBackend;
}

/**
 * A blocking loop over one kqueue that several multis can share. libcurl's timers are not
 * kevents here: each attached multi keeps a deadline, and kevent()'s own timeout is the
 * earliest one, so moving libcurl's timer (it does on every add and many socketActions) costs
 * no syscall.
 */
export class KqueueReactor {
  readonly #set: KqueueSet;
  readonly #bindings = new Map<Binding, { deadline: number | null }>();
  #running = false;
  #stopRequested = false;
  #closed = false;

  /** Uses the real kqueue: throws KqueueUnavailableError where there is none (Linux). */
  constructor(options: KqueueReactorOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('KqueueReactor: options must be an object');
    }
    const maxEvents = options.maxEvents ?? DEFAULT_MAX_EVENTS;
    if (!Number.isInteger(maxEvents) || maxEvents < 1 || maxEvents > 65536) {
      throw new RangeError('KqueueReactor: maxEvents must be an integer from 1 to 65536');
    }
    const backend = (options as ReactorInternals)[kBackend] ?? nativeBackend();
    this.#set = new KqueueSet(backend, maxEvents);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Attaches a multi; its transfers then progress while this reactor runs. */
  attach(multi: Multi): KqueueAttachment {
    this.#checkOpen('attach');
    checkAttachable(multi, 'KqueueReactor.attach');
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
    checkTimeout(timeoutMs, 'KqueueReactor.runOnce');
    if (this.#running) throw new Error('KqueueReactor.runOnce: called re-entrantly from inside a callback');
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
    if (this.#running) throw new Error('KqueueReactor.run: called re-entrantly from inside a callback');
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

  /** Detaches every multi and closes the kqueue. Idempotent; not from inside runOnce/run. */
  close(): void {
    if (this.#closed) return;
    if (this.#running)
      throw new Error('KqueueReactor.close: called from inside runOnce/run; call stop() first');
    for (const binding of [...this.#bindings.keys()]) binding.detach();
    this.#closed = true;
    this.#set.close();
  }

  #checkOpen(where: string): void {
    if (this.#closed) throw new Error(`KqueueReactor.${where}: the reactor is closed`);
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
      return 0; // nothing could ever wake kevent()
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

// ---------------------------------------------------------------------------------------------
// The public adapter, and the seam that lets another backend (the tests' emulation) drive it.

function checkBackend(backend: unknown): KeventBackend {
  const b = backend as Partial<KeventBackend> | null;
  if (
    typeof b !== 'object' ||
    b === null ||
    typeof b.kqueue !== 'function' ||
    typeof b.kevent !== 'function' ||
    typeof b.close !== 'function' ||
    typeof b.constants !== 'object'
  ) {
    throw new TypeError('createKqueueAdapter: backend must have kqueue(), kevent(), close() and constants');
  }
  const names: Array<keyof KeventConstants> = [
    'EVFILT_READ',
    'EVFILT_WRITE',
    'EV_ADD',
    'EV_DELETE',
    'EV_ENABLE',
    'EV_DISABLE',
    'EV_RECEIPT',
    'EV_EOF',
    'EV_ERROR',
    'ENOENT',
    'EBADF',
    'EINTR',
    'EINVAL',
  ];
  for (const name of names) {
    if (!Number.isInteger(b.constants?.[name])) {
      throw new TypeError(`createKqueueAdapter: backend.constants.${name} must be an integer`);
    }
  }
  return b as KeventBackend;
}

/**
 * The adapter and reactor over a given kevent backend. `kqueue` and `KqueueReactor` below are
 * this over the real kqueue; the package's tests pass an emulation over epoll to run the same
 * code on Linux.
 */
export function createKqueueAdapter(backend: KeventBackend): {
  kqueue: KqueueAdapter;
  KqueueReactor: new (options?: KqueueReactorOptions) => KqueueReactor;
} {
  const checked = checkBackend(backend);
  return {
    kqueue: {
      name: 'kqueue',
      attach(multi: Multi): KqueueAttachment {
        checkAttachable(multi, 'kqueue.attach');
        return new NestedAttachment(checked, multi).binding;
      },
    },
    KqueueReactor: class extends KqueueReactor {
      constructor(options: KqueueReactorOptions = {}) {
        if (typeof options !== 'object' || options === null) {
          throw new TypeError('KqueueReactor: options must be an object');
        }
        super({ ...options, [kBackend]: checked } as ReactorInternals);
      }
    },
  };
}

/** Nested mode: each attach makes one kqueue, watched by one uv_poll on Node's loop. Throws
 * KqueueUnavailableError where there is no kqueue (Linux: use @multisock/adapter-epoll). */
export const kqueue: KqueueAdapter = {
  name: 'kqueue',
  attach(multi: Multi): KqueueAttachment {
    const backend = nativeBackend();
    checkAttachable(multi, 'kqueue.attach');
    return new NestedAttachment(backend, multi).binding;
  },
};
