// Both of undici 7's handler styles, driven through dispatch() as undici's own consumers drive
// it, on CurlDispatcher and on undici's Agent side by side: raw headers, trailers, 1xx, pause and
// resume, abort at every stage (exactly one error callback), handlers that throw.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type CertificateSet,
  expectFdsBack,
  type Http2TestServer,
  makeCertificates,
  openFdCount,
  patternBytes,
  RAW_ROUTES,
  startHttp2Server,
  startHttpServer,
  startRawHttpServer,
  type TestServer,
  trailersFor,
} from '@multisock/testkit/servers';
import { Agent, type Dispatcher, errors, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CurlDispatcher } from '../src/index.js';
import { loopAdapters, PatternCheck } from './helpers.js';

const adapters = await loopAdapters();

let http: TestServer;
let raw: TestServer;
let h2: Http2TestServer;
let certs: CertificateSet;

beforeAll(async () => {
  certs = await makeCertificates();
  [http, raw, h2] = await Promise.all([
    startHttpServer(),
    startRawHttpServer(),
    startHttp2Server({ tls: true, certs }),
  ]);
});

afterAll(async () => {
  await Promise.all([http?.close(), raw?.close(), h2?.close()]);
  await certs?.cleanup();
});

type Style = 'legacy' | 'new';

interface Recorded {
  events: string[];
  status: number;
  statusText: string;
  rawHeaders: Buffer[];
  headers: Record<string, unknown> | null;
  body: Buffer;
  trailers: unknown;
  error: unknown;
  done: Promise<void>;
  /** The abort function (legacy) or controller (new) the handler got. */
  abort: ((reason?: Error) => void) | null;
  controller: Dispatcher.DispatchController | null;
  resume: (() => void) | null;
}

interface Hooks {
  onStart?(r: Recorded): void;
  onHeaders?(r: Recorded): boolean | undefined;
  onData?(r: Recorded, chunk: Buffer): boolean | undefined;
}

/** Dispatches `opts` with a handler of `style` that records every call in order. */
function dispatchRecorded(
  dispatcher: Dispatcher,
  opts: Dispatcher.DispatchOptions,
  style: Style,
  hooks: Hooks = {},
): Recorded {
  const chunks: Buffer[] = [];
  let settle!: () => void;
  const r: Recorded = {
    events: [],
    status: 0,
    statusText: '',
    rawHeaders: [],
    headers: null,
    body: Buffer.alloc(0),
    trailers: null,
    error: undefined,
    done: new Promise((resolve) => {
      settle = resolve;
    }),
    abort: null,
    controller: null,
    resume: null,
  };
  const end = () => {
    r.body = Buffer.concat(chunks);
    settle();
  };
  const note = (event: string) => {
    if (event !== 'data' || r.events.at(-1) !== 'data') r.events.push(event);
  };
  const handler =
    style === 'legacy'
      ? {
          onConnect(abort: (reason?: Error) => void) {
            note('connect');
            r.abort = abort;
            hooks.onStart?.(r);
          },
          onResponseStarted() {
            note('responseStarted');
          },
          onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string) {
            note('headers');
            r.status = status;
            r.rawHeaders = rawHeaders;
            r.statusText = statusText;
            r.resume = resume;
            return hooks.onHeaders?.(r);
          },
          onData(chunk: Buffer) {
            note('data');
            chunks.push(chunk);
            return hooks.onData?.(r, chunk);
          },
          onComplete(trailers: Buffer[]) {
            note('complete');
            r.trailers = trailers;
            end();
          },
          onError(error: Error) {
            note('error');
            r.error = error;
            end();
          },
        }
      : {
          onRequestStart(controller: Dispatcher.DispatchController) {
            note('connect');
            r.controller = controller;
            r.abort = (reason?: Error) => controller.abort(reason as Error);
            r.resume = () => controller.resume();
            hooks.onStart?.(r);
          },
          onResponseStart(
            controller: Dispatcher.DispatchController,
            status: number,
            headers: Record<string, unknown>,
            statusText: string,
          ) {
            note('headers');
            r.status = status;
            r.headers = headers;
            r.statusText = statusText;
            r.rawHeaders = (controller as { rawHeaders?: Buffer[] }).rawHeaders ?? [];
            if (hooks.onHeaders?.(r) === false) controller.pause();
          },
          onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer) {
            note('data');
            chunks.push(chunk);
            if (hooks.onData?.(r, chunk) === false) controller.pause();
          },
          onResponseEnd(_controller: Dispatcher.DispatchController, trailers: Record<string, unknown>) {
            note('complete');
            r.trailers = trailers;
            end();
          },
          onResponseError(_controller: Dispatcher.DispatchController, error: Error) {
            note('error');
            r.error = error;
            end();
          },
        };
  dispatcher.dispatch(opts, handler as Dispatcher.DispatchHandler);
  return r;
}

