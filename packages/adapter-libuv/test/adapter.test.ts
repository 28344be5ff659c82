import { readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CSelect,
  CurlCode,
  CurlError,
  CurlMultiError,
  Easy,
  Multi,
  NativeTrace,
  Poll,
  SOCKET_TIMEOUT,
} from '@multisock/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type LibuvAttachment, libuv } from '../src/index.js';

// The adapter runs natively (native/libuv.cc): libcurl's socket and timer callbacks never reach
// JavaScript, so these tests read what happened from the core's trace of the native loop
// (multi.traceNativeLoop / takeNativeTrace) and from the attachment's own view (registrations,
// timerArmed, detached). The adapter's uv handles are its addon's own: the testkit's scripted
// driver (packages/testkit/test/native-table.test.ts) counts them on Node's loop.
//
// A plain node:http server (the testkit's servers would make a dependency cycle):
// /stall never answers, /later answers after 400 ms, /reset resets the connection, anything
// else echoes its path.
let server: http.Server;
let base = '';
const stalled = new Set<http.ServerResponse>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/stall') {
      stalled.add(res);
      res.on('close', () => stalled.delete(res));
    } else if (req.url === '/later') {
      setTimeout(() => res.end('hello /later'), 400);
    } else if (req.url === '/reset') {
      req.socket.resetAndDestroy();
    } else {
      res.end(`hello ${req.url}`);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Waits until `check` holds (the server side closes its sockets asynchronously). */
async function eventually(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(10);
  }
}

let fds = 0;
let multi: Multi;
beforeEach(async () => {
  await sleep(10);
  fds = openFds();
  multi = new Multi();
  multi.traceNativeLoop(true);
});
afterEach(async () => {
  multi.close();
  server.closeIdleConnections();
  for (const res of stalled) res.destroy();
  await eventually(() => openFds() <= fds);
});

function request(path: string, setup?: (easy: Easy) => void): Easy {
  const easy = new Easy();
  easy.setopt('URL', `${base}${path}`);
  setup?.(easy);
  return easy;
}

async function get(path: string): Promise<string> {
  const easy = request(path);
  try {
    await multi.perform(easy);
    expect(easy.getinfo('RESPONSE_CODE')).toBe(200);
    return easy.takeBody().toString();
  } finally {
    easy.close();
  }
}

type Record =
  | { kind: 'socket'; fd: number; what: number; flags: number; registrations: number }
  | { kind: 'timer'; ms: number; armed: number }
  | { kind: 'action'; fd: number; bits: number; flags: number }
  | { kind: 'turn' };

/** The core's trace of the native loop since the last call (NativeTrace's record layout). */
function trace(target: Multi = multi): Record[] {
  const raw = target.takeNativeTrace();
  const out: Record[] = [];
  for (let i = 0; i + NativeTrace.FIELDS <= raw.length; i += NativeTrace.FIELDS) {
    const [kind, a, b, c, d] = [raw[i]!, raw[i + 1]!, raw[i + 2]!, raw[i + 3]!, raw[i + 4]!];
    if (kind === NativeTrace.SOCKET) out.push({ kind: 'socket', fd: a, what: b, flags: c, registrations: d });
    if (kind === NativeTrace.TIMER) out.push({ kind: 'timer', ms: a, armed: d });
    if (kind === NativeTrace.ACTION) out.push({ kind: 'action', fd: a, bits: b, flags: c });
    if (kind === NativeTrace.TURN) out.push({ kind: 'turn' });
  }
  return out;
}

const actionsOf = (records: Record[]) =>
  records.filter((r): r is Extract<Record, { kind: 'action' }> => r.kind === 'action');

