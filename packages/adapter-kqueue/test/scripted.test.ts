// The kqueue mapping driven by scripted socket-callback sequences (CONTRACT (b) "U" rows): a
// real Multi whose SOCKETFUNCTION the adapter installs is called directly for FIFO fds that
// libcurl does not know, so multi.assign and multi.socketAction are recorded instead of reaching
// libcurl. The kernel side is real: the backend under test (emulated kqueue on Linux), wrapped to
// record every kevent() call.
import { fstatSync, writeSync } from 'node:fs';
import { CSelect, Multi, Poll, type SocketCallback } from '@multisock/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type KqueueAttachment, KqueueError, type KqueueReactor } from '../src/index.js';
import { adapterOver, backend, backendName } from './backend.js';
import { openFdCount } from './fds.js';
import { Fifo, type Kev } from './kevent.js';
import { RecordingBackend } from './recording.js';

const C = backend.constants;

let baseline: number;
let fifo: Fifo;
let recording: RecordingBackend;
let reactor: KqueueReactor;
let multi: Multi;
let attachment: KqueueAttachment;
let socketCallback: SocketCallback;
/** What multi.assign stored per fd, as libcurl would pass it back as socketp. */
let socketps: Map<number, unknown>;
let actions: Array<[number, number]>;
let onAction: ((fd: number, bits: number) => void) | null;

/** Calls the adapter's socket callback as libcurl would: with the socketp assigned so far,
 * which libcurl forgets at REMOVE (statement 12). */
function announce(fd: number, what: number): number | undefined {
  const result = socketCallback(null, fd, what, undefined, socketps.get(fd) ?? null);
  if (what === Poll.REMOVE) socketps.delete(fd);
  return result;
}

function describeChange(k: Kev): string {
  const filter =
    k.filter === C.EVFILT_READ ? 'READ' : k.filter === C.EVFILT_WRITE ? 'WRITE' : String(k.filter);
  const action = k.flags & C.EV_ADD ? 'ADD' : k.flags & C.EV_DELETE ? 'DELETE' : String(k.flags);
  return `${filter} ${action}`;
}

/** The changelists submitted since the last clear(), one string array per kevent() call. */
function changelists(): string[][] {
  return recording.changeCalls().map((c) => c.changes.map(describeChange));
}

beforeEach(() => {
  baseline = openFdCount();
  fifo = new Fifo();
  recording = new RecordingBackend(backend);
  reactor = new (adapterOver(recording).KqueueReactor)();
  multi = new Multi();
  socketps = new Map();
  actions = [];
  onAction = null;
  // Own properties shadow the native methods (which are read-only on the prototype).
  const setopt = multi.setopt.bind(multi) as (name: string, value: unknown) => void;
  const override = (name: string, value: unknown) => Object.defineProperty(multi, name, { value });
  override('setopt', (name: string, value: unknown) => {
    if (name === 'SOCKETFUNCTION') socketCallback = value as SocketCallback;
    setopt(name, value);
  });
  override('assign', (fd: number, socketp: unknown) => {
    socketps.set(fd, socketp);
  });
  override('socketAction', (fd: number, bits: number) => {
    actions.push([fd, bits]);
    onAction?.(fd, bits);
    return 0;
  });
  attachment = reactor.attach(multi);
  recording.clear();
});

afterEach(() => {
  reactor.close();
  multi.close();
  fifo.dispose();
  expect(openFdCount()).toBeLessThanOrEqual(baseline);
});