const get = (origin: string, path: string): Dispatcher.DispatchOptions => ({ origin, path, method: 'GET' });
const strings = (raw: Buffer[]) => raw.map((b) => b.toString('latin1'));

describe.each(adapters)('handlers on $name', ({ name, loop }) => {
  let curl: CurlDispatcher;
  /** undici's own Agent, the reference where undici's behaviour is the one to match. */
  let agent: Agent;
  let fdBaseline: number;

  beforeAll(() => {
    fdBaseline = openFdCount();
    curl = new CurlDispatcher({ loop, ca: certs.caCert });
    agent = new Agent({ allowH2: true, connect: { ca: certs.caCert } });
  });

  afterAll(async () => {
    await Promise.all([curl.close(), agent.close()]);
    await expectFdsBack(fdBaseline, 3000);
  });

  afterEach(() => {
    expect(curl.inFlight).toBe(0);
  });

  describe.each(['legacy', 'new'] as const)('%s handler', (style) => {
    it(`${name}: calls the handler in undici's order with the raw head as undici gives it`, async () => {
      for (const dispatcher of [agent, curl]) {
        const r = dispatchRecorded(dispatcher, get(raw.url, RAW_ROUTES.mixedCase), style);
        await r.done;
        expect(r.events).toEqual(
          style === 'legacy'
            ? ['connect', 'responseStarted', 'headers', 'data', 'complete']
            : ['connect', 'headers', 'data', 'complete'],
        );
        expect(r.status).toBe(200);
        expect(r.statusText).toBe('OK');
        // Buffers, names in the server's case, repeated fields kept in order.
        expect(r.rawHeaders.every((b) => Buffer.isBuffer(b))).toBe(true);
        expect(strings(r.rawHeaders)).toEqual([
          'X-Mixed-Case',
          'One',
          'Set-Cookie',
          'a=1',
          'x-repeated',
          '1',
          'Set-Cookie',
          'b=2',
          'X-REPEATED',
          '2',
          'Content-Length',
          '2',
        ]);
        if (style === 'new') {
          expect(r.headers).toEqual({
            'x-mixed-case': 'One',
            'set-cookie': ['a=1', 'b=2'],
            'x-repeated': ['1', '2'],
            'content-length': '2',
          });
          expect(r.trailers).toEqual({});
        } else {
          expect(r.trailers).toEqual([]);
        }
        expect(r.body.toString()).toBe('ok');
      }
    });

    it(`${name}: does not forward 1xx responses (the Agent forwards a 103 and fails on an unasked-for 100)`, async () => {
      for (const path of [RAW_ROUTES.earlyHints, RAW_ROUTES.continue]) {
        const r = dispatchRecorded(curl, get(raw.url, path), style);
        await r.done;
        expect(r.events.filter((e) => e === 'headers')).toHaveLength(1);
        expect(r.status).toBe(200);
        expect(strings(r.rawHeaders)).not.toContain('Link');
        expect(r.body.toString()).toBe('hello');
      }
      // What undici's Agent does instead, so the difference the README states stays true.
      const hints = dispatchRecorded(agent, get(raw.url, RAW_ROUTES.earlyHints), style);
      await hints.done;
      expect(hints.events.filter((e) => e === 'headers')).toHaveLength(2);
      const unasked = dispatchRecorded(agent, get(raw.url, RAW_ROUTES.continue), style);
      await unasked.done;
      expect(unasked.error).toBeInstanceOf(errors.SocketError);
    });

    it(`${name}: hands over trailers of chunked HTTP/1.1 as the Agent does, and of HTTP/2`, async () => {
      const expected = trailersFor(50_000);
      const cases: Array<[Dispatcher, string, string]> = [
        [agent, raw.url, `${RAW_ROUTES.trailers}50000`],
        [curl, raw.url, `${RAW_ROUTES.trailers}50000`],
        // undici 7.30's Agent hands over no HTTP/2 trailers: only CurlDispatcher is checked.
        [curl, h2.url, '/trailers/50000'],
      ];
      for (const [dispatcher, origin, path] of cases) {
        const r = dispatchRecorded(dispatcher, get(origin, path), style);
        await r.done;
        expect(r.error).toBeUndefined();
        expect(r.body.equals(patternBytes(50_000))).toBe(true);
        if (style === 'new') {
          expect(r.trailers).toEqual(Object.fromEntries(expected));
        } else {
          const list = strings(r.trailers as Buffer[]);
          const pairs: string[][] = [];
          for (let i = 0; i < list.length; i += 2) pairs.push([list[i]!.toLowerCase(), list[i + 1]!]);
          expect(pairs).toEqual(expected);
        }
      }
    });

    it(`${name}: a pause holds the body until resume, then it goes on byte-exact`, async () => {
      const n = 4 * 1024 * 1024;
      let pausedAt = -1;
      let received = 0;
      const check = new PatternCheck();
      const r = dispatchRecorded(curl, get(http.url, `/bytes/${n}`), style, {
        onData(_r, chunk) {
          check.update(chunk);
          received += chunk.length;
          if (pausedAt < 0 && received >= 128 * 1024) {
            pausedAt = received;
            return false;
          }
          return undefined;
        },
      });
      while (pausedAt < 0) await sleep(5);
      await sleep(300);
      expect(received).toBe(pausedAt);
      r.resume!();
      await r.done;
      expect(r.error).toBeUndefined();
      expect(check.offset).toBe(n);
      expect(check.mismatchAt).toBe(-1);
    });

    it(`${name}: a pause at the head holds everything until resume`, async () => {
      let resumed = false;
      const r = dispatchRecorded(curl, get(http.url, '/bytes/100000'), style, {
        onHeaders: () => false,
        onData: () => {
          expect(resumed).toBe(true);
          return undefined;
        },
      });
      while (r.status === 0) await sleep(5);
      await sleep(100);
      expect(r.events).not.toContain('data');
      resumed = true;
      r.resume!();
      await r.done;
      expect(r.body.equals(patternBytes(100_000))).toBe(true);
    });

    describe('abort', () => {
      it(`${name}: synchronously in ${style === 'legacy' ? 'onConnect' : 'onRequestStart'}: one error, nothing sent`, async () => {
        for (const dispatcher of [agent, curl]) {
          const before = http.requests;
          const reason = new Error('changed my mind');
          const r = dispatchRecorded(dispatcher, get(http.url, '/small'), style, {
            onStart: (rec) => rec.abort!(reason),
          });
          await r.done;
          await sleep(50);
          expect(r.events).toEqual(['connect', 'error']);
          expect(r.error).toBe(reason);
          expect(http.requests).toBe(before);
        }
      });

      it(`${name}: without a reason it is a RequestAbortedError, as on the Agent`, async () => {
        for (const dispatcher of [agent, curl]) {
          const r = dispatchRecorded(dispatcher, get(http.url, '/slow/2000'), style);
          await sleep(50);
          r.abort!();
          await r.done;
          expect(r.events).toEqual(['connect', 'error']);
          expect(r.error).toBeInstanceOf(errors.RequestAbortedError);
        }
      });

      it(`${name}: inside the headers callback, and inside a data callback`, async () => {
        for (const dispatcher of [agent, curl]) {
          const atHead = dispatchRecorded(dispatcher, get(http.url, '/bytes/1000000'), style, {
            onHeaders: (rec) => {
              rec.abort!(new Error('at head'));
              return undefined;
            },
          });
          await atHead.done;
          expect(atHead.events.slice(-2)).toEqual(['headers', 'error']);
          expect((atHead.error as Error).message).toBe('at head');

          let chunks = 0;
          const midBody = dispatchRecorded(dispatcher, get(http.url, '/bytes/8000000'), style, {
            onData: (rec) => {
              if (++chunks === 2) rec.abort!(new Error('mid body'));
              return undefined;
            },
          });
          await midBody.done;
          await sleep(50);
          expect(midBody.events.slice(-2)).toEqual(['data', 'error']);
          expect(midBody.events).not.toContain('complete');
          expect((midBody.error as Error).message).toBe('mid body');
        }
      });

      it(`${name}: after the end it is a no-op, and a second abort is too`, async () => {
        const r = dispatchRecorded(curl, get(http.url, '/small'), style);
        await r.done;
        r.abort!(new Error('late'));
        r.abort!(new Error('later'));
        await sleep(20);
        expect(r.events.at(-1)).toBe('complete');
        expect(r.error).toBeUndefined();
      });

      it(`${name}: leaves the dispatcher working: the next request reuses a connection`, async () => {
        for (let i = 0; i < 20; i++) {
          const r = dispatchRecorded(curl, get(http.url, '/bytes/300000'), style, {
            onData: (rec) => {
              rec.abort!(new Error('stop'));
              return undefined;
            },
          });
          await r.done;
        }
        const res = await request(`${http.url}/small`, { dispatcher: curl });
        expect(await res.body.text()).toBe('hello world\n');
      });
    });

    it(`${name}: a handler that throws in the headers callback gets its own error`, async () => {
      for (const dispatcher of [agent, curl]) {
        const thrown = new Error('handler bug');
        const r = dispatchRecorded(dispatcher, get(http.url, '/small'), style, {
          onHeaders: () => {
            throw thrown;
          },
        });
        await r.done;
        expect(r.events.at(-1)).toBe('error');
        expect(r.error).toBe(thrown);
      }
    });
  });

  it(`${name}: opts.signal aborts a dispatch, before it starts and while it runs, with one error`, async () => {
    for (const style of ['legacy', 'new'] as const) {
      const early = dispatchRecorded(
        curl,
        { ...get(http.url, '/small'), signal: AbortSignal.abort() } as never,
        style,
      );
      await early.done;
      expect(early.events).toEqual(['connect', 'error']);
      expect((early.error as Error).name).toBe('AbortError');
      const controller = new AbortController();
      const reason = new Error('enough');
      const late = dispatchRecorded(
        curl,
        { ...get(http.url, '/slow/3000'), signal: controller.signal } as never,
        style,
      );
      await sleep(30);
      controller.abort(reason);
      await late.done;
      await sleep(20);
      expect(late.events).toEqual(['connect', 'error']);
      expect(late.error).toBe(reason);
    }
  });

  it(`${name}: HEAD, 204 and 304 end without a body, as on the Agent`, async () => {
    const cases: Array<[string, string]> = [
      ['HEAD', '/bytes/5000'],
      ['GET', '/status/204'],
      ['GET', '/status/304'],
      ['HEAD', '/small'],
    ];
    for (const [method, path] of cases) {
      const seen: unknown[] = [];
      for (const dispatcher of [agent, curl]) {
        const r = dispatchRecorded(
          dispatcher,
          { origin: http.url, path, method } as Dispatcher.DispatchOptions,
          'legacy',
        );
        await r.done;
        const headers = strings(r.rawHeaders).map((x) => x.toLowerCase());
        seen.push({
          events: r.events,
          status: r.status,
          body: r.body.length,
          length: headers[headers.indexOf('content-length') + 1],
        });
      }
      expect(seen[1], `${method} ${path}`).toEqual(seen[0]);
    }
  });

  it(`${name}: opts.query is serialised as undici does`, async () => {
    const urls: string[] = [];
    for (const dispatcher of [agent, curl]) {
      const r = dispatchRecorded(
        dispatcher,
        { ...get(http.url, '/echo'), query: { a: 'b c', n: 1, list: ['x', 'y'] } },
        'legacy',
      );
      await r.done;
      urls.push((JSON.parse(r.body.toString()) as { url: string }).url);
    }
    expect(urls[1]).toBe(urls[0]);
    expect(urls[1]).toBe('/echo?a=b%20c&n=1&list=x&list=y');
  });

  it(`${name}: refuses a handler undici refuses, with the same errors as the Agent`, () => {
    const tryDispatch = (dispatcher: Dispatcher, handler: unknown) => {
      try {
        dispatcher.dispatch(get(http.url, '/small'), handler as Dispatcher.DispatchHandler);
        return null;
      } catch (error) {
        return error;
      }
    };
    for (const handler of [null, 'x', { onConnect() {} }]) {
      const fromAgent = tryDispatch(agent, handler);
      const fromCurl = tryDispatch(curl, handler);
      expect(fromCurl).toBeInstanceOf(errors.InvalidArgumentError);
      expect((fromCurl as Error).message).toBe((fromAgent as Error).message);
    }
  });
});
