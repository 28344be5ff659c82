// fetch on CurlDispatcher, with undici's fetch and Node's own: the global dispatcher switch,
// fetch's redirect modes and decoding (fetch's job, not the dispatcher's), AbortSignal at each
// stage, a response that resolves at its head, HTTP/2 multiplexing. undici's Agent is the
// reference in every test where undici's behaviour is the one to match.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type CertificateSet,
  type EchoReply,
  ENCODED_TEXT,
  expectFdsBack,
  type Http2TestServer,
  makeCertificates,
  openFdCount,
  RAW_ROUTES,
  startHttp2Server,
  startHttpServer,
  startRawHttpServer,
  type TestServer,
} from '@multisock/testkit/servers';
import {
  Agent,
  type Dispatcher,
  getGlobalDispatcher,
  request,
  setGlobalDispatcher,
  fetch as undiciFetch,
} from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CurlDispatcher } from '../src/index.js';
import { loopAdapters, outcome } from './helpers.js';

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

const fetchOn = (dispatcher: Dispatcher, url: string, init: RequestInit = {}) =>
  undiciFetch(url, { ...init, dispatcher } as Parameters<typeof undiciFetch>[1]);

describe.each(adapters)('fetch on $name', ({ name, loop }) => {
  let curl: CurlDispatcher;
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

  it(`${name}: setGlobalDispatcher moves undici's fetch, undici.request and Node's global fetch onto libcurl`, async () => {
    const previous = getGlobalDispatcher();
    setGlobalDispatcher(curl);
    try {
      const seen: string[] = [];
      const replies: EchoReply[] = [];
      curl.on('connect', (origin) => seen.push(String(origin)));
      replies.push((await (await undiciFetch(`${http.url}/echo`)).json()) as EchoReply);
      replies.push((await (await request(`${http.url}/echo`)).body.json()) as EchoReply);
      replies.push((await (await globalThis.fetch(`${http.url}/echo`)).json()) as EchoReply);
      curl.removeAllListeners('connect');
      // undici's own clients send 'connection: keep-alive'; libcurl sends no Connection header.
      for (const reply of replies) expect(reply.headers.connection).toBeUndefined();
      expect(seen.length).toBeGreaterThanOrEqual(1);
      expect(seen[0]).toBe(`${http.url}/`);
    } finally {
      setGlobalDispatcher(previous);
    }
    const viaAgent = (await (await fetchOn(agent, `${http.url}/echo`)).json()) as EchoReply;
    expect(viaAgent.headers.connection).toBe('keep-alive');
  });

  it(`${name}: redirect 'follow', 'manual' and 'error' behave as on the Agent, and the dispatcher follows nothing`, async () => {
    const results: Array<Record<string, unknown>> = [];
    for (const dispatcher of [agent, curl]) {
      const before = http.requests;
      const follow = await fetchOn(dispatcher, `${http.url}/redirect/3`);
      const manual = await fetchOn(dispatcher, `${http.url}/redirect/3`, { redirect: 'manual' });
      const error = await outcome(fetchOn(dispatcher, `${http.url}/redirect/3`, { redirect: 'error' }));
      results.push({
        followStatus: follow.status,
        followUrl: follow.url,
        followRedirected: follow.redirected,
        followBody: await follow.text(),
        manualStatus: manual.status,
        manualLocation: manual.headers.get('location'),
        manualBody: await manual.text(),
        errorName: error.ok ? null : (error.error as Error).name,
        errorMessage: error.ok ? null : (error.error as Error).message,
        requests: http.requests - before,
      });
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[1]).toMatchObject({
      followStatus: 200,
      followUrl: `${http.url}/redirect/0`,
      followRedirected: true,
      manualStatus: 302,
      manualLocation: '/redirect/2',
      errorName: 'TypeError',
      requests: 6, // 4 for follow, 1 for manual, 1 for error
    });
  });

  it(`${name}: gzip, br and deflate are decoded by fetch and left alone by request(), as on the Agent`, async () => {
    for (const coding of ['gzip', 'br', 'deflate']) {
      const decoded: Buffer[] = [];
      const undecoded: Buffer[] = [];
      for (const dispatcher of [agent, curl]) {
        const res = await fetchOn(dispatcher, `${http.url}/encoded/${coding}`);
        expect(res.headers.get('content-encoding')).toBe(coding);
        decoded.push(Buffer.from(await res.arrayBuffer()));
        const plain = await request(`${http.url}/encoded/${coding}`, { dispatcher });
        undecoded.push(Buffer.from(await plain.body.arrayBuffer()));
      }
      expect(decoded[1]!.equals(ENCODED_TEXT), coding).toBe(true);
      expect(decoded[0]!.equals(decoded[1]!)).toBe(true);
      expect(undecoded[1]!.equals(undecoded[0]!)).toBe(true);
      expect(undecoded[1]!.equals(ENCODED_TEXT)).toBe(false);
    }
    const asked = await Promise.all(
      [agent, curl].map(
        async (d) => ((await (await fetchOn(d, `${http.url}/echo`)).json()) as EchoReply).headers,
      ),
    );
    expect(asked[1]!['accept-encoding']).toBe(asked[0]!['accept-encoding']);
  });

  describe('AbortSignal', () => {
    it(`${name}: an aborted signal rejects at once and sends nothing, as on the Agent`, async () => {
      for (const dispatcher of [agent, curl]) {
        const before = http.requests;
        const result = await outcome(
          fetchOn(dispatcher, `${http.url}/small`, { signal: AbortSignal.abort() }),
        );
        await sleep(30);
        expect((result as { error: Error }).error.name).toBe('AbortError');
        expect(http.requests).toBe(before);
      }
    });

    it(`${name}: abort before the head rejects fetch and request() with the signal's reason`, async () => {
      for (const dispatcher of [agent, curl]) {
        const controller = new AbortController();
        const started = Date.now();
        const pending = outcome(fetchOn(dispatcher, `${http.url}/slow/3000`, { signal: controller.signal }));
        const reason = new Error('user gave up');
        const other = new AbortController();
        const viaRequest = outcome(request(`${http.url}/slow/3000`, { dispatcher, signal: other.signal }));
        await sleep(50);
        controller.abort();
        other.abort(reason);
        expect(((await pending) as { error: Error }).error.name).toBe('AbortError');
        expect(((await viaRequest) as { error: Error }).error).toBe(reason);
        expect(Date.now() - started).toBeLessThan(1500);
      }
    });

    it(`${name}: abort in the middle of the body errors the body stream`, async () => {
      for (const dispatcher of [agent, curl]) {
        const controller = new AbortController();
        const res = await fetchOn(dispatcher, `${http.url}/bytes/${64 * 1024 * 1024}`, {
          signal: controller.signal,
        });
        const reader = res.body!.getReader();
        await reader.read();
        controller.abort();
        const rest = await outcome(
          (async () => {
            for (;;) if ((await reader.read()).done) return;
          })(),
        );
        expect((rest as { error: Error }).error.name).toBe('AbortError');
      }
      expect(curl.inFlight).toBe(0);
    });

    it(`${name}: abort after the end changes nothing`, async () => {
      const controller = new AbortController();
      const res = await fetchOn(curl, `${http.url}/small`, { signal: controller.signal });
      const text = await res.text();
      controller.abort();
      expect(text).toBe('hello world\n');
    });
  });

  it(`${name}: fetch resolves when the head is in, before any body byte (as an event stream needs)`, async () => {
    for (const dispatcher of [agent, curl]) {
      const controller = new AbortController();
      const res = await fetchOn(dispatcher, `${raw.url}${RAW_ROUTES.headThenStall}`, {
        signal: controller.signal,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-length')).toBe('10');
      const body = res.text();
      await sleep(50);
      controller.abort();
      expect(((await outcome(body)) as { error: Error }).error.name).toBe('AbortError');
    }
  });

  it(`${name}: 100 concurrent fetches over HTTP/2 share one connection`, async () => {
    const dispatcher = new CurlDispatcher({ loop, ca: certs.caCert });
    try {
      const sessions = h2.sessions;
      const streams = h2.streams;
      const responses = await Promise.all(
        Array.from({ length: 100 }, () =>
          fetchOn(dispatcher, `${h2.url}/bytes/1000`).then((r) => r.arrayBuffer()),
        ),
      );
      expect(responses.every((b) => b.byteLength === 1000)).toBe(true);
      expect(h2.sessions - sessions).toBe(1);
      expect(h2.streams - streams).toBe(100);
      expect(dispatcher.connectionsOpened).toBe(1);
    } finally {
      await dispatcher.close();
    }
  });
});
