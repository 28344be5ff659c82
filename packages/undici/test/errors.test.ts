// Errors a caller can tell apart: undici's classes where undici's own code and users check them,
// each with the CurlError as cause; timeouts; bad input refused as undici's Agent refuses it.
import { setTimeout as sleep } from 'node:timers/promises';
import { CurlError } from '@multisock/core';
import {
  type CertificateSet,
  expectFdsBack,
  type FaultKind,
  makeCertificates,
  openFdCount,
  RAW_ROUTES,
  startFaultServer,
  startHttpServer,
  startRawHttpServer,
  startTlsServer,
  startUnacceptingServer,
  type TestServer,
} from '@multisock/testkit/servers';
import { Agent, type Dispatcher, errors, fetch, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CurlDispatcher, ERROR_TABLE } from '../src/index.js';
import { loopAdapters, outcome } from './helpers.js';

const adapters = await loopAdapters();

let http: TestServer;
let raw: TestServer;
let tls: TestServer;
let certs: CertificateSet;

beforeAll(async () => {
  certs = await makeCertificates();
  [http, raw, tls] = await Promise.all([startHttpServer(), startRawHttpServer(), startTlsServer(certs)]);
});

afterAll(async () => {
  await Promise.all([http?.close(), raw?.close(), tls?.close()]);
  await certs?.cleanup();
});

/** The error a request rejects with. */
async function failure(promise: Promise<unknown>): Promise<Error> {
  const result = await outcome(promise);
  if (result.ok) throw new Error('expected the request to fail');
  return result.error as Error;
}

/** Reads the whole body so that an error in it surfaces. */
async function requestAll(url: string, options: Parameters<typeof request>[1]): Promise<Buffer> {
  const res = await request(url, options);
  return Buffer.from(await res.body.arrayBuffer());
}

function expectCurlCause(error: Error, code: number): void {
  expect(error.cause).toBeInstanceOf(CurlError);
  const cause = error.cause as CurlError;
  expect(cause.code).toBe(code);
  expect(cause.codeName).toMatch(/^CURLE_/);
  expect(cause.curlMessage.length).toBeGreaterThan(0);
}

