// The adapter driven by real libcurl against a node:http server on 127.0.0.1 (in a child
// process, so a reactor blocking this thread still gets answers), in both modes: nested in
// Node's loop, and a KqueueReactor. The core's native trace records every action and loop turn,
// and (emulated) the emulation records every kevent() call; after each test the invariants are
// checked on the whole record: each change submitted with EV_RECEIPT and read back from its
// receipts, never EV_CLEAR, at most one action per fd per turn (READ and WRITE coalesced), only
// CSelect bits; and the process's fds back where they were.
import { CSelect, Easy, Multi, NativeTrace, Poll } from '@multisock/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type KqueueAttachment, KqueueReactor, KqueueUnavailableError, kqueue } from '../src/index.js';
import { adapter, backend, backendName, emulated } from './backend.js';
import type { KeventCall } from './emulation/index.js';
import { fdsBackTo, openFdCount } from './fds.js';
import { startServer, type TestServer } from './server.js';

const C = backend.constants;
const SOCKET_TIMEOUT = -1;

type LogEntry = { kind: 'turn' } | { kind: 'action'; fd: number; bits: number };

/** The loop's actions and turns since the last call, from the core's native trace. */
function readTrace(multi: Multi, into: LogEntry[]): LogEntry[] {
  const t = multi.takeNativeTrace();
  for (let i = 0; i + NativeTrace.FIELDS <= t.length; i += NativeTrace.FIELDS) {
    const [kind, a, b, c] = [t[i]!, t[i + 1]!, t[i + 2]!, t[i + 3]!];
    if (kind === NativeTrace.TURN) into.push({ kind: 'turn' });
    else if (kind === NativeTrace.ACTION && (c & NativeTrace.ACTION_FROM_JS) === 0)
      into.push({ kind: 'action', fd: a, bits: b });
  }
  return into;
}

/** Every kevent() call since the last take (emulated only: the real kqueue records nothing). */
const takeCalls = (): KeventCall[] => (emulated ? backend.take() : []);

interface Mode {
  readonly name: string;
  attach(multi: Multi): KqueueAttachment;
  /** Runs the loop until `promise` settles. */
  until<T>(promise: Promise<T>): Promise<T>;
  close(): void;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

const modes: Array<[string, () => Mode]> = [
  [
    'nested',
    () => ({ name: 'nested', attach: (multi) => adapter.kqueue.attach(multi), until: (p) => p, close() {} }),
  ],
  [
    'reactor',
    () => {
      const reactor = new adapter.KqueueReactor();
      return {
        name: 'reactor',
        attach: (multi) => reactor.attach(multi),
        async until<T>(promise: Promise<T>): Promise<T> {
          let settled = false;
          const done = promise.finally(() => {
            settled = true;
          });
          done.catch(() => {});
          // Completions are delivered on Node's loop: give it a turn between reactor turns.
          while (!settled) {
            reactor.runOnce(10);
            await turn();
          }
          return promise;
        },
        close: () => reactor.close(),
      };
    },
  ],
];

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.close();
});

function get(path: string): Easy {
  const easy = new Easy();
  easy.setopt('URL', `${server.url}${path}`);
  easy.setopt('PROXY', '');
  easy.setopt('NOSIGNAL', 1);
  return easy;
}