describe('libuv adapter', () => {
  it('runs a GET natively: readiness reaches socket_action as CSelect bits, with no JavaScript', async () => {
    const attachment = libuv.attach(multi);
    expect(libuv.name).toBe('libuv');
    expect(multi.nativeLoop).toBe('libuv');
    expect(attachment.loop).toBe('libuv');
    expect(await get('/one')).toBe('hello /one');
    const records = trace();
    const actions = actionsOf(records);
    expect(actions.some((a) => a.fd >= 0 && a.bits & CSelect.IN)).toBe(true);
    expect(actions.some((a) => a.fd >= 0 && a.bits & CSelect.OUT)).toBe(true);
    for (const a of actions) {
      expect(a.bits & ~(CSelect.IN | CSelect.OUT | CSelect.ERR)).toBe(0);
      if (a.fd === SOCKET_TIMEOUT) expect(a.bits).toBe(0);
      // Made by the native loop, never refused (none from inside a libcurl callback), none by JS.
      expect(a.flags).toBe(0);
    }
    // The transfer was delivered on one of the loop's turns (api->flush).
    expect(records.some((r) => r.kind === 'turn')).toBe(true);
    // No JavaScript callback is installed: the core refuses one while the loop drives the multi.
    expect(() => multi.setopt('SOCKETFUNCTION', () => 0)).toThrow(/driven by the native libuv adapter/);
    // The connection sits idle in libcurl's cache: REMOVEd, so nothing is watched.
    expect(attachment.registrations).toBe(0);
  });

  it('runs 200 GETs with 16 in flight; its registrations follow libcurl’s interest after every callback', async () => {
    const attachment = libuv.attach(multi);
    let next = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    const bodies: string[] = [];
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < 200) {
          const n = next++;
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          expect(attachment.registrations).toBeLessThanOrEqual(16);
          bodies[n] = await get(`/${n}`);
          inFlight--;
        }
      }),
    );
    expect(maxInFlight).toBe(16);
    expect(bodies).toEqual(Array.from({ length: 200 }, (_, n) => `hello /${n}`));
    expect(attachment.registrations).toBe(0);
    // After each socket callback the adapter's count (in the trace) is what libcurl watches.
    const interest = new Set<number>();
    let callbacks = 0;
    for (const r of trace()) {
      if (r.kind !== 'socket') continue;
      callbacks++;
      if (r.what === Poll.REMOVE) interest.delete(r.fd);
      else interest.add(r.fd);
      expect(r.registrations).toBe(interest.size);
    }
    expect(callbacks).toBeGreaterThan(16);
  });

  it('drives libcurl’s timeouts through its timer', async () => {
    const attachment = libuv.attach(multi);
    const easy = request('/stall', (e) => e.setopt('TIMEOUT_MS', 200));
    const started = Date.now();
    try {
      const failure = multi.perform(easy).catch((error: unknown) => error);
      await eventually(() => attachment.registrations === 1);
      expect(attachment.timerArmed).toBe(true);
      const error = await failure;
      expect(error).toBeInstanceOf(CurlError);
      expect((error as CurlError).code).toBe(CurlCode.OPERATION_TIMEDOUT);
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
      expect(attachment.registrations).toBe(0);
      const records = trace();
      // Every value armed the one timer (-1 disarmed it), and the timeout fired through it.
      for (const r of records) if (r.kind === 'timer') expect(r.armed).toBe(r.ms >= 0 ? 1 : 0);
      expect(records.some((r) => r.kind === 'timer' && r.ms >= 150)).toBe(true);
      expect(actionsOf(records).some((a) => a.fd === SOCKET_TIMEOUT)).toBe(true);
    } finally {
      easy.close();
    }
  });

  it('reports a reset connection as CSelect.ERR | IN (uv_poll error), fails it, and keeps working', async () => {
    const attachment = libuv.attach(multi);
    const easy = request('/reset');
    try {
      const error = await multi.perform(easy).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CurlError);
      // RST polls as POLLERR: libuv reports status < 0 and the adapter passes CSelect.ERR with
      // the direction it watched (IN), so libcurl reads and sees the reset (docs/contract.md#ev_bitmask-is-trusted).
      const actions = actionsOf(trace());
      expect(actions.some((a) => a.fd >= 0 && a.bits === (CSelect.ERR | CSelect.IN))).toBe(true);
      expect((error as CurlError).code).toBe(CurlCode.RECV_ERROR);
    } finally {
      easy.close();
    }
    expect(attachment.registrations).toBe(0);
    expect(await get('/after-reset')).toBe('hello /after-reset');
  });

  it('detach() unregisters everything, hands the multi back, and is idempotent; transfers wait for the next attachment', async () => {
    const attachment: LibuvAttachment = libuv.attach(multi);
    // A timeout of their own keeps libcurl's timer armed while they wait (8.x deletes it
    // otherwise, 7.88.1 not always).
    const stall = () => request('/stall', (e) => e.setopt('TIMEOUT_MS', 10_000));
    const easies = [stall(), stall()];
    const pending = easies.map((easy) => multi.perform(easy).catch((error: unknown) => error));
    try {
      await eventually(() => attachment.registrations === 2);
      expect(attachment.timerArmed).toBe(true);
      attachment.detach();
      expect(attachment).toMatchObject({ registrations: 0, timerArmed: false, detached: true });
      expect(multi.nativeLoop).toBe(null);
      attachment.detach();
      expect(attachment.detached).toBe(true);
      trace();
      // Nothing drives the multi now: perform() refuses, and libcurl's callbacks reach no loop.
      const late = request('/late');
      easies.push(late);
      await expect(multi.perform(late)).rejects.toThrow(/nothing drives this Multi/);
      multi.addHandle(late);
      await sleep(50);
      expect(trace()).toEqual([]);
      expect(multi.infoRead()).toBe(null);
      // A new attachment starts what was added meanwhile (the core kicks its timer).
      const again = libuv.attach(multi);
      await eventually(() => multi.infoRead()?.easy === late);
      expect(late.takeBody().toString()).toBe('hello /late');
      multi.close();
      expect(again).toMatchObject({ registrations: 0, timerArmed: false, detached: true });
      for (const error of await Promise.all(pending)) expect(error).toBeInstanceOf(Error);
    } finally {
      for (const easy of easies) easy.close();
    }
  });

  // libcurl calls the socket callback only when a socket's interest changes
  // (docs/contract.md#whole-interest-set): the core announces the sockets of transfers in flight
  // again to the next attachment, or they would wait forever.
  it('a transfer in flight at detach() finishes under the next attachment', async () => {
    const first = libuv.attach(multi);
    const easy = request('/later');
    try {
      multi.addHandle(easy);
      await eventually(() => first.registrations === 1); // waiting for the answer
      first.detach();
      libuv.attach(multi);
      await eventually(() => multi.infoRead()?.easy === easy, 1500);
      expect(easy.takeBody().toString()).toBe('hello /later');
    } finally {
      multi.close();
      easy.close();
    }
  });

  it('close() with transfers in flight leaves nothing registered', async () => {
    const attachment = libuv.attach(multi);
    const easies = Array.from({ length: 8 }, () => request('/stall'));
    const pending = easies.map((easy) => multi.perform(easy).catch((error: unknown) => error));
    try {
      await eventually(() => attachment.registrations === 8);
      multi.close();
      expect(attachment).toMatchObject({ registrations: 0, timerArmed: false, detached: true });
      for (const error of await Promise.all(pending)) expect(error).toBeInstanceOf(CurlMultiError);
      attachment.detach(); // after close: a no-op, no throw
    } finally {
      for (const easy of easies) easy.close();
    }
  });

  it('refuses a second attachment, JavaScript callbacks, a closed Multi and a non-Multi; attaches again after detach', async () => {
    const first = libuv.attach(multi);
    expect(() => libuv.attach(multi)).toThrow(/already attached/);
    first.detach();
    const second = libuv.attach(multi);
    expect(await get('/again')).toBe('hello /again');
    second.detach();
    multi.setopt('TIMERFUNCTION', () => 0);
    expect(() => libuv.attach(multi)).toThrow(/TIMERFUNCTION is set/);
    multi.setopt('TIMERFUNCTION', null);
    const closed = new Multi();
    closed.close();
    expect(() => libuv.attach(closed)).toThrow(/closed/);
    expect(() => libuv.attach({} as Multi)).toThrow(TypeError);
  });
});