describe.each(adapters)('errors on $name', ({ name, loop }) => {
  let curl: CurlDispatcher;
  let fdBaseline: number;

  beforeAll(() => {
    fdBaseline = openFdCount();
    curl = new CurlDispatcher({ loop, ca: certs.caCert });
  });

  afterAll(async () => {
    await curl.close();
    await expectFdsBack(fdBaseline, 3000);
  });

  it(`${name}: a refused connection is a SocketError (retryable, as undici's retry checks), cause CURLE_COULDNT_CONNECT`, async () => {
    const gone = await startHttpServer();
    const url = `${gone.url}/small`;
    await gone.close();
    const events: unknown[] = [];
    curl.on('connectionError', (origin, targets, error) => events.push([String(origin), targets[0], error]));
    const error = await failure(request(url, { dispatcher: curl }));
    curl.removeAllListeners('connectionError');
    expect(error).toBeInstanceOf(errors.SocketError);
    expect((error as errors.SocketError).code).toBe('UND_ERR_SOCKET');
    expectCurlCause(error, 7);
    expect(events).toEqual([[`${new URL(url).origin}/`, curl, error]]);
    // fetch wraps it as it wraps the Agent's: TypeError('fetch failed') with the cause.
    const viaFetch = await failure(fetch(url, { dispatcher: curl }));
    expect(viaFetch).toBeInstanceOf(TypeError);
    expect(viaFetch.message).toBe('fetch failed');
    expect(viaFetch.cause).toBeInstanceOf(errors.SocketError);
  });

  it(`${name}: a connect that never completes is a ConnectTimeoutError, as on the Agent`, async () => {
    const unaccepting = await startUnacceptingServer();
    const agent = new Agent({ connect: { timeout: 200 } });
    const dispatcher = new CurlDispatcher({ loop, connectTimeout: 200 });
    try {
      for (const d of [agent, dispatcher]) {
        const started = Date.now();
        const error = await failure(request(`${unaccepting.url}/`, { dispatcher: d }));
        expect(error).toBeInstanceOf(errors.ConnectTimeoutError);
        expect(Date.now() - started).toBeLessThan(2000);
        if (d === dispatcher) expectCurlCause(error, 28);
      }
    } finally {
      await Promise.all([agent.close(), dispatcher.close()]);
      await unaccepting.close();
    }
  });

  it(`${name}: headersTimeout and bodyTimeout fail as on the Agent, per dispatcher and per request`, async () => {
    const agent = new Agent({ headersTimeout: 150, bodyTimeout: 150 });
    const dispatcher = new CurlDispatcher({ loop, headersTimeout: 150, bodyTimeout: 150 });
    const unlimited = new Agent();
    try {
      for (const d of [agent, dispatcher]) {
        const started = Date.now();
        const head = await failure(requestAll(`${http.url}/slow/3000`, { dispatcher: d }));
        expect(head).toBeInstanceOf(errors.HeadersTimeoutError);
        const body = await failure(requestAll(`${raw.url}${RAW_ROUTES.bodyThenStall}`, { dispatcher: d }));
        expect(body).toBeInstanceOf(errors.BodyTimeoutError);
        // Per request, on a dispatcher without them.
        const perRequest = await failure(
          requestAll(`${http.url}/slow/3000`, {
            dispatcher: d === agent ? unlimited : curl,
            headersTimeout: 100,
          } as Parameters<typeof request>[1]),
        );
        expect(perRequest).toBeInstanceOf(errors.HeadersTimeoutError);
        if (d === dispatcher) {
          // undici's Agent rounds timers to about a second; libcurl's dispatcher keeps them.
          expect(Date.now() - started).toBeLessThan(1000);
          expectCurlCause(head, 28);
          expectCurlCause(body, 28);
        }
      }
      // 0 turns them off.
      const patient = new CurlDispatcher({ loop, headersTimeout: 0 });
      try {
        expect((await requestAll(`${http.url}/slow/300`, { dispatcher: patient })).toString()).toBe('slow');
      } finally {
        await patient.close();
      }
    } finally {
      await Promise.all([agent.close(), dispatcher.close(), unlimited.close()]);
    }
  });

  it(`${name}: bodyTimeout does not run while the consumer holds the body`, async () => {
    const dispatcher = new CurlDispatcher({ loop, bodyTimeout: 100 });
    try {
      const res = await request(`${http.url}/bytes/${8 * 1024 * 1024}`, { dispatcher });
      await sleep(500); // nothing read: the transfer is paused, which is not the server's fault
      const body = Buffer.from(await res.body.arrayBuffer());
      expect(body.length).toBe(8 * 1024 * 1024);
    } finally {
      await dispatcher.close();
    }
  });

  it(`${name}: maxHeaderSize and maxResponseSize fail with undici's classes, as on the Agent`, async () => {
    const agent = new Agent({ maxHeaderSize: 1024, maxResponseSize: 1000 });
    const dispatcher = new CurlDispatcher({ loop, maxHeaderSize: 1024, maxResponseSize: 1000 });
    try {
      for (const d of [agent, dispatcher]) {
        const head = await failure(requestAll(`${http.url}/headers/200`, { dispatcher: d }));
        expect(head).toBeInstanceOf(errors.HeadersOverflowError);
        const body = await failure(requestAll(`${http.url}/chunked/100000`, { dispatcher: d }));
        expect(body).toBeInstanceOf(errors.ResponseExceededMaxSizeError);
        if (d === dispatcher) {
          expectCurlCause(head, 23);
          expectCurlCause(body, 63);
        }
      }
      // The default is undici's 16 KiB.
      const big = await failure(requestAll(`${http.url}/headers/2000`, { dispatcher: curl }));
      expect(big).toBeInstanceOf(errors.HeadersOverflowError);
    } finally {
      await Promise.all([agent.close(), dispatcher.close()]);
    }
  });

  it(`${name}: a broken server gives the class the Agent gives (a reset: retryable on both)`, async () => {
    // The codes undici's retry interceptor retries by default.
    const retryable = ['ECONNRESET', 'ECONNREFUSED', 'ENOTFOUND', 'EPIPE', 'UND_ERR_SOCKET'];
    const expected: Array<[FaultKind, new (...args: never[]) => Error, number[]]> = [
      ['reset-after-headers', errors.SocketError, [56]],
      ['short-body', errors.SocketError, [18]],
      ['close-on-accept', errors.SocketError, [52]],
      ['malformed-status', errors.HTTPParserError, [1, 8]],
    ];
    const agent = new Agent();
    try {
      for (const [kind, Class, codes] of expected) {
        const server = await startFaultServer(kind);
        try {
          const fromAgent = await failure(requestAll(`${server.url}/`, { dispatcher: agent }));
          const fromCurl = await failure(requestAll(`${server.url}/`, { dispatcher: curl }));
          if (kind === 'reset-after-headers') {
            // The Agent passes Node's ECONNRESET on; both are errors the retry interceptor retries.
            expect(retryable).toContain((fromAgent as { code?: string }).code);
            expect(retryable).toContain((fromCurl as { code?: string }).code);
          } else {
            expect(fromAgent, `${kind} on the Agent`).toBeInstanceOf(Class);
          }
          expect(fromCurl, kind).toBeInstanceOf(Class);
          expect(codes, kind).toContain((fromCurl.cause as CurlError).code);
        } finally {
          await server.close();
        }
      }
    } finally {
      await agent.close();
    }
  });

  it(`${name}: a certificate that does not verify is libcurl's CurlError (the Agent's is Node's, not undici's)`, async () => {
    const strict = new CurlDispatcher({ loop }); // the system's CAs: the test CA is not among them
    const lax = new CurlDispatcher({ loop, rejectUnauthorized: false });
    try {
      const error = await failure(requestAll(`${tls.url}/small`, { dispatcher: strict }));
      expect(error).toBeInstanceOf(CurlError);
      expect((error as CurlError).code).toBe(60);
      expect((await requestAll(`${tls.url}/small`, { dispatcher: lax })).toString()).toBe('hello world\n');
      expect((await requestAll(`${tls.url}/small`, { dispatcher: curl })).toString()).toBe('hello world\n');
    } finally {
      await Promise.all([strict.close(), lax.close()]);
    }
  });

  it(`${name}: bad dispatch options are refused with the Agent's errors and messages`, async () => {
    const agent = new Agent();
    const base = { origin: http.url, path: '/small', method: 'GET' };
    const cases: Array<[string, Record<string, unknown>]> = [
      ['no origin', { origin: undefined }],
      ['a path without a slash', { path: 'small' }],
      ['a path with a space', { path: '/a b' }],
      ['a method that is not a token', { method: 'GE T' }],
      ['a header name that is not a token', { headers: { 'bad header': 'x' } }],
      ['a header value with a newline', { headers: { 'x-a': 'a\nb' } }],
      ['Transfer-Encoding', { headers: { 'transfer-encoding': 'chunked' } }],
      ['Keep-Alive', { headers: { 'keep-alive': '5' } }],
      ['Expect', { headers: { expect: '100-continue' } }],
      ['an odd flat array', { headers: ['x-a'] }],
      ['two Host headers', { headers: ['host', 'a', 'host', 'b'] }],
      ['a Content-Length that is not a number', { headers: { 'content-length': 'ten' } }],
      ['a negative headersTimeout', { headersTimeout: -1 }],
      ['a bodyTimeout that is not a number', { bodyTimeout: 'soon' }],
      ['a body of a wrong type', { method: 'POST', body: 42 }],
      ['maxRedirections', { maxRedirections: 3 }],
    ];
    try {
      for (const [what, opts] of cases) {
        const options = { ...base, ...opts } as Dispatcher.RequestOptions;
        const fromAgent = await failure(agent.request(options));
        const fromCurl = await failure(curl.request(options));
        expect(fromCurl.constructor, what).toBe(fromAgent.constructor);
        expect(fromCurl.message, what).toBe(fromAgent.message);
        expect(fromCurl).toBeInstanceOf(errors.UndiciError);
      }
    } finally {
      await agent.close();
    }
    expect(curl.inFlight).toBe(0);
  });

  it(`${name}: upgrade and CONNECT are refused with a NotSupportedError saying why`, async () => {
    const upgrade = await failure(
      curl.upgrade({ origin: http.url, path: '/', protocol: 'websocket' } as Dispatcher.UpgradeOptions),
    );
    expect(upgrade).toBeInstanceOf(errors.NotSupportedError);
    expect(upgrade.message).toMatch(/does not upgrade connections \(websocket\)/);
    const connect = await failure(curl.connect({ origin: http.url, path: '/' }));
    expect(connect).toBeInstanceOf(errors.NotSupportedError);
    expect(connect.message).toMatch(/CONNECT/);
  });

  it(`${name}: bad dispatcher options are InvalidArgumentErrors naming what to use`, () => {
    const make = (options: unknown) => () =>
      new CurlDispatcher(options as ConstructorParameters<typeof CurlDispatcher>[0]);
    expect(make({ connections: 4 })).toThrow(
      /'connections' is an option of undici's Agent; use maxConnectionsPerHost/,
    );
    expect(make({ nonsense: 1 })).toThrow(errors.InvalidArgumentError);
    expect(make({ headersTimeout: -5 })).toThrow(errors.InvalidArgumentError);
    expect(make({ httpVersion: '3' })).toThrow(errors.InvalidArgumentError);
    expect(make({ curlOptions: { HTTPHEADER: ['a: b'] } })).toThrow(/headers option/);
    expect(make({ curlOptions: { NO_SUCH_OPTION: 1 } })).toThrow(errors.InvalidArgumentError);
    expect(make({ curlOptions: 'PIPEWAIT' })).toThrow(errors.InvalidArgumentError);
    expect(make('fast')).toThrow(errors.InvalidArgumentError);
  });

  it(`${name}: the README's error table lists every mapped code once`, () => {
    const codes = ERROR_TABLE.map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    expect(ERROR_TABLE.find((e) => e.code === 7)?.undici).toBe('SocketError');
    expect(ERROR_TABLE.find((e) => e.code === 28)?.undici).toBe('ConnectTimeoutError');
  });
});
