import {
  CurlError,
  CurlMultiError,
  Easy,
  Multi,
  Pause,
  Poll,
  SOCKET_TIMEOUT,
  WRITEFUNC_PAUSE,
} from '@multisock/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fdsBackTo, openFds, probeDriver, startServer } from './helpers.js';

let server: Awaited<ReturnType<typeof startServer>>;
let baseline = 0;
beforeAll(async () => {
  server = await startServer((req, res) => {
    if (req.url === '/slow') setTimeout(() => res.end('slow'), 2000).unref();
    else res.end('hello world\n');
  });
  baseline = openFds();
});
afterAll(() => server.close());
afterEach(async () => {
  expect(await fdsBackTo(baseline)).toBeLessThanOrEqual(baseline);
});

function get(path = '/', setup?: (easy: Easy) => void): Easy {
  const easy = new Easy();
  easy.setopt('URL', `${server.url}${path}`);
  setup?.(easy);
  return easy;
}

describe('transfers and messages', () => {
  it('perform settles after libcurl has returned, with the body collected natively', async () => {
    const multi = new Multi();
    const driver = probeDriver(multi);
    const easy = get();
    const done = await multi.perform(easy);
    expect(done).toBe(easy);
    expect(multi.inCallback).toBe(false);
    expect(easy.multi).toBe(null);
    expect(easy.getinfo('RESPONSE_CODE')).toBe(200);
    expect(easy.takeBody().toString()).toBe('hello world\n');
    expect(easy.takeHeaders().toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(easy.takeBody().length).toBe(0);
    driver.stop();
    multi.close();
    easy.close();
  });

  it('infoRead returns each DONE message once for handles added directly', async () => {
    const multi = new Multi();
    const driver = probeDriver(multi);
    const easies = [get(), get(), get()];
    for (const easy of easies) multi.addHandle(easy);
    const seen: Easy[] = [];
    while (seen.length < 3) {
      await new Promise((r) => setTimeout(r, 5));
      for (let m = multi.infoRead(); m; m = multi.infoRead()) {
        expect(m.msg).toBe('DONE');
        expect(m.result).toBe(0);
        seen.push(m.easy);
      }
    }
    expect(new Set(seen)).toEqual(new Set(easies));
    expect(multi.infoRead()).toBe(null);
    for (const easy of easies) {
      expect(easy.multi).toBe(multi);
      multi.removeHandle(easy);
      easy.close();
    }
    driver.stop();
    multi.close();
  });

  it('a failed transfer rejects with CurlError carrying code, name, libcurl message and URL', async () => {
    const multi = new Multi();
    const driver = probeDriver(multi);
    const easy = new Easy();
    easy.setopt('URL', 'http://127.0.0.1:1/');
    const error = await multi.perform(easy).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CurlError);
    expect(error).toMatchObject({ code: 7, codeName: 'CURLE_COULDNT_CONNECT', url: 'http://127.0.0.1:1/' });
    expect((error as CurlError).message).toMatch(/127\.0\.0\.1 port 1/);
    driver.stop();
    multi.close();
    easy.close();
  });

  it('a write callback that throws fails its transfer with CURLE_WRITE_ERROR and the error as cause', async () => {
    const multi = new Multi();
    const driver = probeDriver(multi);
    const boom = new Error('consumer failed');
    const easy = get('/', (e) =>
      e.setopt('WRITEFUNCTION', () => {
        throw boom;
      }),
    );
    await expect(multi.perform(easy)).rejects.toMatchObject({ code: 23, cause: boom });
    driver.stop();
    multi.close();
    easy.close();
  });

  it('an added Easy that loses its last JS reference still completes (no GC while added)', async () => {
    const multi = new Multi();
    const driver = probeDriver(multi);
    (() => {
      const easy = get();
      easy.setopt('PRIVATE', { id: 'orphan' });
      multi.addHandle(easy);
    })();
    globalThis.gc?.();
    let message = multi.infoRead();
    for (let i = 0; !message && i < 400; i++) {
      await new Promise((r) => setTimeout(r, 5));
      globalThis.gc?.();
      message = multi.infoRead();
    }
    expect(globalThis.gc).toBeTypeOf('function');
    expect(message?.result).toBe(0);
    expect(message?.easy.getinfo('PRIVATE')).toEqual({ id: 'orphan' });
    expect(message?.easy.takeBody().toString()).toBe('hello world\n');
    message?.easy.close();
    driver.stop();
    multi.close();
  });

  it('an Easy with JS callbacks collected after its transfer runs no JS from its finalizer', async () => {
    const multi = new Multi();
    const driver = probeDriver(multi);
    let debugCalls = 0;
    await (async () => {
      const easy = get('/', (e) => {
        e.setopt('VERBOSE', 1);
        e.setopt('DEBUGFUNCTION', () => {
          debugCalls++;
        });
      });
      await multi.perform(easy);
    })();
    const during = debugCalls;
    expect(during).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) {
      globalThis.gc?.();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(debugCalls).toBe(during);
    driver.stop();
    multi.close();
  });
});

