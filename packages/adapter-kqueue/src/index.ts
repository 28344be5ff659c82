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
// same file on Linux over an emulation of kqueue(2) (test/emulation/). The loop around the
// kqueue (bindings, the two modes, timers) is @multisock/adapter-core's, shared with
// adapter-epoll; this file is the kqueue set. Statement numbers refer to CONTRACT.md.
import { debuglog } from 'node:util';
import {
  Registration as BaseRegistration,
  Binding,
  errnoName,
  LoopKind,
  type PollerSet,
  Reactor,
} from '@multisock/adapter-core';
import { CSelect, type LoopAdapter, type LoopAttachment, type Multi, Poll } from '@multisock/core';
import { KEVENT_FIELDS, type KeventBackend, type KeventConstants, nativeBackend } from './native.js';

export {
  KEVENT_FIELDS,
  type KeventBackend,
  type KeventConstants,
  KqueueUnavailableError,
} from './native.js';

const log = debuglog('multisock-kqueue');
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

/** The tag is in both filters' udata. */
class Registration extends BaseRegistration {
  /** Whether the kernel has this fd's EVFILT_READ / EVFILT_WRITE (as the receipts said). */
  read = false;
  write = false;
}

// Per-fd readiness gathered from one batch, before it becomes CSelect bits.
const SEEN_READ = 1;
const SEEN_WRITE = 2;
const SEEN_EOF = 4;
const SEEN_ERROR = 8;

class KqueueSet implements PollerSet<Registration> {
  readonly kq: number;
  readonly maxEvents: number;
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

  get fd(): number {
    return this.kq;
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

  /**
   * Waits up to `timeoutMs` (-1: no limit) for kevents (EINTR: an empty batch), then coalesces
   * READ and WRITE of one fd into one onReady(reg, IN|OUT) (CONTRACT (b) row 9), in the order
   * the fds first appear.
   */
  wait(timeoutMs: number, onReady: (reg: Registration, bits: number) => void): void {
    const count = this.#backend.kevent(this.kq, this.#empty, 0, this.#events, this.maxEvents, timeoutMs);
    if (count === -this.#c.EINTR) return;
    if (count < 0) throw new KqueueError('kevent', -count, `waiting on kqueue fd ${this.kq}`);
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
    for (const [fd, bits] of seen) {
      const reg = this.table.get(fd);
      // Removed or re-announced earlier in this batch: the kevent is not for the current
      // registration (CONTRACT (b) row 5, statement 13).
      if (reg === undefined || reg.tag !== seenTag.get(fd)) continue;
      const cselect = cselectFor(bits, reg.what);
      if (cselect !== 0) onReady(reg, cselect);
    }
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
// The attachment, the nested adapter and the reactor: adapter-core's loop over a KqueueSet.

class KqueueBinding extends Binding implements KqueueAttachment {
  get registrations(): ReadonlyMap<number, number> {
    return this.ownInterest();
  }
}

const kind = new LoopKind<KqueueAttachment>({ loop: 'a kqueue loop', log, Binding: KqueueBinding });

export interface KqueueReactorOptions {
  /** Events taken per kevent() (default 256). */
  maxEvents?: number;
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
export class KqueueReactor extends Reactor<KqueueAttachment> {
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
    super(kind, 'KqueueReactor', new KqueueSet(backend, maxEvents));
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
        kind.checkAttachable(multi, 'kqueue.attach');
        return kind.attachNested(multi, new KqueueSet(checked, DEFAULT_MAX_EVENTS));
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
    kind.checkAttachable(multi, 'kqueue.attach');
    return kind.attachNested(multi, new KqueueSet(backend, DEFAULT_MAX_EVENTS));
  },
};
