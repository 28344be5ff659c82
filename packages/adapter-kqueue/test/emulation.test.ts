// The kevent backend against kqueue(2)'s documented semantics (FreeBSD's manual page), with
// FIFOs as descriptors. On Linux this tests the emulation over epoll that the adapter's tests
// run on; on macOS and FreeBSD (the workflow) the very same assertions run against the real
// kqueue, which is what keeps the emulation honest.
import { fstatSync, readSync, writeSync } from 'node:fs';
import { PollEvent, Poll as UvPoll } from '@multisock/libuv-bindings';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backend, backendName } from './backend.js';
import { openFdCount } from './fds.js';
import { call, Fifo, kev } from './kevent.js';

const C = backend.constants;
const READ = C.EVFILT_READ;
const WRITE = C.EVFILT_WRITE;

let fifo: Fifo;
let kq: number;
let baseline: number;

beforeEach(() => {
  baseline = openFdCount();
  fifo = new Fifo();
  kq = backend.kqueue();
  expect(kq).toBeGreaterThanOrEqual(0);
});

afterEach(() => {
  expect(backend.close(kq)).toBe(0);
  fifo.dispose();
  expect(openFdCount()).toBeLessThanOrEqual(baseline);
});

describe(`kqueue(2) semantics (${backendName})`, () => {
  it('reports EVFILT_READ level-triggered, with the udata given and the bytes readable in data', () => {
    const { reader, writer } = fifo.openEnds();
    expect(call(backend, kq, [kev(reader, READ, C.EV_ADD, 77)], 0).rc).toBe(0);
    expect(call(backend, kq, [], 8).rc).toBe(0);
    writeSync(writer, 'hello');
    const first = call(backend, kq, [], 8);
    expect(first.events).toHaveLength(1);
    expect(first.events[0]).toMatchObject({ ident: reader, filter: READ, udata: 77, data: 5 });
    expect(first.events[0]!.flags & (C.EV_EOF | C.EV_ERROR)).toBe(0);
    // The condition still holds, so it is reported again until the data is read.
    expect(call(backend, kq, [], 8).rc).toBe(1);
    readSync(reader, Buffer.alloc(16));
    expect(call(backend, kq, [], 8).rc).toBe(0);
  });

  it('keys a kevent by (ident, filter): re-adding modifies udata, READ and WRITE are separate', () => {
    const fd = fifo.openBoth();
    writeSync(fd, 'x'); // readable, and writable while the pipe has room
    call(backend, kq, [kev(fd, READ, C.EV_ADD, 1)], 0);
    call(backend, kq, [kev(fd, READ, C.EV_ADD, 2)], 0);
    expect(call(backend, kq, [], 8).events).toEqual([expect.objectContaining({ filter: READ, udata: 2 })]);
    call(backend, kq, [kev(fd, WRITE, C.EV_ADD, 3)], 0);
    const both = call(backend, kq, [], 8).events;
    expect(both.map((e) => [e.ident, e.filter, e.udata]).sort()).toEqual(
      [
        [fd, READ, 2],
        [fd, WRITE, 3],
      ].sort(),
    );
    expect(both.find((e) => e.filter === WRITE)!.data).toBeGreaterThan(0); // room in the buffer
  });

  it('EV_RECEIPT: one EV_ERROR entry per change, data 0 on success, and no pending event drained', () => {
    const fd = fifo.openBoth();
    writeSync(fd, 'x');
    call(backend, kq, [kev(fd, READ, C.EV_ADD)], 0); // READ is pending now
    const receipts = call(
      backend,
      kq,
      [kev(fd, WRITE, C.EV_ADD | C.EV_RECEIPT, 9), kev(fd, READ, C.EV_DELETE | C.EV_RECEIPT, 8)],
      8,
    );
    expect(receipts.rc).toBe(2);
    expect(receipts.events).toEqual([
      { ident: fd, filter: WRITE, flags: C.EV_ERROR, fflags: 0, data: 0, udata: 9 },
      { ident: fd, filter: READ, flags: C.EV_ERROR, fflags: 0, data: 0, udata: 8 },
    ]);
    // The WRITE filter is there, the READ one gone.
    expect(call(backend, kq, [], 8).events.map((e) => e.filter)).toEqual([WRITE]);
  });

  it('EV_DELETE of a filter never added answers ENOENT', () => {
    const fd = fifo.openBoth();
    const { events } = call(backend, kq, [kev(fd, WRITE, C.EV_DELETE | C.EV_RECEIPT)], 1);
    expect(events).toEqual([expect.objectContaining({ filter: WRITE, flags: C.EV_ERROR, data: C.ENOENT })]);
    // Without EV_RECEIPT an error still gets its entry while there is room...
    expect(call(backend, kq, [kev(fd, READ, C.EV_DELETE)], 4).events).toEqual([
      expect.objectContaining({ ident: fd, filter: READ, flags: C.EV_ERROR, data: C.ENOENT }),
    ]);
    // ...and fails the call when there is none.
    expect(call(backend, kq, [kev(fd, READ, C.EV_DELETE)], 0).rc).toBe(-C.ENOENT);
  });

  it('close() of a descriptor removes its kevents: EBADF while closed, ENOENT once the number is reused', () => {
    const fd = fifo.openBoth();
    writeSync(fd, 'x');
    call(backend, kq, [kev(fd, READ, C.EV_ADD)], 0);
    fifo.close(fd);
    expect(call(backend, kq, [], 8).rc).toBe(0); // nothing reported for it any more
    expect(call(backend, kq, [kev(fd, READ, C.EV_DELETE | C.EV_RECEIPT)], 1).events[0]!.data).toBe(C.EBADF);
    expect(call(backend, kq, [kev(fd, READ, C.EV_ADD | C.EV_RECEIPT)], 1).events[0]!.data).toBe(C.EBADF);
    const again = fifo.openBoth(); // lowest free number: the same one
    expect(again).toBe(fd);
    expect(call(backend, kq, [kev(fd, READ, C.EV_DELETE | C.EV_RECEIPT)], 1).events[0]!.data).toBe(C.ENOENT);
  });

  it('sets EV_EOF on READ when the last writer is gone, and on WRITE when the reader is gone', () => {
    const { reader, writer } = fifo.openEnds();
    call(backend, kq, [kev(reader, READ, C.EV_ADD)], 0);
    fifo.close(writer);
    const [readEof] = call(backend, kq, [], 8).events;
    expect(readEof).toMatchObject({ ident: reader, filter: READ });
    expect(readEof!.flags & C.EV_EOF).toBe(C.EV_EOF);
    call(backend, kq, [kev(reader, READ, C.EV_DELETE)], 0);

    const ends = new Fifo();
    try {
      const pair = ends.openEnds();
      call(backend, kq, [kev(pair.writer, WRITE, C.EV_ADD)], 0);
      const [open] = call(backend, kq, [], 8).events;
      expect(open).toMatchObject({ ident: pair.writer, filter: WRITE });
      expect(open!.flags & C.EV_EOF).toBe(0);
      ends.close(pair.reader);
      const [writeEof] = call(backend, kq, [], 8).events;
      expect(writeEof).toMatchObject({ ident: pair.writer, filter: WRITE });
      expect(writeEof!.flags & C.EV_EOF).toBe(C.EV_EOF);
    } finally {
      ends.dispose(); // closing the writer removes its kevent
    }
  });

  it('answers EINVAL for a filter it does not know', () => {
    const fd = fifo.openBoth();
    expect(call(backend, kq, [kev(fd, -100, C.EV_ADD | C.EV_RECEIPT)], 1).events[0]!.data).toBe(C.EINVAL);
  });

  it('waits up to the timeout, and returns at once when nevents is 0', () => {
    const fd = fifo.openBoth();
    call(backend, kq, [kev(fd, READ, C.EV_ADD)], 0);
    let start = performance.now();
    expect(call(backend, kq, [], 8, 60).rc).toBe(0);
    expect(performance.now() - start).toBeGreaterThanOrEqual(50);
    start = performance.now();
    expect(call(backend, kq, [], 0, 1000).rc).toBe(0);
    expect(performance.now() - start).toBeLessThan(500);
  });

  // macOS keeps applying the changes after a receipt that has no room; FreeBSD stops (and its
  // manual page says so), and the emulation follows FreeBSD.
  it.skipIf(process.platform === 'darwin')('stops at a receipt for which the event list has no room', () => {
    const fd = fifo.openBoth();
    const rc = call(
      backend,
      kq,
      [kev(fd, READ, C.EV_ADD | C.EV_RECEIPT), kev(fd, WRITE, C.EV_ADD | C.EV_RECEIPT)],
      0,
    ).rc;
    expect(rc).toBe(0);
    const check = call(
      backend,
      kq,
      [kev(fd, READ, C.EV_DELETE | C.EV_RECEIPT), kev(fd, WRITE, C.EV_DELETE | C.EV_RECEIPT)],
      2,
    );
    expect(check.events.map((e) => e.data)).toEqual([0, C.ENOENT]); // READ was applied, WRITE not
  });

  it('makes the kqueue fd itself readable while events are pending, so a uv_poll can nest it', async () => {
    const fd = fifo.openBoth();
    call(backend, kq, [kev(fd, READ, C.EV_ADD)], 0);
    const seen: number[] = [];
    const poll = new UvPoll(kq, (_status, events) => seen.push(events));
    try {
      poll.start(PollEvent.READABLE);
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(seen).toEqual([]);
      writeSync(fd, 'x');
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(seen.length).toBeGreaterThan(0);
      expect(seen[0]! & PollEvent.READABLE).toBe(PollEvent.READABLE);
    } finally {
      poll.close();
    }
  });

  it('refuses what the adapter never uses and what is not a kevent call, before applying anything', () => {
    const fd = fifo.openBoth();
    const EV_CLEAR = 0x20; // same value on macOS and every BSD
    expect(() =>
      call(backend, kq, [kev(fd, READ, C.EV_ADD), kev(fd, WRITE, C.EV_ADD | EV_CLEAR)], 2),
    ).toThrow(/EV_CLEAR/);
    expect(call(backend, kq, [kev(fd, READ, C.EV_DELETE | C.EV_RECEIPT)], 1).events[0]!.data).toBe(C.ENOENT);
    expect(() => call(backend, kq, [kev(-1, READ, C.EV_ADD)], 0)).toThrow(RangeError);
    const records = new Int32Array(12);
    expect(() => backend.kevent(kq, records, 3, records, 0, 0)).toThrow(RangeError); // 3 need 18 slots
    expect(() => backend.kevent(kq, records, 0, records, 1, -2)).toThrow(RangeError);
    expect(() => backend.kevent(kq, [] as unknown as Int32Array, 0, records, 1, 0)).toThrow(TypeError);
    expect(() => backend.kevent(kq, records, 0, records, 1.5, 0)).toThrow(RangeError);
    expect(() => backend.kevent(fd, records, 0, records, 1, 0)).toThrow(/not an open kqueue/);
    expect(() => backend.close(fd)).toThrow(/not an open kqueue/);
    expect(() => fstatSync(fd)).not.toThrow(); // and closed nothing
  });
});
