// The Client (@multisock/core) against the real test servers, once per loop adapter that is
// built: HTTP/1.1, TLS, HTTP/2 (h2 and h2c), redirects, timeouts, aborts, streaming with
// backpressure, uploads, size limits, close() and fds.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Client,
  type ClientOptions,
  CurlError,
  CurlMultiError,
  type LoopAdapter,
  ResponseHeaders,
} from '@multisock/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type CertificateSet,
  type EchoReply,
  expectFdsBack,
  FAULT_EXPECTATIONS,
  type FaultServer,
  type Http2TestServer,
  makeCertificates,
  openFdCount,
  patternBytes,
  startFaultServer,
  startHttp2Server,
  startHttpServer,
  startTlsServer,
  startUnacceptingServer,
  type TestServer,
  type UnacceptingServer,
} from '../src/index.js';

// Every adapter whose package is built takes part; a built one that fails to load is an error.
const ADAPTER_PACKAGES = [
  { dir: 'adapter-libuv', module: '@multisock/adapter-libuv', exportName: 'libuv' },
  { dir: 'adapter-epoll', module: '@multisock/adapter-epoll', exportName: 'epoll' },
] as const;
const adapters: Array<{ name: string; adapter: LoopAdapter }> = [];
for (const { dir, module, exportName } of ADAPTER_PACKAGES) {
  if (!existsSync(new URL(`../../${dir}/dist/index.js`, import.meta.url))) continue;
  const loaded = (await import(module)) as Record<string, LoopAdapter>;
  adapters.push({ name: exportName, adapter: loaded[exportName]! });
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

let http: TestServer;
let tls: TestServer;
let h2: Http2TestServer;
let h2c: Http2TestServer;
let certs: CertificateSet;

beforeAll(async () => {
  certs = await makeCertificates();
  [http, tls, h2, h2c] = await Promise.all([
    startHttpServer(),
    startTlsServer(certs),
    startHttp2Server({ tls: true, certs }),
    startHttp2Server({ tls: false }),
  ]);
});

afterAll(async () => {
  await Promise.all([http?.close(), tls?.close(), h2?.close(), h2c?.close()]);
  await certs?.cleanup();
});

it('finds at least one built loop adapter to run the Client with', () => {
  expect(adapters.map((a) => a.name).length).toBeGreaterThan(0);
});

describe('ResponseHeaders', () => {
  it('keeps repeated fields, and get() joins them as fetch does', () => {
    const headers = new ResponseHeaders([
      ['set-cookie', 'a=1'],
      ['content-type', 'text/plain'],
      ['set-cookie', 'b=2'],
    ]);
    expect(headers.getAll('Set-Cookie')).toEqual(['a=1', 'b=2']);
    expect(headers.get('set-cookie')).toBe('a=1, b=2');
    expect(headers.get('x-missing')).toBeNull();
    expect(headers.has('CONTENT-TYPE')).toBe(true);
    expect([...headers].length).toBe(3);
  });
});

describe.each(adapters)('Client over $name', ({ name, adapter }) => {
  let client: Client;
  let fdBaseline: number;
  const open = (options: Omit<ClientOptions, 'loop'> = {}) => {
    client = new Client({ loop: adapter, ...options });
    return client;
  };

  beforeEach(() => {
    fdBaseline = openFdCount();
  });

  afterEach(async () => {
    await client?.close();
    // Server-side sockets close once they see the client's FIN: a short wait is allowed.
    await expectFdsBack(fdBaseline, 3000);
  });

  describe('HTTP/1.1', () => {
    it(`${name}: repeated response headers are all kept, in order, over HTTP/1.1 and h2`, async () => {
      open();
      for (const base of [http.url, h2.url]) {
        const res = await client.request(`${base}/repeated/3`, { ca: certs.caCert });
        expect(res.headers.getAll('x-repeated')).toEqual(['v0', 'v1', 'v2']);
        expect(res.headers.getAll('Set-Cookie')).toEqual(['c0=0', 'c1=1', 'c2=2']);
      }
    });

    it(`${name}: GET returns status, headers, body, version, url and timings`, async () => {
      open();
      const res = await client.request(`${http.url}/small`);
      expect(res.status).toBe(200);
      expect(res.text()).toBe('hello world\n');
      expect(res.headers.get('content-type')).toBe('text/plain');
      expect(res.headers.get('uWebSockets')).toBe('20'); // the native uWS build, not its JS fallback
      expect(res.httpVersion).toBe('1.1');
      expect(res.url).toBe(`${http.url}/small`);
      expect(res.redirects).toBe(0);
      expect(res.connectionsOpened).toBe(1);
      const t = res.timings!;
      expect(t.connect).toBeGreaterThan(0);
      expect(t.firstByte).toBeGreaterThanOrEqual(t.preTransfer);
      expect(t.total).toBeGreaterThanOrEqual(t.firstByte);
      expect(t.total).toBeLessThan(5_000_000); // microseconds
      // The next request reuses the connection.
      const again = await client.request(`${http.url}/small`);
      expect(again.connectionsOpened).toBe(0);
      await client.close();
      open({ timings: false });
      expect((await client.request(`${http.url}/small`)).timings).toBeNull();
    });

    it(`${name}: json() parses, 404 is a response and not a failure`, async () => {
      open();
      const echo = await client.request(`${http.url}/echo`, { method: 'POST', body: '{}' });
      expect(echo.json<EchoReply>().method).toBe('POST');
      const missing = await client.request(`${http.url}/status/404`);
      expect(missing.status).toBe(404);
      expect(missing.text()).toBe('status 404\n');
    });

    it(`${name}: reuses connections across many requests and counts them in connectionsOpened`, async () => {
      open();
      const before = http.connections;
      let opened = 0;
      let next = 0;
      const loop = async () => {
        while (next++ < 300) {
          const res = await client.request(`${http.url}/small`);
          opened += res.connectionsOpened;
        }
      };
      await Promise.all(Array.from({ length: 16 }, loop));
      expect(opened).toBeGreaterThanOrEqual(1);
      expect(opened).toBeLessThanOrEqual(16);
      expect(http.connections - before).toBe(opened);
    });

    it.each([
      ['maxConnectionsPerHost', { maxConnectionsPerHost: 2 }],
      ['maxConnections', { maxConnections: 2 }],
    ] as const)(`${name}: %s bounds the connections to a server`, async (_, limits) => {
      open(limits);
      const before = http.connections;
      const results = await Promise.all(
        Array.from({ length: 12 }, () => client.request(`${http.url}/slow/30`)),
      );
      expect(results.every((r) => r.status === 200)).toBe(true);
      expect(http.connections - before).toBeGreaterThanOrEqual(1);
      expect(http.connections - before).toBeLessThanOrEqual(2);
    });

    it(`${name}: curlOptions reach every transfer; options the Client sets itself are refused`, async () => {
      // RESOLVE: a name no resolver knows reaches the test server; FORBID_REUSE: a connection
      // per request (libcurl's NUM_CONNECTS).
      open({ curlOptions: { RESOLVE: [`hiper-resolve.test:${http.port}:127.0.0.1`], FORBID_REUSE: 1 } });
      for (let i = 0; i < 3; i++) {
        const res = await client.request(`http://hiper-resolve.test:${http.port}/small`);
        expect(res.text()).toBe('hello world\n');
        expect(res.connectionsOpened).toBe(1);
      }
      await client.close();
      // MAX_RECV_SPEED_LARGE: 2 MiB at 512 KiB/s takes seconds, not milliseconds (libcurl reads a
      // burst before it first checks the rate, so not the full four).
      open({ curlOptions: { MAX_RECV_SPEED_LARGE: 512 * 1024 } });
      const started = performance.now();
      const slow = await client.request(`${http.url}/bytes/${2 * MiB}`);
      expect(slow.body.equals(patternBytes(2 * MiB))).toBe(true);
      expect(performance.now() - started).toBeGreaterThan(1500);
      await client.close();
      for (const [curlOptions, reason] of [
        [{ URL: 'http://x/' }, /curlOptions.URL is set by the Client itself/],
        [{ HTTPHEADER: ['a: b'] }, /curlOptions.HTTPHEADER is set by the Client itself/],
        [{ WRITEFUNCTION: () => 0 }, /curlOptions.WRITEFUNCTION is set by the Client itself/],
        [{ FORBID_REUSE: 'yes' }, /curlOptions.FORBID_REUSE must be 0, 1 or a boolean/],
        [{ NO_SUCH_OPTION: 1 }, /NO_SUCH_OPTION/],
        [[], /curlOptions must be an object/],
      ] as const) {
        expect(() => new Client({ loop: adapter, curlOptions: curlOptions as never })).toThrow(reason);
      }
    });
    it(`${name}: goes through the proxy it is given`, async () => {
      // A proxy port nothing listens on: the request fails to connect to the proxy, while the
      // same request without the proxy works.
      const closed = await startHttpServer();
      const proxy = closed.url;
      await closed.close();
      open();
      expect((await client.request(`${http.url}/small`)).status).toBe(200);
      await expect(client.request(`${http.url}/small`, { proxy })).rejects.toMatchObject({
        code: 7,
        codeName: 'CURLE_COULDNT_CONNECT',
      });
    });

    it(`${name}: sends headers given as an object or as pairs, and asks for compressed bodies`, async () => {
      open({ headers: { 'x-client': 'default', 'x-both': 'client' } });
      const a = (
        await client.request(`${http.url}/echo`, {
          method: 'POST',
          headers: { 'X-One': '1', 'x-both': 'request' },
        })
      ).json<EchoReply>();
      expect(a.headers).toMatchObject({ 'x-client': 'default', 'x-one': '1', 'x-both': 'request' });
      expect(a.headers['accept-encoding']).toMatch(/gzip/);
      // libcurl's default form Content-Type and Expect are not sent.
      expect(a.headers['content-type']).toBeUndefined();
      expect(a.headers.expect).toBeUndefined();
      const b = (
        await client.request(`${http.url}/echo`, {
          method: 'POST',
          headers: [
            ['X-Pair', 'p'],
            ['Content-Type', 'application/json'],
          ],
        })
      ).json<EchoReply>();
      expect(b.headers).toMatchObject({ 'x-pair': 'p', 'content-type': 'application/json' });
    });

    it(`${name}: sends string, Buffer and Uint8Array bodies with any method`, async () => {
      open();
      const bytes = Buffer.from(patternBytes(100_000));
      const cases = [
        { method: 'POST', body: 'hello' as string | Uint8Array, expected: Buffer.from('hello') },
        { method: 'PUT', body: bytes, expected: bytes },
        { method: 'PATCH', body: new Uint8Array([1, 2, 3]), expected: Buffer.from([1, 2, 3]) },
        { method: 'POST', body: '', expected: Buffer.alloc(0) },
      ];
      for (const { method, body, expected } of cases) {
        const reply = (await client.request(`${http.url}/echo`, { method, body })).json<EchoReply>();
        expect(reply).toMatchObject({ method, bodyLength: expected.length, bodySha256: sha256(expected) });
      }
      // The test servers answer HEAD with 405 and a body; a HEAD response's body is never read.
      const head = await client.request(`${http.url}/small`, { method: 'HEAD' });
      expect(head.status).toBe(405);
      expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0);
      expect(head.body.length).toBe(0);
      // The HEAD request did not leave NOBODY behind on the pooled handle.
      expect((await client.request(`${http.url}/small`)).text()).toBe('hello world\n');
    });

    it(`${name}: only http and https are allowed`, async () => {
      open();
      await expect(client.request('file:///etc/passwd')).rejects.toMatchObject({
        name: 'CurlError',
        code: 1,
        codeName: 'CURLE_UNSUPPORTED_PROTOCOL',
      });
    });
  });

  describe('uploads', () => {
    it(`${name}: streams a Readable body (chunked) and an async iterable body (with bodyLength)`, async () => {
      open();
      const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(16 * 1024, i));
      const whole = Buffer.concat(chunks);
      const slowReadable = Readable.from(
        (async function* () {
          for (const c of chunks) {
            await sleep(1); // the transfer pauses while no data is ready
            yield c;
          }
        })(),
      );
      const a = (
        await client.request(`${http.url}/echo`, { method: 'POST', body: slowReadable })
      ).json<EchoReply>();
      expect(a.headers['transfer-encoding']).toBe('chunked');
      expect(a).toMatchObject({ bodyLength: whole.length, bodySha256: sha256(whole) });

      async function* iterable() {
        for (const c of chunks) {
          await sleep(1);
          yield new Uint8Array(c);
        }
        yield 'tail';
      }
      const withTail = Buffer.concat([whole, Buffer.from('tail')]);
      const b = (
        await client.request(`${http.url}/echo`, {
          method: 'PUT',
          body: iterable(),
          bodyLength: withTail.length,
        })
      ).json<EchoReply>();
      expect(b).toMatchObject({
        method: 'PUT',
        bodyLength: withTail.length,
        bodySha256: sha256(withTail),
        headers: { 'content-length': String(withTail.length) },
      });
    });

    it(`${name}: uploads 16 MiB from a generator without holding it`, async () => {
      open();
      const hash = createHash('sha256');
      async function* big() {
        for (let i = 0; i < 256; i++) {
          const chunk = Buffer.alloc(64 * 1024, i);
          hash.update(chunk);
          yield chunk;
        }
      }
      const reply = (
        await client.request(`${http.url}/echo`, { method: 'POST', body: big() })
      ).json<EchoReply>();
      expect(reply).toMatchObject({ bodyLength: 16 * MiB, bodySha256: hash.digest('hex') });
    });

    it(`${name}: a body stream that fails rejects with CurlError 26 and the stream's error as cause`, async () => {
      open();
      const boom = new Error('disk on fire');
      async function* failing() {
        yield 'some';
        await sleep(5);
        throw boom;
      }
      const error = await client
        .request(`${http.url}/echo`, { method: 'POST', body: failing() })
        .catch((e) => e);
      expect(error).toBeInstanceOf(CurlError);
      expect(error).toMatchObject({ code: 26, codeName: 'CURLE_READ_ERROR', cause: boom });
      expect((await client.request(`${http.url}/small`)).status).toBe(200);
    });
  });

  describe('redirects, timeouts, aborts', () => {
    it(`${name}: follows redirects and keeps the last response's headers only`, async () => {
      open();
      const res = await client.request(`${http.url}/redirect/3`);
      expect(res.status).toBe(200);
      expect(res.redirects).toBe(3);
      expect(res.url).toBe(`${http.url}/redirect/0`);
      expect(res.text()).toBe('done');
      expect(res.headers.getAll('content-type')).toEqual(['text/plain']);
      expect(res.headers.has('location')).toBe(false);
    });

    it(`${name}: too many redirects fail with code 47; followRedirects false returns the 302`, async () => {
      open();
      await expect(client.request(`${http.url}/redirect/11`)).rejects.toMatchObject({
        code: 47,
        codeName: 'CURLE_TOO_MANY_REDIRECTS',
      });
      await expect(client.request(`${http.url}/redirect/3`, { maxRedirections: 2 })).rejects.toMatchObject({
        code: 47,
      });
      const res = await client.request(`${http.url}/redirect/3`, { followRedirects: false });
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toBe('/redirect/2');
      // The per-request settings did not stick to the pooled handle.
      expect((await client.request(`${http.url}/redirect/10`)).status).toBe(200);
    });

    it(`${name}: timeout fails with code 28 and the URL`, async () => {
      open();
      const started = Date.now();
      const error = await client.request(`${http.url}/slow/5000`, { timeout: 150 }).catch((e) => e);
      expect(error).toBeInstanceOf(CurlError);
      expect(error).toMatchObject({
        code: 28,
        codeName: 'CURLE_OPERATION_TIMEDOUT',
        url: `${http.url}/slow/5000`,
      });
      expect(Date.now() - started).toBeLessThan(2000);
    });

    it(`${name}: connectTimeout fails a connect that never completes with code 28`, async () => {
      const unaccepting: UnacceptingServer = await startUnacceptingServer();
      try {
        open({ connectTimeout: 200 });
        const started = Date.now();
        await expect(client.request(`${unaccepting.url}/`)).rejects.toMatchObject({ code: 28 });
        expect(Date.now() - started).toBeLessThan(2000);
        await client.close();
      } finally {
        await unaccepting.close();
      }
    });

    it(`${name}: an aborted signal rejects with its reason, before or during the transfer`, async () => {
      open();
      const reason = new Error('user gave up');
      const before = http.requests;
      await expect(client.request(`${http.url}/small`, { signal: AbortSignal.abort(reason) })).rejects.toBe(
        reason,
      );
      expect(http.requests).toBe(before);

      const controller = new AbortController();
      const started = Date.now();
      const pending = client.request(`${http.url}/slow/5000`, { signal: controller.signal });
      setTimeout(() => controller.abort(reason), 50);
      await expect(pending).rejects.toBe(reason);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(client.inFlight).toBe(0);

      // A signal aborted after the response is complete changes nothing.
      const late = new AbortController();
      const res = await client.request(`${http.url}/small`, { signal: late.signal });
      late.abort();
      expect(res.text()).toBe('hello world\n');
    });

    it(`${name}: failures from misbehaving servers carry libcurl's codes`, async () => {
      open();
      // (The conformance suite holds each adapter to the exact codes of every fault kind.)
      for (const kind of ['short-body', 'close-on-accept', 'malformed-status'] as const) {
        const fault: FaultServer = await startFaultServer(kind);
        try {
          const error = await client.request(`${fault.url}/`, { timeout: 3000 }).catch((e) => e);
          expect(error, kind).toBeInstanceOf(CurlError);
          expect(FAULT_EXPECTATIONS[kind].codes, kind).toContain(error.code);
          expect(error.url, kind).toBe(`${fault.url}/`);
        } finally {
          await fault.close();
        }
      }
    });
  });

  describe('size limits', () => {
    it(`${name}: maxResponseSize fails bodies over it with code 63, chunked ones too`, async () => {
      open({ maxResponseSize: 10_000 });
      await expect(client.request(`${http.url}/bytes/100000`)).rejects.toMatchObject({ code: 63 });
      await expect(client.request(`${http.url}/chunked/100000`)).rejects.toMatchObject({
        code: 63,
        codeName: 'CURLE_FILESIZE_EXCEEDED',
      });
      const ok = await client.request(`${http.url}/chunked/10000`);
      expect(ok.body.equals(patternBytes(10_000))).toBe(true);
      await expect(client.stream(`${http.url}/chunked/100000`).then((r) => r.buffer())).rejects.toMatchObject(
        {
          code: 63,
        },
      );
    });

    it(`${name}: maxHeaderSize fails header blocks over it`, async () => {
      open();
      await expect(client.request(`${http.url}/headers/200`, { maxHeaderSize: 2000 })).rejects.toMatchObject({
        code: 23,
      });
      const res = await client.request(`${http.url}/headers/5`, { maxHeaderSize: 2000 });
      expect(res.headers.get('x-h-4')).toBe('v4');
    });
  });

  describe('TLS and HTTP/2', () => {
    it(`${name}: verifies TLS against the given CA, refuses an unknown one, and can be told not to`, async () => {
      open({ ca: certs.caCert });
      const res = await client.request(`${tls.url}/small`);
      expect(res.status).toBe(200);
      expect(res.timings!.tlsHandshake).toBeGreaterThan(0);
      await client.close();

      open(); // the system CAs only
      await expect(client.request(`${tls.url}/small`)).rejects.toMatchObject({
        code: 60,
        codeName: 'CURLE_PEER_FAILED_VERIFICATION',
      });
      expect((await client.request(`${tls.url}/small`, { rejectUnauthorized: false })).status).toBe(200);
      // Verification is back on for the next request on the same handle.
      await expect(client.request(`${tls.url}/small`)).rejects.toMatchObject({ code: 60 });
    });

    it(`${name}: presents a client certificate and key given as PEM`, async () => {
      open({ ca: certs.caCert, cert: certs.clientCert, key: Buffer.from(certs.clientKey) });
      expect((await client.request(`${tls.url}/small`)).status).toBe(200);
      await client.close();
      // A key that does not belong to the certificate is refused by libcurl (CURLE_SSL_CERTPROBLEM).
      // (A new Client: libcurl 7.88.1 would reuse the open connection whatever the key.)
      open({ ca: certs.caCert, cert: certs.clientCert, key: certs.serverKey });
      await expect(client.request(`${tls.url}/small`)).rejects.toMatchObject({ code: 58 });
    });

    it(`${name}: h2 over TLS multiplexes concurrent requests on one connection`, async () => {
      open({ ca: certs.caCert, httpVersion: '2' });
      const sessions = h2.sessions;
      const first = await client.request(`${h2.url}/small`);
      expect(first.httpVersion).toBe('2');
      const bodies = await Promise.all(
        Array.from({ length: 20 }, () => client.request(`${h2.url}/bytes/20000`)),
      );
      expect(bodies.every((r) => r.httpVersion === '2' && r.body.equals(patternBytes(20_000)))).toBe(true);
      expect(h2.sessions - sessions).toBe(1);
      const upload = (
        await client.request(`${h2.url}/echo`, { method: 'POST', body: Readable.from(['a', 'b', 'c']) })
      ).json<EchoReply>();
      expect(upload).toMatchObject({ bodyLength: 3, bodySha256: sha256('abc') });
    });

    it(`${name}: h2c (prior knowledge) GETs and uploads`, async () => {
      open({ httpVersion: 'h2c' });
      for (let i = 0; i < 3; i++) {
        const res = await client.request(`${h2c.url}/small`);
        expect(res.httpVersion).toBe('2');
        expect(res.text()).toBe('hello world\n');
      }
      // Concurrent ones too (libcurl 7.88.x cannot multiplex onto an h2c connection: see
      // easy-options.ts in the core).
      const concurrent = await Promise.all(
        Array.from({ length: 10 }, () => client.request(`${h2c.url}/small`)),
      );
      expect(concurrent.every((r) => r.httpVersion === '2' && r.status === 200)).toBe(true);
      const reply = (
        await client.request(`${h2c.url}/echo`, {
          method: 'POST',
          body: Readable.from([Buffer.alloc(50_000, 7)]),
        })
      ).json<EchoReply>();
      expect(reply).toMatchObject({ bodyLength: 50_000, bodySha256: sha256(Buffer.alloc(50_000, 7)) });
      // An HTTP/1.1 request from the same Client still works.
      expect((await client.request(`${http.url}/small`, { httpVersion: '1.1' })).httpVersion).toBe('1.1');
    });
  });

  describe('streaming', () => {
    it(`${name}: resolves at the headers and streams the body as a Readable`, async () => {
      open();
      const res = await client.stream(`${http.url}/bytes/${MiB}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-length')).toBe(String(MiB));
      expect(res.body).toBeInstanceOf(Readable);
      expect((await res.buffer()).equals(patternBytes(MiB))).toBe(true);
      const empty = await client.stream(`${http.url}/status/204`);
      expect(empty.status).toBe(204);
      expect((await empty.buffer()).length).toBe(0);
      const redirected = await client.stream(`${http.url}/redirect/2`);
      expect(redirected.url).toBe(`${http.url}/redirect/0`);
      expect(await redirected.text()).toBe('done');
      // The phases up to the headers, the redirects' time included; none with timings: false.
      const t = redirected.timings!;
      expect(t.redirect).toBeGreaterThan(0);
      expect(t.firstByte).toBeGreaterThanOrEqual(t.preTransfer);
      expect(t.total).toBeGreaterThanOrEqual(t.redirect);
      expect(res.timings!.firstByte).toBeGreaterThan(0);
      await client.close();
      open({ timings: false });
      const untimed = await client.stream(`${http.url}/small`);
      expect(untimed.timings).toBeNull();
      await untimed.buffer();
    });

    it(`${name}: a 100 MiB body through a slow consumer stays in bounded memory`, {
      timeout: 60_000,
    }, async () => {
      open();
      const rssBefore = process.memoryUsage().rss;
      let peak = 0;
      let received = 0;
      let owed = 0;
      let patternOk = true;
      const res = await client.stream(`${http.url}/bytes/${100 * MiB}`);
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (chunk[0] !== received % 251) patternOk = false;
        received += chunk.length;
        owed += chunk.length;
        if (owed >= 64 * 1024) {
          // About 60 MiB/s: far slower than loopback, so without backpressure the body would
          // pile up in memory.
          await sleep(Math.floor(owed / (64 * 1024)));
          owed = 0;
          peak = Math.max(peak, process.memoryUsage().rss - rssBefore);
        }
      }
      expect(received).toBe(100 * MiB);
      expect(patternOk).toBe(true);
      expect(peak).toBeLessThan(64 * MiB);
    });

    it(`${name}: over h2, streams and ends`, async () => {
      open({ ca: certs.caCert });
      const res = await client.stream(`${h2.url}/bytes/${4 * MiB}`, { highWaterMark: 16 * 1024 });
      expect(res.httpVersion).toBe('2');
      let received = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        received += chunk.length;
        await sleep(0);
      }
      expect(received).toBe(4 * MiB);
    });

    it(`${name}: destroying the body ends the transfer and frees the handle`, async () => {
      open();
      const res = await client.stream(`${http.url}/bytes/${50 * MiB}`);
      let received = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        received += chunk.length;
        if (received > 256 * 1024) break;
      }
      expect(received).toBeLessThan(50 * MiB);
      await sleep(10);
      expect(client.inFlight).toBe(0);
      expect((await client.request(`${http.url}/small`)).status).toBe(200);
    });

    it(`${name}: an abort after the headers destroys the body with the signal's reason`, async () => {
      open();
      const controller = new AbortController();
      const res = await client.stream(`${http.url}/bytes/${50 * MiB}`, { signal: controller.signal });
      const reason = new Error('enough');
      const reading = res.buffer();
      setTimeout(() => controller.abort(reason), 20);
      await expect(reading).rejects.toBe(reason);
    });
  });

  describe('close', () => {
    it(`${name}: close() rejects what is in flight, destroys streamed bodies and leaves no fd`, async () => {
      const baseline = openFdCount();
      open({ ca: certs.caCert });
      await client.request(`${http.url}/small`); // an idle pooled connection
      const pending = [
        client.request(`${http.url}/slow/5000`),
        client.request(`${tls.url}/slow/5000`),
        client.request(`${h2.url}/slow/5000`),
        client.stream(`${http.url}/slow/5000`),
      ];
      const streamed = await client.stream(`${http.url}/bytes/${50 * MiB}`);
      const reading = streamed.buffer();
      await sleep(50);
      expect(client.inFlight).toBe(5);
      await client.close();
      for (const result of await Promise.allSettled(pending)) {
        expect(result.status).toBe('rejected');
        expect((result as PromiseRejectedResult).reason).toMatchObject({ name: 'CurlError', code: 42 });
      }
      await expect(reading).rejects.toMatchObject({ code: 42 });
      expect(client.closed).toBe(true);
      expect(client.inFlight).toBe(0);
      await expect(client.request(`${http.url}/small`)).rejects.toBeInstanceOf(CurlMultiError);
      await client.close(); // idempotent
      await expectFdsBack(baseline, 3000);
    });
  });

  describe('bad input', () => {
    it(`${name}: is refused with TypeError or RangeError naming what was wrong`, async () => {
      open();
      const url = `${http.url}/small`;
      await expect(client.request(42 as unknown as string)).rejects.toThrow(TypeError);
      await expect(client.request(url, { method: 'GET POST' })).rejects.toThrow(/method/);
      await expect(client.request(url, { headers: { 'x-a': 'b\r\nx-injected: 1' } })).rejects.toThrow(
        TypeError,
      );
      await expect(client.request(url, { headers: [['bad name', 'v']] })).rejects.toThrow(/header name/);
      await expect(client.request(url, { timeout: -1 })).rejects.toThrow(RangeError);
      await expect(client.request(url, { httpVersion: '3' as '2' })).rejects.toThrow(/httpVersion/);
      await expect(client.request(url, { method: 'POST', body: 42 as unknown as string })).rejects.toThrow(
        /body/,
      );
      await expect(client.request(url, { method: 'HEAD', body: 'x' })).rejects.toThrow(/HEAD/);
      await expect(client.stream(url, { highWaterMark: 0 })).rejects.toThrow(RangeError);
      expect(() => new Client({} as ClientOptions)).toThrow(/loop/);
      expect(() => new Client({ loop: adapter, maxConnections: -1 })).toThrow(RangeError);
      // Nothing of the refused requests is left behind.
      expect(client.inFlight).toBe(0);
      expect((await client.request(url)).status).toBe(200);
    });
  });
});