describe('the abort rule', () => {
  it('a socket callback that throws fails every transfer with 42; the call throws 11 with the cause', async () => {
    const multi = new Multi();
    const boom = new Error('adapter broke');
    let announced = 0;
    multi.setopt('SOCKETFUNCTION', () => {
      announced++;
      throw boom;
    });
    const easies = [get('/slow'), get('/slow')];
    const results = easies.map((easy) => multi.perform(easy).catch((e: unknown) => e));
    // The first socket announcement (connect: OUT) happens inside this call, and fails.
    let thrown: unknown;
    try {
      multi.socketAction(SOCKET_TIMEOUT, 0);
    } catch (error) {
      thrown = error;
    }
    expect(announced).toBeGreaterThan(0);
    expect(thrown).toBeInstanceOf(CurlMultiError);
    expect(thrown).toMatchObject({ code: 11, codeName: 'CURLM_ABORTED_BY_CALLBACK', cause: boom });
    for (const result of await Promise.all(results)) {
      expect(result).toBeInstanceOf(CurlError);
      expect(result).toMatchObject({ code: 42, cause: boom });
    }
    for (const easy of easies) expect(easy.multi).toBe(null);
    // The multi is consistent and accepts new transfers.
    const driver = probeDriver(multi);
    const easy = get();
    await multi.perform(easy);
    expect(easy.takeBody().toString()).toBe('hello world\n');
    driver.stop();
    multi.close();
    for (const e of [...easies, easy]) e.close();
  });

  it('a timer callback returning -1 during addHandle: addHandle throws 11, the Easy is failed and not added', async () => {
    const multi = new Multi();
    multi.setopt('TIMERFUNCTION', () => -1);
    const easy = get();
    let thrown: unknown;
    try {
      multi.addHandle(easy);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({
      code: 11,
      cause: expect.objectContaining({ message: 'TIMERFUNCTION returned -1' }),
    });
    expect(easy.multi).toBe(null);
    expect(multi.infoRead()).toMatchObject({ msg: 'DONE', easy, result: 42 });
    // Unlike 7.88.1's own path (docs/contract.md#a-failing-callback), the multi is not left dead.
    const driver = probeDriver(multi);
    await multi.perform(easy);
    expect(easy.getinfo('RESPONSE_CODE')).toBe(200);
    driver.stop();
    multi.close();
    easy.close();
  });
});

describe('re-entrancy', () => {
  it('Multi calls from inside a libcurl callback throw CURLM_RECURSIVE_API_CALL; assign is allowed', async () => {
    const multi = new Multi();
    const errors: Record<string, unknown> = {};
    const attempt = (name: string, fn: () => unknown) => {
      try {
        fn();
        errors[name] = 'no error';
      } catch (error) {
        errors[name] = (error as CurlMultiError).code;
      }
    };
    const other = new Easy();
    multi.setopt('TIMERFUNCTION', (m) => {
      attempt('socketAction', () => m.socketAction(SOCKET_TIMEOUT, 0));
      attempt('addHandle', () => m.addHandle(other));
      attempt('removeHandle', () => m.removeHandle(other));
      attempt('setopt', () => m.setopt('MAXCONNECTS', 2));
      attempt('infoRead', () => m.infoRead());
      attempt('close', () => m.close());
      return 0;
    });
    const easy = get();
    multi.addHandle(easy);
    expect(errors).toEqual({
      socketAction: 8,
      addHandle: 8,
      removeHandle: 8,
      setopt: 8,
      infoRead: 8,
      close: 8,
    });
    expect(multi.closed).toBe(false);
    // The multi works normally afterwards; assign works inside the socket callback.
    multi.removeHandle(easy);
    const driver = probeDriver(multi);
    const assigned: unknown[] = [];
    multi.setopt('SOCKETFUNCTION', (_e, socket, what, _c, socketp) => {
      assigned.push(socketp);
      if (what !== Poll.REMOVE) multi.assign(socket, { socket });
      else driver.sockets.delete(socket);
      if (what !== Poll.REMOVE) driver.sockets.set(socket, what);
      return 0;
    });
    await multi.perform(easy);
    expect(assigned[0]).toBe(null);
    expect(assigned.slice(1).every((p) => typeof p === 'object' && p !== null)).toBe(true);
    driver.stop();
    multi.close();
    easy.close();
    other.close();
  });
});

describe('callbacks during removeHandle, pause and close', () => {
  it('REMOVE during removeHandle mid-transfer is delivered; the pending perform rejects', async () => {
    const multi = new Multi();
    const driver = probeDriver(multi);
    const easy = get('/slow');
    const result = multi.perform(easy).catch((e: unknown) => e);
    while (driver.sockets.size === 0) await new Promise((r) => setTimeout(r, 5));
    const before = driver.calls.length;
    multi.removeHandle(easy);
    const during = driver.calls.slice(before);
    expect(during.some((c) => c.kind === 'socket' && c.what === Poll.REMOVE)).toBe(true);
    expect(driver.sockets.size).toBe(0);
    expect(await result).toMatchObject({ code: 42 });
    driver.stop();
    multi.close();
    easy.close();
  });

  it('pause and unpause reach the socket callback (docs/contract.md#when-callbacks-fire)', async () => {
    const multi = new Multi();
    const driver = probeDriver(multi);
    const chunks: Buffer[] = [];
    let paused = false;
    const easy = get('/', (e) =>
      e.setopt('WRITEFUNCTION', (data) => {
        if (!paused) {
          paused = true;
          return WRITEFUNC_PAUSE;
        }
        chunks.push(data);
        return data.length;
      }),
    );
    const done = multi.perform(easy);
    while (!paused) await new Promise((r) => setTimeout(r, 5));
    const before = driver.calls.length;
    easy.pause(Pause.CONT);
    expect(driver.calls.length).toBeGreaterThan(before);
    await done;
    expect(Buffer.concat(chunks).toString()).toBe('hello world\n');
    driver.stop();
    multi.close();
    easy.close();
  });

  it('close with transfers in flight: REMOVE delivered, performs reject, listeners run, socketp released', async () => {
    const multi = new Multi();
    const driver = probeDriver(multi);
    const easies = [get('/slow'), get('/slow'), get('/slow')];
    const results = easies.map((easy) => multi.perform(easy).catch((e: unknown) => e));
    while (driver.sockets.size < 3) await new Promise((r) => setTimeout(r, 5));
    let closed = 0;
    multi.onClose(() => closed++);
    multi.close();
    expect(closed).toBe(1);
    expect(driver.sockets.size).toBe(0);
    for (const result of await Promise.all(results)) {
      expect(result).toBeInstanceOf(CurlMultiError);
      expect(result).toMatchObject({ code: 1 });
    }
    for (const easy of easies) {
      expect(easy.multi).toBe(null);
      easy.close();
    }
    driver.stop();
  });

  it('socketp is released at REMOVE', async () => {
    const multi = new Multi();
    const driver = probeDriver(multi);
    const refs: WeakRef<object>[] = [];
    multi.setopt('SOCKETFUNCTION', (_e, socket, what, _c, socketp) => {
      if (what === Poll.REMOVE) driver.sockets.delete(socket);
      else {
        driver.sockets.set(socket, what);
        if (socketp === null) {
          const context = { socket };
          refs.push(new WeakRef(context));
          multi.assign(socket, context);
        }
      }
      return 0;
    });
    const easy = get('/', (e) => e.setopt('FORBID_REUSE', 1));
    await multi.perform(easy);
    expect(refs.length).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 10));
    globalThis.gc?.();
    expect(refs.every((r) => r.deref() === undefined)).toBe(true);
    driver.stop();
    multi.close();
    easy.close();
  });
});
