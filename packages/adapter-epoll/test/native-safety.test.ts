// Regressions of memory-safety bugs in the syscall layer.
import { describe, expect, it } from 'vitest';
import { Epoll, Timerfd } from '../src/native.js';

describe('receivers', () => {
  it('an accessor read on an object of another class throws instead of reading it as its own', () => {
    // Before: napi_unwrap handed back the other object and its memory was read as an Epoll's
    // (a garbage fd or maxEvents).
    const epoll = new Epoll(4);
    const timerfd = new Timerfd();
    for (const [proto, name, receiver] of [
      [Epoll.prototype, 'fd', timerfd],
      [Epoll.prototype, 'maxEvents', timerfd],
      [Epoll.prototype, 'closed', timerfd],
      [Timerfd.prototype, 'fd', epoll],
      [Timerfd.prototype, 'closed', epoll],
    ] as const) {
      expect(() => Reflect.get(proto, name, receiver)).toThrow(new TypeError('Illegal invocation'));
    }
    expect(epoll.maxEvents).toBe(4);
    epoll.close();
    timerfd.close();
  });
});
