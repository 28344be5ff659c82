import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { openHandleCount, Timer } from '../src/index.js';
import { checkLeaks, settle, sleep } from './helpers.js';

describe('Timer', () => {
  checkLeaks();

  it('fires once after its timeout and is then inactive', async () => {
    const fired: number[] = [];
    const started = Date.now();
    const timer = new Timer(() => fired.push(Date.now() - started));
    try {
      timer.start(20);
      expect(timer.active).toBe(true);
      await sleep(100);
      expect(fired).toHaveLength(1);
      expect(fired[0]).toBeGreaterThanOrEqual(19);
      expect(timer.active).toBe(false);
      expect(timer.closed).toBe(false);
    } finally {
      timer.close();
    }
  });

  it('a new start() replaces the pending one', async () => {
    const fired: number[] = [];
    const started = Date.now();
    const timer = new Timer(() => fired.push(Date.now() - started));
    try {
      timer.start(300);
      timer.start(20);
      await sleep(100);
      expect(fired).toHaveLength(1);
      expect(fired[0]).toBeLessThan(250);
      timer.start(20);
      timer.start(400);
      await sleep(100);
      expect(fired).toHaveLength(1); // the 20 ms start was replaced too
      expect(timer.active).toBe(true);
    } finally {
      timer.close();
    }
  });

  it('start(0) fires on a later loop turn, never synchronously', async () => {
    let fired = 0;
    const timer = new Timer(() => fired++);
    try {
      timer.start(0);
      expect(fired).toBe(0);
      await Promise.resolve();
      expect(fired).toBe(0);
      await sleep(20);
      expect(fired).toBe(1);
    } finally {
      timer.close();
    }
  });

  it('start(0) from its own callback waits for the next loop turn (I/O and immediates run between)', async () => {
    let fired = 0;
    let immediates = 0;
    const timer = new Timer(() => {
      if (++fired < 200) timer.start(0);
    });
    try {
      const spin = () => {
        immediates++;
        if (fired < 200) setImmediate(spin);
      };
      setImmediate(spin);
      timer.start(0);
      await sleep(500);
      expect(fired).toBe(200);
      // one loop turn per restart (libuv 1.46 alone would run all 200 in one timer phase)
      expect(immediates).toBeGreaterThanOrEqual(199);
    } finally {
      timer.close();
    }
  });

  it('can be restarted from its own callback', async () => {
    let fired = 0;
    const timer = new Timer(() => {
      if (++fired < 3) timer.start(0);
    });
    try {
      timer.start(0);
      await sleep(50);
      expect(fired).toBe(3);
      expect(timer.active).toBe(false);
    } finally {
      timer.close();
    }
  });

  it('stop() cancels it; close() cancels it for good', async () => {
    let fired = 0;
    const stopped = new Timer(() => fired++);
    const closed = new Timer(() => fired++);
    stopped.start(10);
    stopped.stop();
    closed.start(10);
    closed.close();
    closed.close();
    expect(stopped.active).toBe(false);
    expect(closed.active).toBe(false);
    expect(closed.closed).toBe(true);
    await sleep(50);
    expect(fired).toBe(0);
    stopped.close();
    for (const call of [
      () => closed.start(1),
      () => closed.stop(),
      () => closed.ref(),
      () => closed.unref(),
    ]) {
      expect(call).toThrow(Error);
      expect(call).toThrow('Timer is closed');
    }
  });

  it('rejects bad arguments with TypeError or RangeError', () => {
    const timer = new Timer(() => {});
    try {
      for (const ms of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
        expect(() => timer.start(ms)).toThrow(RangeError);
      }
      for (const ms of ['5', undefined, null, 5n]) {
        expect(() => timer.start(ms as unknown as number)).toThrow(TypeError);
      }
      expect(timer.active).toBe(false);
      for (const callback of [undefined, 5, {}]) {
        expect(() => new Timer(callback as unknown as () => void)).toThrow(/onTimeout must be a function/);
      }
    } finally {
      timer.close();
    }
  });

  it('runs promise reactions right after each callback (MakeCallback)', async () => {
    const order: string[] = [];
    const timers = [0, 1, 2].map(
      (i) =>
        new Timer(() => {
          order.push(`callback ${i}`);
          void Promise.resolve().then(() => order.push(`reaction ${i}`));
        }),
    );
    try {
      for (const timer of timers) timer.start(0); // all due in the same loop turn
      await sleep(30);
      expect(order).toHaveLength(6);
      for (let i = 0; i < 6; i += 2) {
        expect(order[i + 1]).toBe(order[i]?.replace('callback', 'reaction'));
      }
    } finally {
      for (const timer of timers) timer.close();
    }
  });

  it('an armed Timer fires without JS references; an idle one is freed by GC', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const before = openHandleCount();
    let fired = 0;
    (() => {
      for (let i = 0; i < 20; i++) new Timer(() => {});
      new Timer(function (this: Timer) {
        fired++;
        this.close();
      }).start(30);
    })();
    expect(openHandleCount()).toBe(before + 21);
    for (let i = 0; i < 5 && openHandleCount() > before + 1; i++) {
      gc();
      await settle();
    }
    expect(openHandleCount()).toBe(before + 1);
    await sleep(60);
    expect(fired).toBe(1);
  });
});
