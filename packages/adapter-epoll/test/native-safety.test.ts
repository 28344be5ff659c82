// The native loop never trusts JavaScript: the reactor's native class checks its receiver and
// every argument; a worker torn down mid-transfer leaves nothing behind; and the whole life of
// both modes runs clean under valgrind (memcheck), where valgrind is installed.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Multi } from '@multisock/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EpollReactor, epoll } from '../src/index.js';
import { openFds } from './fds.js';
import { startServer, type TestServer } from './server.js';

const addon = createRequire(import.meta.url)('../build/Release/multisock_epoll.node') as {
  Reactor: new (maxEvents: unknown) => { runOnce(t: unknown): number; close(): void; loop: object };
};

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.close();
});

describe('the native reactor class', () => {
  it('refuses bad arguments with a TypeError or RangeError naming them', () => {
    expect(() => new addon.Reactor(undefined)).toThrow(
      new TypeError('EpollReactor: maxEvents must be a number'),
    );
    expect(() => new addon.Reactor(0)).toThrow(RangeError);
    expect(() => new addon.Reactor(1.5)).toThrow(/maxEvents must be an integer/);
    expect(() => new addon.Reactor(65537)).toThrow(RangeError);
    const reactor = new addon.Reactor(4);
    expect(() => reactor.runOnce('1')).toThrow(
      new TypeError('EpollReactor.runOnce: timeoutMs must be a number'),
    );
    expect(() => reactor.runOnce(-2)).toThrow(RangeError);
    expect(() => reactor.runOnce(Number.NaN)).toThrow(RangeError);
    expect(() => reactor.runOnce(2 ** 31)).toThrow(RangeError);
    reactor.close();
    reactor.close();
    expect(() => reactor.runOnce(0)).toThrow('EpollReactor.runOnce: the reactor is closed');
  });

  it('a method called on an object of another class throws instead of reading it as its own', () => {
    const reactor = new addon.Reactor(4);
    const multi = new Multi();
    try {
      for (const receiver of [multi, {}, reactor.loop]) {
        expect(() => Reflect.apply(addon.Reactor.prototype.runOnce, receiver, [0])).toThrow(TypeError);
        expect(() => Reflect.apply(addon.Reactor.prototype.close, receiver, [])).toThrow(TypeError);
      }
    } finally {
      reactor.close();
      multi.close();
    }
  });

  it('refuses the External of a reactor that was closed', () => {
    const reactor = new addon.Reactor(4);
    reactor.close();
    const multi = new Multi();
    try {
      expect(() => multi.attachNativeLoop(reactor.loop as never)).toThrow(/EpollReactor adapter failed/);
      expect(multi.nativeLoop).toBeNull();
    } finally {
      multi.close();
    }
  });

  it('an attachment outliving its reactor object is harmless', () => {
    const multi = new Multi();
    const reactor = new EpollReactor();
    const attachment = reactor.attach(multi);
    reactor.close(); // detaches it
    expect(attachment.detached).toBe(true);
    expect(() => epoll.attach(multi).detach()).not.toThrow();
    multi.close();
  });
});

describe('worker threads', () => {
  it('terminated while pumping a reactor and a nested attachment with transfers in flight: no fd left', async () => {
    const baseline = openFds().size;
    for (let i = 0; i < 3; i++) {
      const worker = new Worker(new URL('./fixtures/busy-worker.mjs', import.meta.url), {
        workerData: { url: `${server.url}/delay/5000` },
      });
      await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      await worker.terminate();
    }
    const deadline = Date.now() + 2000;
    while (openFds().size > baseline && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(openFds().size).toBeLessThanOrEqual(baseline);
  });
});

describe('memcheck', () => {
  it('both modes, detach, close with transfers in flight, the Client: no error under valgrind', {
    timeout: 180_000,
  }, () => {
    if (spawnSync('valgrind', ['--version']).status !== 0) {
      throw new Error('valgrind is not installed (scripts/setup.sh installs it)');
    }
    const script = fileURLToPath(new URL('./fixtures/valgrind-run.mjs', import.meta.url));
    const result = spawnSync(
      'valgrind',
      ['--error-exitcode=99', '--leak-check=no', process.execPath, script, server.url],
      {
        encoding: 'utf8',
        timeout: 170_000,
      },
    );
    expect(result.stdout).toContain('valgrind-run: done');
    expect(result.stderr).toMatch(/ERROR SUMMARY: 0 errors/);
    expect(result.status).toBe(0);
  });
});
