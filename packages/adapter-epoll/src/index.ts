// @multisock/adapter-epoll: libcurl's what-bits become epoll_ctl calls on a private epoll set,
// and epoll readiness becomes multi.socketAction(fd, CSelect bits).
//
// Two ways to run that set:
// - `epoll.attach(multi)`: the set is nested in Node's own loop through ONE uv_poll on the
//   epoll fd, and libcurl's timer is ONE uv_timer (both from @multisock/libuv-bindings);
// - `new EpollReactor()`: a loop the application runs itself (runOnce/run), blocking in
//   epoll_wait, typically in a worker thread. Several multis may share one reactor.
//
// The native part (./native.js) is only the syscalls. The loop around them (bindings, the two
// modes, timers) is @multisock/adapter-core's, shared with adapter-kqueue; this file is the
// epoll set: registrations keyed by fd, a generation tag per registration so stale events of a
// batch are dropped, and the CONTRACT.md (c) epoll mapping. Statement numbers refer to CONTRACT.md.
import { debuglog } from 'node:util';
import { Binding, errnoName, LoopKind, type PollerSet, Reactor, Registration } from '@multisock/adapter-core';
import { CSelect, type LoopAdapter, type LoopAttachment, type Multi, Poll } from '@multisock/core';
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

class EpollSet implements PollerSet<Registration> {
  readonly epoll: Epoll;
  readonly table = new Map<number, Registration>();
  #generation = 0;

  constructor(maxEvents: number) {
    this.epoll = new Epoll(maxEvents);
  }

  get fd(): number {
    return this.epoll.fd;
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

  /** MOD already falls back to ADD when the kernel dropped the fd. */
  resync(reg: Registration, what: number): void {
    this.modify(reg, what);
  }

  /** DEL; ENOENT/EBADF mean already gone (CONTRACT (b) row 6). The table entry goes first, so
   * even a failed DEL leaves no event to dispatch. */
  remove(reg: Registration, strict: boolean): void {
    if (this.table.get(reg.fd) === reg) this.table.delete(reg.fd);
    const rc = this.epoll.closed ? 0 : this.epoll.ctl(C.EPOLL_CTL_DEL, reg.fd, 0, 0);
    if (rc === 0 || rc === -C.ENOENT || rc === -C.EBADF || !strict) return;
    throw new EpollError('epoll_ctl(DEL)', -rc, `cannot stop watching fd ${reg.fd}`);
  }

  /** epoll_wait (throws on anything but success or EINTR, an empty batch), then one onReady
   * per event. */
  wait(timeoutMs: number, onReady: (reg: Registration, bits: number) => void): void {
    const count = this.epoll.wait(timeoutMs);
    if (count < 0) throw new EpollError('epoll_wait', -count, `on epoll fd ${this.epoll.fd}`);
    const events = this.epoll.events;
    for (let i = 0; i < count; i++) {
      const reg = this.table.get(events[i * 3]!);
      // Removed or re-announced earlier in this batch: the event is not for the current
      // registration (CONTRACT (b) row 5, statement 13).
      if (reg === undefined || reg.tag !== events[i * 3 + 1]) continue;
      const bits = cselectFor(events[i * 3 + 2]!, reg.what);
      if (bits !== 0) onReady(reg, bits);
    }
  }

  close(): void {
    this.table.clear();
    this.epoll.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The attachment, the nested adapter and the reactor: adapter-core's loop over an EpollSet.

class EpollBinding extends Binding implements EpollAttachment {
  get registrations(): number {
    return this.ownCount();
  }

  get interest(): ReadonlyMap<number, number> {
    return this.ownInterest();
  }
}

const kind = new LoopKind<EpollAttachment>({ loop: 'an epoll loop', log, Binding: EpollBinding });

/** Nested mode: each attach makes one epoll set, watched by one uv_poll on Node's loop. */
export const epoll: EpollAdapter = {
  name: 'epoll',
  attach(multi: Multi): EpollAttachment {
    kind.checkAttachable(multi, 'epoll.attach');
    return kind.attachNested(multi, new EpollSet(DEFAULT_MAX_EVENTS));
  },
};

export interface EpollReactorOptions {
  /** Events taken per epoll_wait (default 256). */
  maxEvents?: number;
}

/**
 * A blocking loop over one epoll set that several multis can share. libcurl's timers are not
 * fds here: each attached multi keeps a deadline, and epoll_wait's own timeout is the earliest
 * one. That costs no syscall when libcurl moves its timer (it does on every add and many
 * socketActions) and no extra fd, where a timerfd would need a timerfd_settime each time; a
 * timerfd only pays off when the set is waited on by someone else, which is the nested mode's
 * job (and there Node's own timer serves).
 */
export class EpollReactor extends Reactor<EpollAttachment> {
  constructor(options: EpollReactorOptions = {}) {
    const maxEvents = options.maxEvents ?? DEFAULT_MAX_EVENTS;
    if (!Number.isInteger(maxEvents) || maxEvents < 1 || maxEvents > 65536) {
      throw new RangeError('EpollReactor: maxEvents must be an integer from 1 to 65536');
    }
    super(kind, 'EpollReactor', new EpollSet(maxEvents));
  }
}