describe.each(modes)(`kqueue adapter, %s (${backendName})`, (_name, makeMode) => {
  let baseline: number;
  let mode: Mode;
  let multi: Multi;
  let attachment: KqueueAttachment;
  let log: LogEntry[];
  let calls: KeventCall[];
  const easies: Easy[] = [];

  const easy = (path: string) => {
    const e = get(path);
    easies.push(e);
    return e;
  };
  const changeCalls = () => {
    calls.push(...takeCalls());
    return calls.filter((c) => c.changes.length > 0);
  };

  beforeEach(() => {
    baseline = openFdCount();
    if (emulated) backend.record(true);
    log = [];
    calls = [];
    mode = makeMode();
    multi = new Multi();
    multi.traceNativeLoop(true);
    attachment = mode.attach(multi);
  });

  afterEach(async () => {
    for (const e of easies.splice(0)) e.close();
    readTrace(multi, log);
    multi.close();
    expect(attachment.registrations).toBe(0);
    expect(attachment.timerArmed).toBe(false);
    mode.close();
    // The invariants, over everything this test made the adapter do.
    for (const call of changeCalls()) {
      expect(call.changes.length).toBeLessThanOrEqual(2);
      expect(call.nevents).toBe(call.changes.length);
      expect(call.rc).toBe(call.changes.length);
      for (const change of call.changes) {
        expect(change.flags & C.EV_RECEIPT).toBe(C.EV_RECEIPT);
        expect(change.flags & C.EV_CLEAR).toBe(0);
      }
    }
    if (emulated) backend.record(false);
    let batch = new Set<number>();
    for (const entry of log) {
      if (entry.kind === 'turn') {
        batch = new Set();
        continue;
      }
      expect(entry.bits & ~(CSelect.IN | CSelect.OUT | CSelect.ERR)).toBe(0);
      if (entry.fd === SOCKET_TIMEOUT) {
        expect(entry.bits).toBe(0);
        continue;
      }
      expect(entry.bits).not.toBe(0);
      expect(batch.has(entry.fd)).toBe(false); // READ and WRITE were coalesced
      batch.add(entry.fd);
    }
    expect(await fdsBackTo(baseline)).toBeLessThanOrEqual(baseline);
  });

  it('GETs 40 bodies byte-exact, 8 in flight, and ends with nothing registered', async () => {
    const sizes = Array.from({ length: 40 }, (_, i) => i * 3001);
    let next = 0;
    const worker = async () => {
      while (next < sizes.length) {
        const size = sizes[next++]!;
        const e = await mode.until(multi.perform(easy(`/bytes/${size}`)));
        expect(e.getinfo('RESPONSE_CODE')).toBe(200);
        expect(e.takeBody().equals(Buffer.alloc(size, 'x'))).toBe(true);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(attachment.registrations).toBe(0);
    expect(readTrace(multi, log).filter((e) => e.kind === 'action').length).toBeGreaterThan(40);
  });

  it('reuses the kept-alive connection for a second GET', async () => {
    const first = await mode.until(multi.perform(easy('/bytes/10')));
    const second = await mode.until(multi.perform(easy('/bytes/20')));
    expect(first.getinfo('NUM_CONNECTS')).toBe(1);
    expect(second.getinfo('NUM_CONNECTS')).toBe(0);
    expect(second.getinfo('LOCAL_PORT')).toBe(first.getinfo('LOCAL_PORT'));
    expect(second.takeBody().toString()).toBe('x'.repeat(20));
  });

  it.runIf(emulated)(
    'each socket callback submits exactly the filters that change, in one kevent() call',
    async () => {
      // Whatever order this libcurl announces things in (OUT -> IN on 7.88.1, other paths on
      // 8.x), the changelists must be the (c) mapping of the announcements, one call each.
      const sockets: Array<[number, number, number]> = [];
      const readSockets = () => {
        const t = multi.takeNativeTrace();
        for (let i = 0; i + NativeTrace.FIELDS <= t.length; i += NativeTrace.FIELDS) {
          if (t[i] === NativeTrace.SOCKET) sockets.push([t[i + 1]!, t[i + 2]!, t[i + 3]!]);
          else if (t[i] === NativeTrace.ACTION && (t[i + 3]! & NativeTrace.ACTION_FROM_JS) === 0) {
            log.push({ kind: 'action', fd: t[i + 1]!, bits: t[i + 2]! });
          } else if (t[i] === NativeTrace.TURN) log.push({ kind: 'turn' });
        }
      };
      for (const path of ['/bytes/5', '/bytes/70000']) {
        await mode.until(multi.perform(easy(path)));
      }
      readSockets();
      const expected: string[][] = [];
      const state = new Map<number, { read: boolean; write: boolean }>();
      for (const [fd, what, flags] of sockets) {
        const had = state.get(fd);
        if (what === Poll.REMOVE) {
          const dels = [...(had?.read ? ['READ DELETE'] : []), ...(had?.write ? ['WRITE DELETE'] : [])];
          if (dels.length > 0) expected.push(dels);
          state.delete(fd);
          continue;
        }
        const read = (what & Poll.IN) !== 0;
        const write = (what & Poll.OUT) !== 0;
        const fresh = (flags & NativeTrace.SOCKET_FRESH) !== 0;
        const list: string[] = [];
        if (had && fresh) {
          list.push(read ? 'READ ADD' : 'READ DELETE', write ? 'WRITE ADD' : 'WRITE DELETE');
        } else {
          if (read !== (had?.read ?? false)) list.push(read ? 'READ ADD' : 'READ DELETE');
          if (write !== (had?.write ?? false)) list.push(write ? 'WRITE ADD' : 'WRITE DELETE');
        }
        if (list.length > 0) expected.push(list);
        state.set(fd, { read, write });
      }
      const describe = (k: { filter: number; flags: number }) =>
        `${k.filter === C.EVFILT_READ ? 'READ' : 'WRITE'} ${k.flags & C.EV_ADD ? 'ADD' : 'DELETE'}`;
      const submitted = changeCalls().map((c) => c.changes.map(describe));
      expect(expected.length).toBeGreaterThanOrEqual(2); // at least one registration and its REMOVE
      expect(submitted).toEqual(expected);
    },
  );

  it('POSTs 2 MiB (Expect: 100-continue) and 300 KiB bodies whole', async () => {
    for (const size of [2 << 20, 300 << 10]) {
      const post = easy('/echo');
      post.setopt('POSTFIELDSIZE_LARGE', size);
      post.setopt('COPYPOSTFIELDS', Buffer.alloc(size, 7));
      await mode.until(multi.perform(post));
      expect(post.takeBody().toString()).toBe(String(size));
    }
  });

  it('arms the timer for 0 inside addHandle and fires it on a later turn, not inside', async () => {
    const e = easy('/bytes/1');
    const promise = multi.perform(e);
    expect(attachment.timerArmed).toBe(true);
    expect(readTrace(multi, log).filter((e) => e.kind === 'action')).toEqual([]); // none inside addHandle
    await mode.until(promise);
    expect(readTrace(multi, log).find((entry) => entry.kind === 'action')).toEqual({
      kind: 'action',
      fd: SOCKET_TIMEOUT,
      bits: 0,
    });
  });

  it('close() with transfers in flight drops every registration and the timer', async () => {
    const promises = [0, 1, 2].map(() => multi.perform(easy('/delay/5000')));
    for (const p of promises) p.catch(() => {});
    const started = new Promise<void>((resolve) => {
      const check = () => (attachment.registrations >= 3 ? resolve() : setTimeout(check, 5));
      check();
    });
    await mode.until(started);
    multi.close();
    expect(attachment.registrations).toBe(0);
    expect(attachment.timerArmed).toBe(false);
    expect(attachment.detached).toBe(true);
    for (const p of promises) await expect(p).rejects.toThrow(/closed/);
  });

  it('detach() drops registrations and callbacks; the multi can be attached again', async () => {
    const slow = multi.perform(easy('/delay/5000'));
    slow.catch(() => {});
    await mode.until(
      new Promise<void>((resolve) => {
        const check = () => (attachment.registrations > 0 ? resolve() : setTimeout(check, 5));
        check();
      }),
    );
    attachment.detach();
    expect(attachment.registrations).toBe(0);
    expect(attachment.timerArmed).toBe(false);
    attachment = mode.attach(multi);
    // libcurl announces only changes, so the new attachment never saw the slow transfer's
    // socket: its REMOVE at removeHandle is for an fd never registered here, a no-op.
    multi.removeHandle(easies[0]!);
    await expect(slow).rejects.toThrow();
    expect(attachment.registrations).toBe(0);
    const again = await mode.until(multi.perform(easy('/bytes/3')));
    expect(again.takeBody().toString()).toBe('xxx');
  });

  it('refuses to attach the same multi twice, or a closed one', () => {
    expect(() => mode.attach(multi)).toThrow(/already attached/);
    const closed = new Multi();
    closed.close();
    expect(() => mode.attach(closed)).toThrow(expect.objectContaining({ code: 1 }));
  });
});

describe(`KqueueReactor (${backendName})`, () => {
  let reactor: InstanceType<typeof adapter.KqueueReactor>;
  let multi: Multi;
  let baseline: number;

  beforeEach(() => {
    baseline = openFdCount();
    reactor = new adapter.KqueueReactor();
    multi = new Multi();
  });

  afterEach(async () => {
    multi.close();
    reactor.close();
    expect(await fdsBackTo(baseline)).toBeLessThanOrEqual(baseline);
  });

  it('run() returns once nothing is left, with the transfers done', async () => {
    reactor.attach(multi);
    const e = get('/bytes/100');
    const p = multi.perform(e);
    reactor.run();
    await expect(p).resolves.toBe(e);
    expect(e.takeBody().length).toBe(100);
    e.close();
    // Nothing registered, no timer: run() and runOnce(-1) return at once.
    reactor.run();
    expect(reactor.runOnce(-1)).toBe(0);
  });

  it('stop() from a callback makes run() return after that turn', async () => {
    reactor.attach(multi);
    const e = get('/delay/300');
    e.setopt('WRITEFUNCTION', (data: Buffer) => data.length);
    e.setopt('XFERINFOFUNCTION', () => {
      reactor.stop();
      return 0;
    });
    e.setopt('NOPROGRESS', 0);
    const p = multi.perform(e);
    p.catch(() => {});
    const start = performance.now();
    reactor.run();
    expect(performance.now() - start).toBeLessThan(250); // before the response came
    multi.removeHandle(e);
    await expect(p).rejects.toThrow();
    e.close();
  });

  it('refuses run()/runOnce() from inside a callback, and close() while running', async () => {
    reactor.attach(multi);
    const errors: unknown[] = [];
    const e = get('/bytes/10');
    e.setopt('WRITEFUNCTION', (data: Buffer) => {
      for (const call of [() => reactor.run(), () => reactor.runOnce(0), () => reactor.close()]) {
        try {
          call();
        } catch (error) {
          errors.push(error);
        }
      }
      return data.length;
    });
    const p = multi.perform(e);
    reactor.run();
    await p;
    e.close();
    expect(errors.map((error) => (error as Error).message)).toEqual([
      expect.stringMatching(/run: called re-entrantly/),
      expect.stringMatching(/runOnce: called re-entrantly/),
      expect.stringMatching(/close: called from inside/),
    ]);
  });

  it('checks its input', () => {
    expect(() => reactor.runOnce(-2)).toThrow(RangeError);
    expect(() => reactor.runOnce(1.5)).toThrow(RangeError);
    expect(() => reactor.runOnce(2 ** 31)).toThrow(RangeError);
    expect(() => reactor.runOnce('1' as unknown as number)).toThrow(TypeError);
    const Reactor = adapter.KqueueReactor;
    expect(() => new Reactor({ maxEvents: 0 })).toThrow(RangeError);
    expect(() => new Reactor({ maxEvents: 1.5 })).toThrow(RangeError);
    expect(() => new Reactor(null as unknown as object)).toThrow(TypeError);
    expect(() => reactor.attach({} as Multi)).toThrow(TypeError);
    reactor.attach(multi);
    expect(() => reactor.attach(multi)).toThrow(/already attached/);
  });

  it('a closed reactor refuses everything but close()', () => {
    reactor.close();
    expect(reactor.closed).toBe(true);
    expect(() => reactor.runOnce(0)).toThrow(/closed/);
    expect(() => reactor.run()).toThrow(/closed/);
    expect(() => reactor.attach(multi)).toThrow(/closed/);
    expect(() => reactor.close()).not.toThrow();
  });

  it('serves several multis at once', async () => {
    const other = new Multi();
    try {
      reactor.attach(multi);
      reactor.attach(other);
      const a = get('/bytes/7');
      const b = get('/bytes/9');
      const pa = multi.perform(a);
      const pb = other.perform(b);
      reactor.run();
      await Promise.all([pa, pb]);
      expect([a.takeBody().length, b.takeBody().length]).toEqual([7, 9]);
      a.close();
      b.close();
    } finally {
      other.close();
    }
  });
});

describe.runIf(emulated)('on Linux, the public adapter', () => {
  it('points to @multisock/adapter-epoll instead of running', () => {
    const multi = new Multi();
    try {
      expect(() => kqueue.attach(multi)).toThrow(KqueueUnavailableError);
      expect(() => kqueue.attach(multi)).toThrow(/adapter-epoll/);
      expect(() => new KqueueReactor()).toThrow(KqueueUnavailableError);
      expect(() => new KqueueReactor()).toThrow(/this is linux.*adapter-epoll/);
    } finally {
      multi.close();
    }
  });
});
