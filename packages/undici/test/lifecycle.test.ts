// close() and destroy() with undici's semantics (callbacks and promises), the dispatcher's
// events, the diagnostics channels as undici publishes them (tracing that adds headers at
// undici:request:create included), and fds back to where they were.
import diagnostics from 'node:diagnostics_channel';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type CertificateSet,
  type EchoReply,
  expectFdsBack,
  type Http2TestServer,
  makeCertificates,
  openFdCount,
  RAW_ROUTES,
  startHttp2Server,
  startHttpServer,
  startRawHttpServer,
  startTlsServer,
  type TestServer,
} from '@multisock/testkit/servers';
import { Agent, type Dispatcher, errors, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CurlDispatcher } from '../src/index.js';
import { loopAdapters, outcome } from './helpers.js';

const adapters = await loopAdapters();

let http: TestServer;
let tls: TestServer;
let raw: TestServer;
let h2: Http2TestServer;
let certs: CertificateSet;

beforeAll(async () => {
  certs = await makeCertificates();
  [http, tls, raw, h2] = await Promise.all([
    startHttpServer(),
    startTlsServer(certs),
    startRawHttpServer(),
    startHttp2Server({ tls: true, certs }),
  ]);
});

afterAll(async () => {
  await Promise.all([http?.close(), tls?.close(), raw?.close(), h2?.close()]);
  await certs?.cleanup();
});

const text = async (dispatcher: Dispatcher, url: string) => (await request(url, { dispatcher })).body.text();

