import { readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { CSelect, CurlCode, CurlError, Easy, Multi, SOCKET_TIMEOUT } from '@multisock/core';
import { openHandleCount } from '@multisock/libuv-bindings';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type LibuvAttachment, libuv } from '../src/index.js';

// A plain node:http server (the testkit's servers would make a dependency cycle):
// /stall never answers, /reset resets the connection, anything else echoes its path.
let server: http.Server;
let base = '';
const stalled = new Set<http.ServerResponse>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/stall') {
      stalled.add(res);
      res.on('close', () => stalled.delete(res));
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
let handles = 0;
let multi: Multi;
beforeEach(async () => {
  await sleep(10);
  fds = openFds();
  handles = openHandleCount();
  multi = new Multi();
});
afterEach(async () => {
  multi.close();
  server.closeIdleConnections();
  for (const res of stalled) res.destroy();
  await eventually(() => openFds() === fds && openHandleCount() === handles);
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

/** Records the adapter's socketAction calls on their way to the real method (which is
 * read-only on the prototype, so the recorder is defined on the instance). */
function recordActions(target: Multi): Array<[number, number]> {
  const actions: Array<[number, number]> = [];
  const socketAction = target.socketAction.bind(target);
  Object.defineProperty(target, 'socketAction', {
    value: (fd: number, bits: number) => {
      actions.push([fd, bits]);
      return socketAction(fd, bits);
    },
  });
  return actions;
}

describe('libuv adapter', () => {
  it('runs a GET on Node’s loop and passes only CSelect bits to socketAction', async () => {
    const attachment = libuv.attach(multi);
    expect(libuv.name).toBe('libuv');
    const actions = recordActions(multi);
    expect(await get('/one')).toBe('hello /one');
    expect(actions.some(([fd, bits]) => fd >= 0 && bits & CSelect.IN)).toBe(true);
    expect(actions.some(([fd, bits]) => fd >= 0 && bits & CSelect.OUT)).toBe(true);
    for (const [fd, bits] of actions) {
      expect(bits & ~(CSelect.IN | CSelect.OUT | CSelect.ERR)).toBe(0);
      if (fd === SOCKET_TIMEOUT) expect(bits).toBe(0);
    }
    // the connection sits idle in libcurl's cache: REMOVEd, so nothing is watched
    expect(attachment.registrations).toBe(0);
  });

  it('runs 200 GETs with 16 in flight', async () => {
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
  });

  it('drives libcurl’s timeouts through its Timer', async () => {
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
    } finally {
      easy.close();
    }
  });

  it('reports a reset connection as CSelect.ERR | IN (uv_poll error), fails it, and keeps working', async () => {
    const attachment = libuv.attach(multi);
    const actions = recordActions(multi);
    const easy = request('/reset');
    try {
      const error = await multi.perform(easy).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CurlError);
      // RST polls as POLLERR: libuv reports status < 0 and the adapter passes CSelect.ERR with
      // the direction it watched (IN), so libcurl reads and sees the reset (statement 27).
      expect(actions.some(([fd, bits]) => fd >= 0 && bits === (CSelect.ERR | CSelect.IN))).toBe(true);
      expect((error as CurlError).code).toBe(CurlCode.RECV_ERROR);
    } finally {
      easy.close();
    }
    expect(attachment.registrations).toBe(0);
    expect(await get('/after-reset')).toBe('hello /after-reset');
  });

  it('detach() unregisters everything, unsets the callbacks, and is idempotent', async () => {
    const attachment: LibuvAttachment = libuv.attach(multi);
    const easies = [request('/stall'), request('/stall')];
    const pending = easies.map((easy) => multi.perform(easy).catch((error: unknown) => error));
    try {
      await eventually(() => attachment.registrations === 2);
      expect(attachment.timerArmed).toBe(true);
      attachment.detach();
      expect(attachment).toMatchObject({ registrations: 0, timerArmed: false, detached: true });
      attachment.detach();
      expect(attachment.detached).toBe(true);
      // libcurl no longer calls the adapter: a new transfer's timer goes nowhere
      const late = request('/late');
      easies.push(late);
      pending.push(multi.perform(late).catch((error: unknown) => error));
      await sleep(50);
      expect(attachment).toMatchObject({ registrations: 0, timerArmed: false });
      expect(openHandleCount()).toBe(handles);
      multi.close();
      for (const error of await Promise.all(pending)) expect(error).toBeInstanceOf(Error);
    } finally {
      for (const easy of easies) easy.close();
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
      for (const error of await Promise.all(pending)) expect(error).toBeInstanceOf(Error);
      attachment.detach(); // after close: a no-op, no throw
    } finally {
      for (const easy of easies) easy.close();
    }
  });

  it('refuses a second attachment, a closed Multi and a non-Multi; attaches again after detach', async () => {
    const first = libuv.attach(multi);
    expect(() => libuv.attach(multi)).toThrow(/already attached/);
    first.detach();
    const second = libuv.attach(multi);
    expect(await get('/again')).toBe('hello /again');
    second.detach();
    const closed = new Multi();
    closed.close();
    expect(() => libuv.attach(closed)).toThrow(/closed/);
    expect(() => libuv.attach({} as Multi)).toThrow(TypeError);
  });
});
