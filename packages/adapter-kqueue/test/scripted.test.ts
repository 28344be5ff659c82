// The contract's unit rows on the kqueue backend through adapter-core's script driver (the
// shared suite, nested and reactor), plus what only kqueue shows: the exact changelists the
// backend submits (docs/contract.md#conformance rows 1, 2, 6, 8 and docs/contract.md#mapping (kqueue column)), read from the
// emulation's record of every kevent() call. Emulated only: the real kqueue records nothing.
import { writeSync } from 'node:fs';
import { Poll } from '@multisock/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Script } from '../../adapter-core/test/script/index.js';
import { describeScriptedRows, Fifos, type NativeReactor } from '../../adapter-core/test/script/rows.js';
import { backend, backendName, emulated } from './backend.js';
import { type Kev, loadTestAddon } from './emulation/index.js';

const addon = loadTestAddon();
describeScriptedRows({
  name: backendName,
  nested: addon.loop,
  newReactor: () => new addon.Reactor(64) as unknown as NativeReactor,
});

const C = backend.constants;

function describeChange(k: Kev): string {
  const filter =
    k.filter === C.EVFILT_READ ? 'READ' : k.filter === C.EVFILT_WRITE ? 'WRITE' : String(k.filter);
  const action = k.flags & C.EV_ADD ? 'ADD' : k.flags & C.EV_DELETE ? 'DELETE' : String(k.flags);
  return `${filter} ${action}`;
}

describe.runIf(emulated)(`kqueue changelists (${backendName})`, () => {
  let fifos: Fifos;
  let reactor: NativeReactor;
  let script: Script;

  /** The changelists submitted since the last call, one string array per kevent() call; each
   * change with EV_RECEIPT, never EV_CLEAR, read back from as many receipts. */
  const changelists = (): string[][] =>
    backend
      .take()
      .filter((c) => c.changes.length > 0)
      .map((call) => {
        expect(call.nevents).toBe(call.changes.length);
        expect(call.timeoutMs).toBe(0);
        expect(call.rc).toBe(call.changes.length);
        for (const change of call.changes) {
          expect(change.flags & C.EV_RECEIPT).toBe(C.EV_RECEIPT);
          expect(change.flags & C.EV_CLEAR).toBe(0);
        }
        return call.changes.map(describeChange);
      });

  beforeEach(() => {
    fifos = new Fifos();
    reactor = new addon.Reactor(64) as unknown as NativeReactor;
    script = new Script(reactor.loop);
    backend.record(true);
  });

  afterEach(() => {
    backend.record(false);
    script.detach();
    reactor.close();
    fifos.dispose();
  });

  it('OUT then IN: WRITE added, then WRITE deleted and READ added in ONE call (row 1)', () => {
    const fd = fifos.both();
    script.socket(fd, Poll.OUT);
    script.socket(fd, Poll.IN, 0);
    expect(changelists()).toEqual([['WRITE ADD'], ['READ ADD', 'WRITE DELETE']]);
    expect(script.registrations).toBe(1);
  });

  it('IN, INOUT, IN: WRITE added then deleted; READ untouched (row 2)', () => {
    const fd = fifos.both();
    script.socket(fd, Poll.IN);
    script.socket(fd, Poll.INOUT, 0);
    script.socket(fd, Poll.IN, 0);
    expect(changelists()).toEqual([['READ ADD'], ['WRITE ADD'], ['WRITE DELETE']]);
  });

  it('an unchanged interest submits nothing; REMOVE deletes only the filters registered', () => {
    const fd = fifos.both();
    script.socket(fd, Poll.OUT);
    script.socket(fd, Poll.OUT, 0);
    script.socket(fd, Poll.REMOVE);
    expect(changelists()).toEqual([['WRITE ADD'], ['WRITE DELETE']]);
  });

  it('REMOVE of an fd never registered submits nothing (row 3)', () => {
    script.socket(fifos.both(), Poll.REMOVE);
    expect(backend.take()).toEqual([]);
  });

  it('a fresh announcement of a listed fd submits every filter again, under a new tag', () => {
    const fd = fifos.both();
    script.socket(fd, Poll.IN);
    script.socket(fd, Poll.IN); // FRESH: the socket we registered went without a REMOVE
    const calls = backend.take();
    expect(calls.map((c) => c.changes.map(describeChange))).toEqual([
      ['READ ADD'],
      ['READ ADD', 'WRITE DELETE'],
    ]);
    expect(calls[1]!.changes[0]!.udata).not.toBe(calls[0]!.changes[0]!.udata);
  });

  it('EBADF (fd closed) and ENOENT (number reused) on delete are done (row 6)', () => {
    const fd = fifos.both();
    script.socket(fd, Poll.INOUT);
    fifos.close(fd);
    expect(script.socket(fd, Poll.REMOVE)).toBe(0);
    const again = fifos.both();
    script.socket(again, Poll.IN);
    fifos.close(again);
    expect(fifos.both()).toBe(again);
    expect(script.socket(again, Poll.REMOVE)).toBe(0);
    const receipts = backend.take().flatMap((c) => c.events.map((e) => e.data));
    expect(receipts).toEqual(expect.arrayContaining([C.EBADF, C.ENOENT]));
    expect(script.registrations).toBe(0);
    expect(script.lastError).toBeNull();
  });

  it('NONE deletes both filters and keeps the registration (row 8)', () => {
    const fd = fifos.both();
    writeSync(fd, 'x');
    script.socket(fd, Poll.INOUT);
    script.socket(fd, Poll.NONE, 0);
    expect(changelists().at(-1)).toEqual(['READ DELETE', 'WRITE DELETE']);
    expect(script.registrations).toBe(1);
    expect(reactor.runOnce(0)).toBe(0);
  });

  it('a filter the kernel refuses fails the call with the filter named, and leaves nothing registered', () => {
    const fd = fifos.both();
    fifos.close(fd);
    expect(script.socket(fd, Poll.INOUT)).toBe(-C.EBADF);
    expect(script.lastError).toBe(`kevent(EVFILT_READ, EV_ADD): on fd ${fd}`);
    expect(script.registrations).toBe(0);
  });

  it('reactor close() leaves no filter behind: the kqueue goes', () => {
    const fd = fifos.both();
    script.socket(fd, Poll.INOUT);
    reactor.close();
    expect(script.registrations).toBe(0);
  });
});