describe.each(adapters)('lifecycle on $name', ({ name, loop }) => {
  const fresh = () => new CurlDispatcher({ loop, ca: certs.caCert });

  it(`${name}: close() lets requests in flight finish, then refuses new ones, as the Agent does`, async () => {
    const traces: string[][] = [];
    for (const dispatcher of [new Agent(), fresh()] as Dispatcher[]) {
      const trace: string[] = [];
      let closedYet = false;
      const inFlight = text(dispatcher, `${http.url}/slow/300`);
      await sleep(20);
      const closing = dispatcher.close().then(() => {
        closedYet = true;
      });
      const callback = new Promise<string>((resolve) => {
        dispatcher.close(((err: Error | null) => resolve(`close callback: ${err}`)) as () => void);
      });
      await sleep(100);
      trace.push(`closed while a response was on its way: ${closedYet}`);
      trace.push(`in flight: ${await inFlight}`);
      await closing;
      trace.push(await callback);
      const after = await outcome(text(dispatcher, `${http.url}/small`));
      trace.push(`after: ${(after as { error: Error }).error.name}`);
      const again = await outcome(dispatcher.close());
      trace.push(`close again: ${again.ok ? 'ok' : (again.error as Error).name}`);
      trace.push(`destroyed: ${(dispatcher as { destroyed?: boolean }).destroyed}`);
      traces.push(trace);
    }
    expect(traces[1]).toEqual(traces[0]);
    expect(traces[1]).toEqual([
      'closed while a response was on its way: false',
      'in flight: slow',
      'close callback: null',
      'after: ClientDestroyedError',
      'close again: ClientDestroyedError',
      'destroyed: true',
    ]);
  });

  it(`${name}: destroy(err) fails requests in flight with err; dispatch and close fail after, as on the Agent`, async () => {
    const traces: string[][] = [];
    for (const dispatcher of [new Agent(), fresh()] as Dispatcher[]) {
      const trace: string[] = [];
      const pending = outcome(text(dispatcher, `${http.url}/slow/3000`));
      const streaming = await request(`${http.url}/bytes/${16 * 1024 * 1024}`, { dispatcher });
      await sleep(20);
      const reason = new Error('shutting down');
      await new Promise<void>((resolve) => {
        dispatcher.destroy(reason, ((err: Error | null) => {
          trace.push(`destroy callback: ${err}`);
          resolve();
        }) as () => void);
      });
      trace.push(`pending: ${((await pending) as { error: Error }).error === reason}`);
      trace.push(
        `body: ${((await outcome(streaming.body.arrayBuffer())) as { error: Error }).error === reason}`,
      );
      await dispatcher.destroy(); // again: resolves
      const handlerErrors: string[] = [];
      const returned = dispatcher.dispatch({ origin: http.url, path: '/small', method: 'GET' }, {
        onConnect() {},
        onHeaders: () => true,
        onData: () => true,
        onComplete() {},
        onError: (e: Error) => handlerErrors.push(e.name),
      } as Dispatcher.DispatchHandler);
      trace.push(`dispatch: ${returned} ${handlerErrors.join()}`);
      const closed = await outcome(dispatcher.close());
      trace.push(`close: ${(closed as { error: Error }).error?.name}`);
      traces.push(trace);
    }
    expect(traces[1]).toEqual(traces[0]);
    expect(traces[1]).toEqual([
      'destroy callback: null',
      'pending: true',
      'body: true',
      'dispatch: false ClientDestroyedError',
      'close: ClientDestroyedError',
    ]);
  });

  it(`${name}: a slow response holds no other request to its host, over HTTP/1.1 and TLS`, async () => {
    const dispatcher = fresh();
    try {
      for (const base of [http.url, tls.url]) {
        const slow = text(dispatcher, `${base}/slow/1500`);
        await sleep(20);
        const started = Date.now();
        const quick = await Promise.all(Array.from({ length: 4 }, () => text(dispatcher, `${base}/small`)));
        expect(quick).toEqual(Array(4).fill('hello world\n'));
        expect(Date.now() - started, base).toBeLessThan(700);
        expect(await slow).toBe('slow');
      }
    } finally {
      await dispatcher.close();
    }
  });

  it(`${name}: destroy() without a reason fails requests with ClientDestroyedError`, async () => {
    const dispatcher = fresh();
    const pending = outcome(text(dispatcher, `${http.url}/slow/3000`));
    await sleep(20);
    await dispatcher.destroy();
    expect(((await pending) as { error: Error }).error).toBeInstanceOf(errors.ClientDestroyedError);
  });

  it(`${name}: emits 'connect' per new connection, and 'disconnect' when destroyed`, async () => {
    const dispatcher = fresh();
    const events: string[] = [];
    dispatcher.on('connect', (origin, targets) =>
      events.push(`connect ${origin} ${targets[0] === dispatcher}`),
    );
    dispatcher.on('disconnect', (origin, targets, error) =>
      events.push(`disconnect ${origin} ${targets[0] === dispatcher} ${error.name}`),
    );
    await text(dispatcher, `${http.url}/small`);
    await text(dispatcher, `${http.url}/small`); // reuses the connection: no event
    await text(dispatcher, `${h2.url}/small`);
    await dispatcher.destroy();
    expect(events).toEqual([
      `connect ${http.url}/ true`,
      `connect ${h2.url}/ true`,
      `disconnect ${http.url}/ true ClientDestroyedError`,
      `disconnect ${h2.url}/ true ClientDestroyedError`,
    ]);
  });

  it(`${name}: publishes undici's diagnostics channels as the Agent does`, async () => {
    const names = ['create', 'headers', 'trailers', 'error'] as const;
    let log: Array<[string, unknown]> = [];
    const listeners = names.map((n) => {
      const listener = (message: unknown) => log.push([n, message]);
      diagnostics.subscribe(`undici:request:${n}`, listener);
      return [n, listener] as const;
    });
    try {
      const runs: unknown[] = [];
      for (const dispatcher of [new Agent(), fresh()] as Dispatcher[]) {
        log = [];
        await (await request(`${raw.url}${RAW_ROUTES.trailers}1000`, { dispatcher })).body.arrayBuffer();
        await outcome(request(`${http.url}/slow/3000`, { dispatcher, headersTimeout: 50 } as never));
        runs.push(
          log.map(([n, m]) => {
            const {
              request: r,
              response,
              trailers,
              error,
            } = m as {
              request: { origin: string; method: string; path: string };
              response?: { statusCode: number; headers: Buffer[]; statusText: string };
              trailers?: Buffer[];
              error?: Error;
            };
            return {
              channel: n,
              origin: r.origin,
              method: r.method,
              path: r.path,
              status: response?.statusCode,
              statusText: response?.statusText,
              headers: response?.headers.map((b) => b.toString()),
              trailers: trailers?.map((b) => b.toString().toLowerCase()),
              error: error?.name,
            };
          }),
        );
        await dispatcher.close();
      }
      expect(runs[1]).toEqual(runs[0]);
      expect((runs[1] as Array<{ channel: string }>).map((e) => e.channel)).toEqual([
        'create',
        'headers',
        'trailers',
        'create',
        'error',
      ]);
    } finally {
      for (const [n, listener] of listeners) diagnostics.unsubscribe(`undici:request:${n}`, listener);
    }
  });

  it(`${name}: a header added at undici:request:create (trace propagation) is sent, as by the Agent`, async () => {
    const inject = (message: unknown) => {
      (message as { request: { addHeader(k: string, v: string): void } }).request.addHeader(
        'traceparent',
        '00-abc-01',
      );
    };
    diagnostics.subscribe('undici:request:create', inject);
    try {
      for (const dispatcher of [new Agent(), fresh()] as Dispatcher[]) {
        const reply = (await (await request(`${http.url}/echo`, { dispatcher })).body.json()) as EchoReply;
        expect(reply.headers.traceparent).toBe('00-abc-01');
        await dispatcher.close();
      }
    } finally {
      diagnostics.unsubscribe('undici:request:create', inject);
    }
  });

  it(`${name}: hundreds of requests over HTTP/1.1, TLS and h2, then close(): fds back to the start`, async () => {
    const baseline = openFdCount();
    const dispatcher = fresh();
    let next = 0;
    const worker = async () => {
      while (next < 300) {
        const base = [http.url, tls.url, h2.url][next++ % 3]!;
        expect(await text(dispatcher, `${base}/small`)).toBe('hello world\n');
      }
    };
    await Promise.all(Array.from({ length: 24 }, worker));
    expect(dispatcher.inFlight).toBe(0);
    await dispatcher.close();
    await expectFdsBack(baseline, 3000);
  });
});
