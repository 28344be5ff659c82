// The first real transfer path end to end: @multisock/core over the real libcurl, Node's own
// loop through @multisock/adapter-libuv, a real uWebSockets.js server on 127.0.0.1.
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { libuv } from '@multisock/adapter-libuv';
import {
  CurlError,
  CurlMultiError,
  Easy,
  Multi,
  NativeTrace,
  Poll,
  type SocketCallback,
} from '@multisock/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  expectFdsBack,
  openFdCount,
  patternBytes,
  referenceAdapter,
  startHttpServer,
  type TestServer,
} from '../src/index.js';

let server: TestServer;
let baseline = 0;
beforeAll(async () => {
  server = await startHttpServer();
});
afterAll(() => server.close());
beforeEach(() => {
  baseline = openFdCount();
});
afterEach(async () => {
  await expectFdsBack(baseline);
});

function get(path: string, setup?: (easy: Easy) => void): Easy {
  const easy = new Easy();
  easy.setopt('URL', `${server.url}${path}`);
  setup?.(easy);
  return easy;
}

/** Records every socket callback on its way to the adapter's own. */
function recordSockets(multi: Multi) {
  const calls: Array<{ socket: number; what: number; socketp: unknown }> = [];
  const setopt = multi.setopt.bind(multi);
  // Native methods are read-only on the prototype, so the wrapper is defined on the instance.
  const recordingSetopt = (name: string, value: unknown) => {
    if (name === 'SOCKETFUNCTION' && typeof value === 'function') {
      const adapters = value as SocketCallback;
      const recording: SocketCallback = (easy, socket, what, clientp, socketp) => {
        calls.push({ socket, what, socketp });
        return adapters(easy, socket, what, clientp, socketp);
      };
      return setopt('SOCKETFUNCTION', recording);
    }
    return setopt(name as 'MAXCONNECTS', value as number);
  };
  Object.defineProperty(multi, 'setopt', { value: recordingSetopt });
  return calls;
}

