// The contract's unit rows on the epoll backend through adapter-core's script driver (the
// shared suite), plus what only epoll shows: the kernel's own view of the set
// (/proc/self/fdinfo of the epoll fd), EEXIST on ADD, EPOLLERR as ERR.

import { readdirSync, readFileSync, readlinkSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { CSelect, type NativeLoop, Poll } from '@multisock/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Script } from '../../adapter-core/test/script/index.js';
import { describeScriptedRows, Fifos, type NativeReactor } from '../../adapter-core/test/script/rows.js';

const addon = createRequire(import.meta.url)('../build/Release/multisock_epoll.node') as {
  loop: NativeLoop;
  Reactor: new (maxEvents: number) => NativeReactor;
};

describeScriptedRows({ name: 'epoll', nested: addon.loop, newReactor: () => new addon.Reactor(64) });

function epollFds(): Set<number> {
  const out = new Set<number>();
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) === 'anon_inode:[eventpoll]') out.add(Number(name));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** The kernel's registrations of an epoll set: fd -> [events, data]. */
function kernelView(epfd: number): Map<number, { events: number; data: bigint }> {
  const out = new Map<number, { events: number; data: bigint }>();
  for (const line of readFileSync(`/proc/self/fdinfo/${epfd}`, 'utf8').split('\n')) {
    const m = /^tfd:\s+(\d+)\s+events:\s+([0-9a-f]+)\s+data:\s+([0-9a-f]+)/.exec(line);
    // The kernel always adds EPOLLERR|EPOLLHUP (0x18): left out.
    if (m) out.set(Number(m[1]), { events: Number.parseInt(m[2]!, 16) & ~0x18, data: BigInt(`0x${m[3]}`) });
  }
  return out;
}

const EPOLLIN = 0x1;
const EPOLLOUT = 0x4;
const EPOLLRDHUP = 0x2000;

describe('epoll: the kernel side', () => {
  let fifos: Fifos;
  let reactor: NativeReactor;
  let epfd: number;
  let script: Script;

  beforeEach(() => {
    fifos = new Fifos();
    const before = epollFds();
    reactor = new addon.Reactor(64);
    epfd = [...epollFds()].find((fd) => !before.has(fd))!;
    script = new Script(reactor.loop);
  });

  afterEach(() => {
    script.detach();
    reactor.close();
    fifos.dispose();
  });

  it('IN -> INOUT -> IN is one registration, MODified in place, level-triggered, with fd and tag in data', () => {
    const fd = fifos.both();
    script.socket(fd, Poll.IN);
    const first = kernelView(epfd).get(fd)!;
    expect(first.events).toBe(EPOLLIN | EPOLLRDHUP); // no EPOLLET, no EPOLLONESHOT
    expect(Number(first.data & 0xffffffffn)).toBe(fd);
    script.socket(fd, Poll.INOUT, 0);
    expect(kernelView(epfd).get(fd)?.events).toBe(EPOLLIN | EPOLLRDHUP | EPOLLOUT);
    script.socket(fd, Poll.IN, 0);
    const view = kernelView(epfd);
    expect(view.size).toBe(1);
    expect(view.get(fd)).toEqual(first); // same tag: the same registration
    script.socket(fd, Poll.REMOVE);
    expect(kernelView(epfd).size).toBe(0);
  });

  it('a fresh announcement gets a new tag; NONE takes the fd out of the set but keeps it listed', () => {
    const fd = fifos.both();
    script.socket(fd, Poll.IN);
    const tag = kernelView(epfd).get(fd)!.data >> 32n;
    script.socket(fd, Poll.REMOVE);
    script.socket(fd, Poll.IN);
    expect(kernelView(epfd).get(fd)!.data >> 32n).not.toBe(tag);
    script.socket(fd, Poll.NONE, 0);
    expect(kernelView(epfd).size).toBe(0); // EPOLLHUP/ERR would otherwise still be reported
    expect(script.registrations).toBe(1);
  });

  it('ADD answered EEXIST (the kernel has the fd, the table does not) falls back to MOD (row 7)', () => {
    const fd = fifos.both();
    expect(Script.epollAdd(epfd, fd)).toBe(0); // behind the adapter's back
    expect(script.socket(fd, Poll.IN)).toBe(0);
    expect(script.lastError).toBeNull();
    expect(script.registrations).toBe(1);
    const view = kernelView(epfd).get(fd)!;
    expect(Number(view.data & 0xffffffffn)).toBe(fd); // now carries the registration's data
    writeSync(fd, 'x');
    reactor.runOnce(0);
    expect(script.actions()).toEqual([[fd, CSelect.IN]]);
  });

  it('EPOLLERR (the FIFO reader gone) is ERR with the watched direction (row 10)', () => {
    const { reader, writer } = fifos.ends();
    script.socket(writer, Poll.OUT);
    fifos.close(reader);
    reactor.runOnce(0);
    expect(script.actions()).toEqual([[writer, CSelect.ERR | CSelect.OUT]]);
  });

  it('a failed epoll_ctl is reported with the call and the fd', () => {
    expect(script.socket(readFileSync.length + 100_000, Poll.IN)).toBe(-9); // EBADF
    expect(script.lastError).toMatch(/^epoll_ctl\(ADD\): cannot watch fd \d+$/);
  });

  it('close() closes the epoll fd', () => {
    reactor.close();
    expect(epollFds().has(epfd)).toBe(false);
  });
});
