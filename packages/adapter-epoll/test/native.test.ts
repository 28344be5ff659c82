// The syscall layer against real fds: a FIFO opened O_RDWR|O_NONBLOCK, TCP sockets on
// loopback, timerfds, and a worker thread torn down while it still owns fds.
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants as fsConstants,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { constants as C, Epoll, Timerfd } from '../src/native.js';
import { collectGarbage, epollAndTimerFds, openFds } from './fds.js';

const { EPOLL_CTL_ADD: ADD, EPOLL_CTL_DEL: DEL, EPOLL_CTL_MOD: MOD, EPOLLIN, EPOLLOUT } = C;

/** The events of the last wait() as objects, for readable assertions. */
function results(ep: Epoll, n: number): { fd: number; tag: number; events: number }[] {
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push({ fd: ep.events[i * 3]!, tag: ep.events[i * 3 + 1]!, events: ep.events[i * 3 + 2]! });
  }
  return out;
}

let dir: string;
let fifo: number;
let baseline: number;

beforeEach(() => {
  baseline = epollAndTimerFds();
  dir = mkdtempSync(join(tmpdir(), 'epoll-test-'));
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  // O_RDWR on a FIFO never blocks and keeps both ends open, so readiness is driven by writes.
  fifo = openSync(join(dir, 'fifo'), fsConstants.O_RDWR | fsConstants.O_NONBLOCK);
});

afterEach(() => {
  closeSync(fifo);
  rmSync(dir, { recursive: true });
  expect(epollAndTimerFds()).toBe(baseline);
});

