import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { openHandleCount, Poll, PollEvent, UvError } from '../src/index.js';
import { checkLeaks, EventLog, Fifo, settle, sleep } from './helpers.js';

const { READABLE, WRITABLE } = PollEvent;

describe('Poll', () => {
  checkLeaks();

  it('reports READABLE once data is written, with status 0', async () => {
    const fifo = new Fifo();
    const log = new EventLog();
    const poll = new Poll(fifo.fd, log.callback);
    try {
      expect(poll.fd).toBe(fifo.fd);
      poll.start(READABLE);
      expect(poll.active).toBe(true);
      await sleep(30);
      expect(log.events).toEqual([]); // nothing to read yet
      fifo.write('hello');
      expect(await log.next()).toEqual([0, READABLE]);
      expect(fifo.drain()).toBe('hello');
    } finally {
      poll.close();
      fifo.close();
    }
  });

  it('reports WRITABLE on a writable fd and both bits when both hold', async () => {
    const fifo = new Fifo();
    const log = new EventLog();
    const poll = new Poll(fifo.fd, log.callback);
    try {
      poll.start(WRITABLE);
      expect(await log.next()).toEqual([0, WRITABLE]);
      fifo.write();
      poll.start(READABLE | WRITABLE);
      expect(await log.next()).toEqual([0, READABLE | WRITABLE]);
    } finally {
      poll.close();
      fifo.close();
    }
  });

  it('start() with a new mask replaces the old one', async () => {
    const fifo = new Fifo();
    const log = new EventLog();
    const poll = new Poll(fifo.fd, log.callback);
    try {
      poll.start(READABLE | WRITABLE);
      expect(await log.next()).toEqual([0, WRITABLE]);
      poll.start(READABLE); // the fd stays writable, but that is no longer asked for
      const seen = log.events.length;
      await sleep(50);
      expect(log.events.length).toBe(seen);
      fifo.write();
      expect(await log.next()).toEqual([0, READABLE]);
      fifo.drain();
    } finally {
      poll.close();
      fifo.close();
    }
  });

  it('reports a poll error as (negative status, 0) and is then stopped', async () => {
    // The write end of a FIFO whose reader went away polls as POLLERR.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libuv-bindings-'));
    const file = path.join(dir, 'fifo');
    execFileSync('mkfifo', [file]);
    const reader = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const writer = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    fs.closeSync(reader);
    const log = new EventLog();
    const poll = new Poll(writer, log.callback);
    try {
      poll.start(WRITABLE);
      const [status, events] = await log.next();
      expect(status).toBeLessThan(0);
      expect(events).toBe(0);
      expect(poll.active).toBe(false); // libuv stopped it
      await sleep(30);
      expect(log.events).toHaveLength(1);
      poll.start(WRITABLE); // can be restarted
      expect((await log.next())[0]).toBeLessThan(0);
    } finally {
      poll.close();
      fs.closeSync(writer);
      fs.rmSync(dir, { recursive: true });
    }
  });

  it('stop() stops events and keeps the handle; start() resumes them', async () => {
    const fifo = new Fifo();
    let calls = 0;
    const poll = new Poll(fifo.fd, () => {
      calls++;
      poll.stop(); // level-triggered: without stop() this would fire on every loop turn
    });
    try {
      poll.start(WRITABLE);
      await sleep(50);
      expect(calls).toBe(1);
      expect(poll.active).toBe(false);
      expect(poll.closed).toBe(false);
      poll.start(WRITABLE);
      await sleep(50);
      expect(calls).toBe(2);
    } finally {
      poll.close();
      fifo.close();
    }
  });

  it('throws UvError EEXIST for a second active Poll on the same fd', async () => {
    const fifo = new Fifo();
    const first = new Poll(fifo.fd, () => first.stop());
    const idle = new Poll(fifo.fd, () => {}); // legal while nobody watches the fd
    try {
      first.start(READABLE);
      const atInit = (() => {
        try {
          new Poll(fifo.fd, () => {});
        } catch (error) {
          return error;
        }
      })();
      expect(atInit).toBeInstanceOf(UvError);
      expect(atInit).toMatchObject({ code: 'EEXIST', errno: -17, syscall: 'uv_poll_init' });
      expect(() => idle.start(READABLE)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
      expect(idle.active).toBe(false);
      first.stop();
      idle.start(READABLE); // the fd is free again
      expect(idle.active).toBe(true);
    } finally {
      first.close();
      idle.close();
      fifo.close();
    }
  });

  it('throws UvError for fds libuv cannot poll', () => {
    expect(() => new Poll(2 ** 30, () => {})).toThrow(expect.objectContaining({ code: 'EBADF' }));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libuv-bindings-'));
    const fd = fs.openSync(path.join(dir, 'file'), 'w');
    try {
      const error = (() => {
        try {
          new Poll(fd, () => {});
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(UvError);
      expect(error).toBeInstanceOf(Error);
      expect(error).toMatchObject({ name: 'UvError', code: 'EPERM', syscall: 'uv_poll_init' });
      expect((error as Error).message).toBe('EPERM: operation not permitted, uv_poll_init');
    } finally {
      fs.closeSync(fd);
      fs.rmSync(dir, { recursive: true });
    }
  });

  it('rejects bad arguments with TypeError or RangeError', () => {
    const fifo = new Fifo();
    const poll = new Poll(fifo.fd, () => {});
    try {
      for (const fd of [-1, 1.5, 2 ** 31, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect(() => new Poll(fd, () => {})).toThrow(RangeError);
      }
      for (const fd of ['3', undefined, null, 3n, {}]) {
        expect(() => new Poll(fd as unknown as number, () => {})).toThrow(TypeError);
      }
      expect(() => new Poll(fifo.fd, 'nope' as unknown as () => void)).toThrow(
        /onEvent must be a function, got string/,
      );
      expect(() => (Poll as unknown as (fd: number) => void)(fifo.fd)).toThrow(TypeError);
      for (const events of [0, 16, -1, 1.5, 2 ** 32]) {
        expect(() => poll.start(events)).toThrow(RangeError);
      }
      expect(() => poll.start('1' as unknown as number)).toThrow(TypeError);
      expect(() => poll.start(undefined as unknown as number)).toThrow(TypeError);
      expect(poll.active).toBe(false);
      const detached = poll.start;
      expect(() => detached.call({}, READABLE)).toThrow(); // not a Poll: refused, no crash
    } finally {
      poll.close();
      fifo.close();
    }
  });

  it('throws "Poll is closed" after close(); close() is idempotent', () => {
    const fifo = new Fifo();
    const poll = new Poll(fifo.fd, () => {});
    poll.start(READABLE);
    poll.close();
    poll.close();
    fifo.close();
    expect(poll.closed).toBe(true);
    expect(poll.active).toBe(false);
    expect(poll.fd).toBeGreaterThanOrEqual(0);
    for (const call of [
      () => poll.start(READABLE),
      () => poll.stop(),
      () => poll.ref(),
      () => poll.unref(),
    ]) {
      expect(call).toThrow(Error);
      expect(call).toThrow('Poll is closed');
    }
  });

  it('calls back in its own async context: promise reactions run right after each callback', async () => {
    const fifos = [new Fifo(), new Fifo(), new Fifo()];
    const order: string[] = [];
    const polls = fifos.map(
      (fifo, i) =>
        new Poll(fifo.fd, () => {
          order.push(`callback ${i}`);
          polls[i]?.stop();
          void Promise.resolve().then(() => order.push(`reaction ${i}`));
        }),
    );
    try {
      for (const [i, fifo] of fifos.entries()) {
        fifo.write();
        polls[i]?.start(READABLE); // all three are ready in the same loop turn
      }
      await sleep(50);
      expect(order).toHaveLength(6);
      for (let i = 0; i < 6; i += 2) {
        expect(order[i + 1]).toBe(order[i]?.replace('callback', 'reaction'));
      }
    } finally {
      for (const poll of polls) poll.close();
      for (const fifo of fifos) fifo.close();
    }
  });

  it('keeps a started Poll alive without JS references; idle Polls hold no handle', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const fifo = new Fifo();
    const log = new EventLog();
    const before = openHandleCount();
    try {
      (() => {
        for (let i = 0; i < 50; i++) new Poll(fifo.fd, () => {}); // never started
        // Reached only through `this`: MakeCallback passes the Poll as the receiver.
        new Poll(fifo.fd, function (this: Poll, status, events) {
          log.callback(status, events);
          this.close();
        }).start(READABLE);
      })();
      await settle();
      expect(openHandleCount()).toBe(before + 1); // only the started one
      gc();
      await settle();
      fifo.write();
      expect(await log.next()).toEqual([0, READABLE]);
      await settle();
      expect(openHandleCount()).toBe(before);
    } finally {
      fifo.drain();
      fifo.close();
    }
  });

  it('an idle Poll stopped, closed or collected does not cancel the started one on its fd', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const fifo = new Fifo();
    const log = new EventLog();
    const watcher = new Poll(fifo.fd, log.callback);
    try {
      const idle = new Poll(fifo.fd, () => {});
      const stopped = new Poll(fifo.fd, () => {});
      stopped.start(READABLE);
      stopped.stop();
      (() => {
        for (let i = 0; i < 20; i++) new Poll(fifo.fd, () => {}); // garbage
      })();
      watcher.start(READABLE);
      idle.stop();
      stopped.stop();
      idle.close();
      gc();
      await settle();
      fifo.write();
      expect(await log.next()).toEqual([0, READABLE]);
    } finally {
      watcher.close();
      fifo.close();
    }
  });
});