describe('core over adapter-libuv and uWebSockets.js', () => {
  it('one GET', async () => {
    const multi = new Multi();
    const attachment = libuv.attach(multi);
    const easy = await multi.perform(get('/small'));
    expect(easy.getinfo('RESPONSE_CODE')).toBe(200);
    expect(easy.takeBody().toString()).toBe('hello world\n');
    // The native uWS build answered, not its slow JS fallback.
    expect(easy.takeHeaders().toString().toLowerCase()).toContain('uwebsockets: 20');
    attachment.detach();
    multi.close();
    easy.close();
  });

  it('1,000 GETs with 64 in flight reuse connections', async () => {
    const multi = new Multi();
    // libcurl's default idle-connection cache is 4x the handles added at the moment; between a
    // finished transfer's delivery and its next perform the count dips, and libcurl 8 may then
    // close an idle connection it would have reused. The Client sets MAXCONNECTS itself.
    multi.setopt('MAXCONNECTS', 64);
    libuv.attach(multi);
    const before = server.connections;
    const pool = Array.from({ length: 64 }, () => get('/small'));
    let started = 0;
    let bytes = 0;
    const worker = async (easy: Easy) => {
      while (started < 1000) {
        started++;
        await multi.perform(easy);
        bytes += easy.takeBody().length;
      }
    };
    await Promise.all(pool.map(worker));
    expect(bytes).toBe(1000 * 12);
    const opened = server.connections - before;
    expect(opened).toBeGreaterThan(0);
    expect(opened).toBeLessThanOrEqual(64);
    const numConnects = pool.reduce((n, easy) => n + easy.getinfo('NUM_CONNECTS'), 0);
    expect(numConnects).toBeLessThanOrEqual(64);
    multi.close();
    for (const easy of pool) easy.close();
  });

  it('64 KiB and 10 MiB bodies arrive byte-exact', async () => {
    const multi = new Multi();
    libuv.attach(multi);
    for (const size of [64 * 1024, 10 * 1024 * 1024]) {
      const easy = await multi.perform(get(`/bytes/${size}`));
      const body = easy.takeBody();
      expect(body.length).toBe(size);
      expect(body.equals(patternBytes(size))).toBe(true);
      easy.close();
    }
    multi.close();
  });

  it('a POST with a body', async () => {
    const multi = new Multi();
    libuv.attach(multi);
    const payload = Buffer.from(patternBytes(300_000));
    const easy = await multi.perform(get('/echo', (e) => e.setopt('POSTFIELDS', payload)));
    const echo = JSON.parse(easy.takeBody().toString());
    expect(echo).toMatchObject({
      method: 'POST',
      bodyLength: payload.length,
      bodySha256: createHash('sha256').update(payload).digest('hex'),
    });
    multi.close();
    easy.close();
  });

  it('a reused keep-alive socket is announced again with socketp null (docs/contract.md#remove-forgets-socketp): JS callbacks', async () => {
    // The seed's contract, seen by a TypeScript adapter (the reference adapter assigns socketp).
    const multi = new Multi();
    const calls = recordSockets(multi);
    referenceAdapter.attach(multi);
    const before = server.connections;
    const easy = get('/small');
    await multi.perform(easy);
    await multi.perform(easy);
    expect(server.connections - before).toBe(1);
    const socket = calls[0]!.socket;
    expect(calls[0]!.socketp).toBe(null);
    const firstRemove = calls.findIndex((c) => c.socket === socket && c.what === Poll.REMOVE);
    expect(firstRemove).toBeGreaterThan(0);
    const reannounce = calls
      .slice(firstRemove + 1)
      .find((c) => c.socket === socket && c.what !== Poll.REMOVE);
    expect(reannounce).toBeDefined();
    expect(reannounce!.socketp).toBe(null);
    // Every announcement after the first of each registration carries the adapter's context.
    expect(calls.filter((c) => c.what !== Poll.REMOVE && c.socketp !== null).length).toBeGreaterThan(0);
    multi.close();
    easy.close();
  });

  it('a reused keep-alive socket is announced again as fresh (docs/contract.md#remove-forgets-socketp): native loop', async () => {
    // Under a native loop the core keeps socketp; its trace says which announcements found none
    // (NativeTrace.SOCKET_FRESH, MULTISOCK_SOCKET_FRESH for the adapter).
    const multi = new Multi();
    multi.traceNativeLoop(true);
    libuv.attach(multi);
    const before = server.connections;
    const easy = get('/small');
    await multi.perform(easy);
    await multi.perform(easy);
    expect(server.connections - before).toBe(1);
    const calls: Array<{ socket: number; what: number; fresh: boolean }> = [];
    const trace = multi.takeNativeTrace();
    for (let i = 0; i + NativeTrace.FIELDS <= trace.length; i += NativeTrace.FIELDS) {
      if (trace[i] !== NativeTrace.SOCKET) continue;
      const fresh = (trace[i + 3]! & NativeTrace.SOCKET_FRESH) !== 0;
      calls.push({ socket: trace[i + 1]!, what: trace[i + 2]!, fresh });
    }
    const socket = calls[0]!.socket;
    expect(calls[0]!.fresh).toBe(true);
    const firstRemove = calls.findIndex((c) => c.socket === socket && c.what === Poll.REMOVE);
    expect(firstRemove).toBeGreaterThan(0);
    const reannounce = calls
      .slice(firstRemove + 1)
      .find((c) => c.socket === socket && c.what !== Poll.REMOVE);
    expect(reannounce).toBeDefined();
    expect(reannounce!.fresh).toBe(true);
    // Within a registration the later announcements are not fresh.
    expect(calls.filter((c) => c.what !== Poll.REMOVE && !c.fresh).length).toBeGreaterThan(0);
    multi.close();
    easy.close();
  });

  it('removal mid-transfer leaves nothing registered', async () => {
    const multi = new Multi();
    const attachment = libuv.attach(multi) as ReturnType<typeof libuv.attach> & { registrations: number };
    const easy = get('/slow/2000');
    const result = multi.perform(easy).catch((e: unknown) => e);
    while (attachment.registrations === 0) await new Promise((r) => setTimeout(r, 2));
    multi.removeHandle(easy);
    expect(attachment.registrations).toBe(0);
    expect(await result).toBeInstanceOf(CurlError);
    multi.close();
    easy.close();
  });

  it('close with transfers in flight rejects them and leaves nothing registered', async () => {
    const multi = new Multi();
    const attachment = libuv.attach(multi) as ReturnType<typeof libuv.attach> & {
      registrations: number;
      timerArmed: boolean;
    };
    const easies = Array.from({ length: 8 }, () => get('/slow/2000'));
    const results = easies.map((easy) => multi.perform(easy).catch((e: unknown) => e));
    while (attachment.registrations < 8) await new Promise((r) => setTimeout(r, 2));
    multi.close();
    expect(attachment.registrations).toBe(0);
    expect(attachment.timerArmed).toBe(false);
    for (const result of await Promise.all(results)) expect(result).toBeInstanceOf(CurlMultiError);
    for (const easy of easies) easy.close();
  });

  it('a worker thread runs its own multi on its own loop, and can be terminated mid-transfer', async () => {
    const fixture = new URL('./fixtures/libuv-worker.mjs', import.meta.url);
    const run = (workerData: unknown) => {
      const worker = new Worker(fixture, { workerData });
      const messages: unknown[] = [];
      worker.on('message', (m) => messages.push(m));
      const exited = new Promise<number>((resolve, reject) => {
        worker.on('exit', resolve);
        worker.on('error', reject);
      });
      return { worker, messages, exited };
    };
    const a = run({ url: `${server.url}/small`, count: 200, inFlight: 16 });
    const b = run({ url: `${server.url}/small`, count: 200, inFlight: 16 });
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
    expect(a.messages).toEqual([{ done: 200, bytes: 200 * 12 }]);
    expect(b.messages).toEqual([{ done: 200, bytes: 200 * 12 }]);

    const held = run({ url: `${server.url}/slow/5000`, count: 8, inFlight: 8, hold: true });
    while (held.messages.length === 0) await new Promise((r) => setTimeout(r, 5));
    expect(held.messages[0]).toEqual({ registered: 8 });
    await held.worker.terminate();
  });
});