describe('Epoll', () => {
  it('reports a FIFO readable, level-triggered, with the tag given at registration', () => {
    const ep = new Epoll(8);
    try {
      expect(ep.ctl(ADD, fifo, EPOLLIN, 0xdeadbeef)).toBe(0);
      expect(ep.wait(0)).toBe(0);
      writeSync(fifo, 'x');
      expect(results(ep, ep.wait(0))).toEqual([{ fd: fifo, tag: 0xdeadbeef, events: EPOLLIN }]);
      // Still readable until read: level-triggered.
      expect(ep.wait(0)).toBe(1);
      readSync(fifo, Buffer.alloc(8));
      expect(ep.wait(0)).toBe(0);
    } finally {
      ep.close();
    }
  });

  it('MOD replaces the interest set and the tag; DEL removes; errors come back as -errno', () => {
    const ep = new Epoll(8);
    try {
      expect(ep.ctl(ADD, fifo, EPOLLIN, 1)).toBe(0);
      expect(ep.ctl(ADD, fifo, EPOLLIN, 1)).toBe(-C.EEXIST);
      expect(ep.ctl(MOD, fifo, EPOLLOUT, 2)).toBe(0);
      expect(results(ep, ep.wait(0))).toEqual([{ fd: fifo, tag: 2, events: EPOLLOUT }]);
      expect(ep.ctl(MOD, fifo, 0, 3)).toBe(0);
      expect(ep.wait(0)).toBe(0);
      expect(ep.ctl(DEL, fifo, 0, 0)).toBe(0);
      expect(ep.ctl(DEL, fifo, 0, 0)).toBe(-C.ENOENT);
      expect(ep.ctl(MOD, fifo, EPOLLIN, 0)).toBe(-C.ENOENT);
      const closedFd = openSync(join(dir, 'fifo'), fsConstants.O_RDWR | fsConstants.O_NONBLOCK);
      closeSync(closedFd);
      if (!openFds().has(closedFd)) expect(ep.ctl(ADD, closedFd, EPOLLIN, 0)).toBe(-C.EBADF);
      expect(ep.ctl(ADD, ep.fd, EPOLLIN, 0)).toBe(-C.EINVAL);
    } finally {
      ep.close();
    }
  });

  it('returns at most maxEvents per wait and the rest on the next one', () => {
    const ep = new Epoll(1);
    const t1 = new Timerfd();
    const t2 = new Timerfd();
    try {
      expect(ep.events.length).toBe(3);
      ep.ctl(ADD, t1.fd, EPOLLIN, 1);
      ep.ctl(ADD, t2.fd, EPOLLIN, 2);
      t1.set(0);
      t2.set(0);
      expect(ep.wait(1000)).toBe(1);
      const first = ep.events[1];
      // Level-triggered entries that were returned go to the back of the ready list, so the
      // other timer comes next even though the first one is still readable.
      expect(ep.wait(1000)).toBe(1);
      expect(new Set([first, ep.events[1]])).toEqual(new Set([1, 2]));
      expect(t1.drain()).toBe(1);
      expect(t2.drain()).toBe(1);
      expect(ep.wait(0)).toBe(0);
    } finally {
      ep.close();
      t1.close();
      t2.close();
    }
  });

  it('reports TCP sockets: data, writability, and peer shutdown as EPOLLIN|EPOLLRDHUP', async () => {
    // pauseOnConnect keeps libuv from reading the accepted socket, so epoll sees the bytes.
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const client = net.connect(port, '127.0.0.1');
    const [peer] = await Promise.all([accepted, new Promise((resolve) => client.once('connect', resolve))]);
    const fd = (peer as unknown as { _handle: { fd: number } })._handle.fd;
    const ep = new Epoll(4);
    try {
      expect(ep.ctl(ADD, fd, EPOLLIN | C.EPOLLRDHUP, 9)).toBe(0);
      expect(ep.wait(0)).toBe(0);
      // Once connected, a small write goes straight to the kernel (uv_try_write).
      client.write('hello');
      expect(results(ep, ep.wait(2000))).toEqual([{ fd, tag: 9, events: EPOLLIN }]);
      expect(ep.ctl(MOD, fd, EPOLLOUT, 10)).toBe(0);
      expect(results(ep, ep.wait(0))).toEqual([{ fd, tag: 10, events: EPOLLOUT }]);
      expect(ep.ctl(MOD, fd, EPOLLIN | C.EPOLLRDHUP, 11)).toBe(0);
      client.end();
      const deadline = Date.now() + 2000;
      let events = 0;
      while (Date.now() < deadline && !(events & C.EPOLLRDHUP)) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        events = ep.wait(0) === 1 ? ep.events[2]! : 0;
      }
      expect(events).toBe(EPOLLIN | C.EPOLLRDHUP);
      expect(ep.ctl(DEL, fd, 0, 0)).toBe(0);
    } finally {
      ep.close();
      peer.destroy();
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('refuses edge-triggered and one-shot modes and unknown bits with a RangeError', () => {
    const ep = new Epoll(2);
    try {
      expect(() => ep.ctl(ADD, fifo, EPOLLIN | C.EPOLLET, 0)).toThrow(RangeError);
      expect(() => ep.ctl(ADD, fifo, EPOLLIN | C.EPOLLET, 0)).toThrow(/level-triggered/);
      expect(() => ep.ctl(ADD, fifo, EPOLLIN | C.EPOLLONESHOT, 0)).toThrow(/EPOLLONESHOT/);
      expect(() => ep.ctl(ADD, fifo, 1 << 28, 0)).toThrow(RangeError);
      // Nothing was registered by the refused calls.
      expect(ep.ctl(DEL, fifo, 0, 0)).toBe(-C.ENOENT);
    } finally {
      ep.close();
    }
  });

  it('validates every argument', () => {
    for (const bad of [0, -1, 1.5, 70000, Number.NaN]) expect(() => new Epoll(bad)).toThrow(RangeError);
    expect(() => new Epoll('8' as unknown as number)).toThrow(TypeError);
    const ep = new Epoll(2);
    try {
      const ctl = ep.ctl.bind(ep) as (...args: unknown[]) => number;
      expect(() => ctl(0, fifo, EPOLLIN, 0)).toThrow(/op must be between 1 and 3/);
      expect(() => ctl(4, fifo, EPOLLIN, 0)).toThrow(RangeError);
      expect(() => ctl(ADD, -1, EPOLLIN, 0)).toThrow(/fd must be between 0/);
      expect(() => ctl(ADD, 2 ** 31, EPOLLIN, 0)).toThrow(RangeError);
      expect(() => ctl(ADD, 1.5, EPOLLIN, 0)).toThrow(/fd must be an integer/);
      expect(() => ctl(ADD, '3', EPOLLIN, 0)).toThrow(TypeError);
      expect(() => ctl(ADD, fifo, -1, 0)).toThrow(/events/);
      expect(() => ctl(ADD, fifo, EPOLLIN, 2 ** 32)).toThrow(/tag/);
      expect(() => ctl(ADD, fifo, EPOLLIN)).toThrow(/tag must be a number/);
      const wait = ep.wait.bind(ep) as (...args: unknown[]) => number;
      expect(() => wait(-2)).toThrow(/timeoutMs must be between -1/);
      expect(() => wait(0.5)).toThrow(/timeoutMs must be an integer/);
      expect(() => wait(Number.POSITIVE_INFINITY)).toThrow(RangeError);
      expect(() => wait()).toThrow(TypeError);
    } finally {
      ep.close();
    }
  });

  it('refuses use after close with "Epoll is closed"; close is idempotent', () => {
    const ep = new Epoll(2);
    ep.close();
    ep.close();
    expect(ep.closed).toBe(true);
    expect(ep.fd).toBe(-1);
    expect(() => ep.wait(0)).toThrow('Epoll is closed');
    expect(() => ep.ctl(ADD, fifo, EPOLLIN, 0)).toThrow('Epoll is closed');
  });

  it('refuses to write results into a detached buffer', () => {
    const ep = new Epoll(2);
    try {
      structuredClone(ep.events.buffer, { transfer: [ep.events.buffer] });
      expect(() => ep.wait(0)).toThrow(/detached/);
    } finally {
      ep.close();
    }
  });
});

describe('Timerfd', () => {
  it('fires once after the armed delay; 0 fires at once; disarm stops it', () => {
    const ep = new Epoll(2);
    const timer = new Timerfd();
    try {
      ep.ctl(ADD, timer.fd, EPOLLIN, 0);
      expect(ep.wait(0)).toBe(0);
      timer.set(0);
      expect(ep.wait(1000)).toBe(1);
      expect(timer.drain()).toBe(1);
      expect(ep.wait(0)).toBe(0);
      expect(timer.drain()).toBe(0);

      const start = performance.now();
      timer.set(40);
      expect(ep.wait(2000)).toBe(1);
      expect(performance.now() - start).toBeGreaterThanOrEqual(39);
      expect(timer.drain()).toBe(1);

      timer.set(20);
      timer.disarm();
      expect(ep.wait(60)).toBe(0);
      expect(() => timer.set(-1)).toThrow(RangeError);
      expect(() => timer.set(0.5)).toThrow(RangeError);
    } finally {
      ep.close();
      timer.close();
    }
    expect(() => timer.set(1)).toThrow('Timerfd is closed');
    expect(() => timer.drain()).toThrow('Timerfd is closed');
  });
});

describe('fd lifetime', () => {
  it('closes fds of objects the garbage collector reclaims', async () => {
    (() => {
      for (let i = 0; i < 5; i++) {
        new Epoll(4);
        new Timerfd();
      }
    })();
    expect(epollAndTimerFds()).toBe(baseline + 10);
    await collectGarbage();
    expect(epollAndTimerFds()).toBe(baseline);
  });

  it('closes fds still open when a worker thread is terminated', async () => {
    const url = new URL('../build/Release/epoll.node', import.meta.url).pathname;
    const worker = new Worker(
      `const { createRequire } = require('node:module');
       const b = createRequire(${JSON.stringify(url)})(${JSON.stringify(url)});
       globalThis.keep = [new b.Epoll(4), new b.Timerfd(), new b.Timerfd()];
       require('node:worker_threads').parentPort.postMessage(keep.map((o) => o.fd));
       setInterval(() => {}, 1000);`,
      { eval: true },
    );
    const fds = await new Promise<number[]>((resolve) => worker.once('message', resolve));
    const targets = openFds();
    expect(fds.map((fd) => targets.get(fd))).toEqual([
      'anon_inode:[eventpoll]',
      'anon_inode:[timerfd]',
      'anon_inode:[timerfd]',
    ]);
    await worker.terminate();
    // The worker's own libuv loop is gone too, so the count is back to what it was before.
    expect(epollAndTimerFds()).toBe(baseline);
  });
});