describe(`what-bits to kevent changelists (${backendName})`, () => {
  it('OUT then IN: one registration; WRITE added, then WRITE deleted and READ added in ONE call', () => {
    const fd = fifo.openBoth();
    announce(fd, Poll.OUT);
    announce(fd, Poll.IN);
    expect(changelists()).toEqual([['WRITE ADD'], ['READ ADD', 'WRITE DELETE']]);
    expect(attachment.registrations).toEqual(new Map([[fd, Poll.IN]]));
    // Every change carries EV_RECEIPT, is read back from as many receipts, and never EV_CLEAR.
    for (const call of recording.changeCalls()) {
      expect(call.nevents).toBe(call.changes.length);
      expect(call.timeoutMs).toBe(0);
      expect(call.rc).toBe(call.changes.length);
      for (const change of call.changes) {
        expect(change.flags & C.EV_RECEIPT).toBe(C.EV_RECEIPT);
        expect(change.flags & 0x20).toBe(0); // EV_CLEAR
      }
    }
  });

  it('IN, INOUT, IN: WRITE added then deleted; READ untouched (CONTRACT (b) row 2)', () => {
    const fd = fifo.openBoth();
    announce(fd, Poll.IN);
    announce(fd, Poll.INOUT);
    announce(fd, Poll.IN);
    expect(changelists()).toEqual([['READ ADD'], ['WRITE ADD'], ['WRITE DELETE']]);
  });

  it('an unchanged interest submits nothing, and REMOVE deletes only the filters registered', () => {
    const fd = fifo.openBoth();
    announce(fd, Poll.OUT);
    socketCallback(null, fd, Poll.OUT, undefined, socketps.get(fd)); // same mask again
    announce(fd, Poll.REMOVE);
    expect(changelists()).toEqual([['WRITE ADD'], ['WRITE DELETE']]);
    expect(attachment.registrations.size).toBe(0);
  });

  it('REMOVE of an fd never registered is a no-op that returns 0 (CONTRACT (b) row 3)', () => {
    const fd = fifo.openBoth();
    expect(announce(fd, Poll.REMOVE)).toBe(0);
    expect(announce(123_456, Poll.REMOVE)).toBe(0);
    expect(recording.calls).toEqual([]);
    expect(attachment.registrations.size).toBe(0);
  });

  it('REMOVE then a new announcement of the same fd: deleted first, then a fresh context (row 4)', () => {
    const fd = fifo.openBoth();
    announce(fd, Poll.IN);
    const first = socketps.get(fd);
    announce(fd, Poll.REMOVE);
    announce(fd, Poll.OUT);
    const second = socketps.get(fd);
    expect(changelists()).toEqual([['READ ADD'], ['READ DELETE'], ['WRITE ADD']]);
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    expect(attachment.registrations).toEqual(new Map([[fd, Poll.OUT]]));
  });

  it('drops an event of a batch whose fd was removed and re-announced earlier in it (row 5)', () => {
    const a = fifo.openBoth();
    const b = fifo.openBoth();
    writeSync(a, 'x'); // one FIFO: both fds readable
    announce(a, Poll.IN);
    announce(b, Poll.IN);
    // Whichever fd is dispatched first re-announces the other under a new context.
    onAction = (fd) => {
      onAction = null;
      const other = fd === a ? b : a;
      announce(other, Poll.REMOVE);
      announce(other, Poll.IN);
    };
    expect(reactor.runOnce(0)).toBe(1);
    const batch = recording.calls.filter((c) => c.changes.length === 0).at(-1)!;
    expect(batch.events.map((e) => e.ident).sort()).toEqual([a, b].sort()); // both were in it
    expect(actions).toHaveLength(1);
    // The new registration is reported on the next turn, with the new tag.
    expect(reactor.runOnce(0)).toBe(2);
    expect(actions).toHaveLength(3);
  });

  it('treats EBADF (fd closed) and ENOENT (number reused) on delete as done (row 6)', () => {
    const fd = fifo.openBoth();
    announce(fd, Poll.INOUT);
    fifo.close(fd); // the kernel drops its kevents
    expect(() => announce(fd, Poll.REMOVE)).not.toThrow();
    expect(attachment.registrations.size).toBe(0);

    const again = fifo.openBoth();
    announce(again, Poll.IN);
    fifo.close(again);
    const reused = fifo.openBoth(); // the same number, another open file
    expect(reused).toBe(again);
    expect(() => announce(reused, Poll.REMOVE)).not.toThrow();
    const receipts = recording.changeCalls().flatMap((c) => c.events.map((e) => e.data));
    expect(receipts).toEqual(expect.arrayContaining([C.EBADF, C.ENOENT]));
    expect(attachment.registrations.size).toBe(0);
  });

  it('NONE keeps the registration with no filter: nothing is dispatched (row 8)', () => {
    const fd = fifo.openBoth();
    writeSync(fd, 'x');
    announce(fd, Poll.INOUT);
    announce(fd, Poll.NONE);
    expect(changelists().at(-1)).toEqual(['READ DELETE', 'WRITE DELETE']);
    expect(attachment.registrations).toEqual(new Map([[fd, Poll.NONE]]));
    expect(reactor.runOnce(0)).toBe(0);
    expect(actions).toEqual([]);
  });

  it('coalesces READ and WRITE of one fd into ONE socketAction(fd, IN|OUT) (row 9)', () => {
    const fd = fifo.openBoth();
    writeSync(fd, 'x'); // readable, and writable
    announce(fd, Poll.INOUT);
    expect(reactor.runOnce(0)).toBe(1);
    const batch = recording.calls.at(-1)!;
    expect(batch.events.map((e) => e.filter).sort()).toEqual([C.EVFILT_READ, C.EVFILT_WRITE].sort());
    expect(actions).toEqual([[fd, CSelect.IN | CSelect.OUT]]);
  });

  it('reads EV_EOF as IN, and passes only CSelect bits (rows 10, 11)', () => {
    const { reader, writer } = fifo.openEnds();
    announce(writer, Poll.OUT);
    reactor.runOnce(0);
    expect(actions).toEqual([[writer, CSelect.OUT]]);
    fifo.close(reader); // EV_EOF on the WRITE filter
    reactor.runOnce(0);
    expect(actions[1]).toEqual([writer, CSelect.OUT | CSelect.IN]);
    for (const [, bits] of actions) expect(bits & ~(CSelect.IN | CSelect.OUT | CSelect.ERR)).toBe(0);
  });

  it('a filter the kernel refuses fails the callback and leaves nothing registered', () => {
    const fd = fifo.openBoth();
    fifo.close(fd);
    expect(() => announce(fd, Poll.INOUT)).toThrow(KqueueError);
    expect(() => announce(fd, Poll.INOUT)).toThrow(/EBADF/);
    expect(attachment.registrations.size).toBe(0);
    expect(() => announce(fd, 7)).toThrow(RangeError);
  });

  it('multi.close() drops every registration, even without REMOVE (row 20)', () => {
    const fd = fifo.openBoth();
    writeSync(fd, 'x');
    announce(fd, Poll.INOUT);
    multi.close();
    expect(attachment.registrations.size).toBe(0);
    expect(attachment.detached).toBe(true);
    expect(changelists().at(-1)).toEqual(['READ DELETE', 'WRITE DELETE']);
    expect(reactor.runOnce(0)).toBe(0);
    expect(actions).toEqual([]);
    expect(() => fstatSync(fd)).not.toThrow(); // the fd stays the caller's
  });
});
