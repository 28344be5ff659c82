// The Client (@multisock/core) driven by the kqueue adapter in nested mode, against the real
// testkit servers: the user-visible behaviours of packages/testkit/test/client.test.ts (which
// runs over libuv and epoll) on this adapter. On Linux the adapter runs over the kqueue
// emulation (test/emulation); elsewhere over the real kqueue. After each test the Client's
// attachment has nothing registered and no timer armed, and the process's fds are back.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, type ClientOptions, CurlError, CurlMultiError, type LoopAdapter } from '@multisock/core';
import {
  type CertificateSet,
  type EchoReply,
  expectFdsBack,
  type Http2TestServer,
  makeCertificates,
  openFdCount,
  patternBytes,
  startHttp2Server,
  startHttpServer,
  startTlsServer,
  type TestServer,
} from '@multisock/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { KqueueAttachment } from '../src/index.js';
import { backend, backendName, emulated, adapter as under } from './backend.js';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

// Proof that the Client's sockets were watched through kqueue: every attachment is the kqueue
// table's, and (emulated) kevent() calls submitting changes were made while a test ran. Only
// counted, never kept: keeping every call of a 100 MiB transfer would grow the memory the
// streaming test measures.
let changeCalls = 0;
const countChanges = () => {
  if (!emulated) return;
  changeCalls += backend.take().filter((c) => c.changes.length > 0).length;
};
const nested = under.kqueue;

// The nested adapter, keeping each attachment the Client makes so the test can check it is empty.
const attachments: KqueueAttachment[] = [];
const adapter: LoopAdapter = {
  name: 'kqueue',
  attach(multi) {
    const attachment = nested.attach(multi);
    attachments.push(attachment);
    return attachment;
  },
};

let http: TestServer;
let tls: TestServer;
let h2: Http2TestServer;
let certs: CertificateSet;

beforeAll(async () => {
  certs = await makeCertificates();
  [http, tls, h2] = await Promise.all([
    startHttpServer(),
    startTlsServer(certs),
    startHttp2Server({ tls: true, certs }),
  ]);
});

afterAll(async () => {
  await Promise.all([http?.close(), tls?.close(), h2?.close()]);
  await certs?.cleanup();
});

describe(`Client over kqueue nested (${backendName})`, () => {
  let client: Client | undefined;
  let fdBaseline: number;
  const open = (options: Omit<ClientOptions, 'loop'> = {}): Client => {
    client = new Client({ loop: adapter, ...options });
    return client;
  };

  beforeEach(() => {
    attachments.length = 0;
    changeCalls = 0;
    if (emulated) backend.record(true);
    fdBaseline = openFdCount();
  });

  afterEach(async () => {
    await client?.close();
    client = undefined;
    if (emulated) backend.record(false);
    for (const attachment of attachments) {
      expect(attachment.loop ?? 'kqueue').toBe('kqueue');
      expect(attachment.detached).toBe(true);
      expect(attachment.registrations).toBe(0);
      expect(attachment.timerArmed).toBe(false);
    }
    // Server-side sockets close once they see the client's FIN: a short wait is allowed.
    await expectFdsBack(fdBaseline, 3000);
  });

  it('kqueue: GET returns status, headers, body, version, url and timings, through kevent()', async () => {
    const c = open();
    const res = await c.request(`${http.url}/small`);
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
    expect(c.loop).toBe('kqueue');
    countChanges();
    if (emulated) expect(changeCalls).toBeGreaterThan(0);
    // The next request reuses the connection.
    const again = await c.request(`${http.url}/small`);
    expect(again.connectionsOpened).toBe(0);
    expect(again.text()).toBe('hello world\n');
  });

  it('kqueue: 200 requests, 32 in flight, reuse connections and count them in connectionsOpened', async () => {
    const c = open();
    const before = http.connections;
    let opened = 0;
    let next = 0;
    let ok = 0;
    const worker = async () => {
      while (next++ < 200) {
        const res = await c.request(`${http.url}/bytes/1000`);
        if (res.status === 200 && res.body.equals(patternBytes(1000))) ok++;
        opened += res.connectionsOpened;
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    expect(ok).toBe(200);
    expect(opened).toBeGreaterThanOrEqual(1);
    expect(opened).toBeLessThanOrEqual(32);
    expect(http.connections - before).toBe(opened);
    expect(c.inFlight).toBe(0);
  });

  it('kqueue: POSTs a string body and uploads a Readable (chunked), both whole', async () => {
    const c = open();
    const text = 'hello from kqueue';
    const a = (await c.request(`${http.url}/echo`, { method: 'POST', body: text })).json<EchoReply>();
    expect(a).toMatchObject({ method: 'POST', bodyLength: text.length, bodySha256: sha256(text) });

    const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(16 * 1024, i));
    const whole = Buffer.concat(chunks);
    const slowReadable = Readable.from(
      (async function* () {
        for (const chunk of chunks) {
          await sleep(1); // the transfer pauses while no data is ready
          yield chunk;
        }
      })(),
    );
    const b = (await c.request(`${http.url}/echo`, { method: 'PUT', body: slowReadable })).json<EchoReply>();
    expect(b.headers['transfer-encoding']).toBe('chunked');
    expect(b).toMatchObject({ method: 'PUT', bodyLength: whole.length, bodySha256: sha256(whole) });
  });

  it('kqueue: repeated response headers are all kept, in order, over HTTP/1.1 and h2', async () => {
    const c = open({ ca: certs.caCert });
    for (const base of [http.url, h2.url]) {
      const res = await c.request(`${base}/repeated/3`);
      expect(res.headers.getAll('x-repeated')).toEqual(['v0', 'v1', 'v2']);
      expect(res.headers.getAll('Set-Cookie')).toEqual(['c0=0', 'c1=1', 'c2=2']);
    }
  });

  it('kqueue: verifies TLS against the given CA and refuses an unknown one (code 60)', async () => {
    let c = open({ ca: certs.caCert });
    const res = await c.request(`${tls.url}/small`);
    expect(res.status).toBe(200);
    expect(res.text()).toBe('hello world\n');
    expect(res.timings!.tlsHandshake).toBeGreaterThan(0);
    await c.close();

    c = open(); // the system CAs only
    await expect(c.request(`${tls.url}/small`)).rejects.toMatchObject({
      name: 'CurlError',
      code: 60,
      codeName: 'CURLE_PEER_FAILED_VERIFICATION',
    });
  });

  it('kqueue: h2 over TLS multiplexes concurrent requests on one connection, uploads too', async () => {
    const c = open({ ca: certs.caCert, httpVersion: '2' });
    const sessions = h2.sessions;
    const first = await c.request(`${h2.url}/small`);
    expect(first.httpVersion).toBe('2');
    const bodies = await Promise.all(Array.from({ length: 20 }, () => c.request(`${h2.url}/bytes/20000`)));
    expect(bodies.every((r) => r.httpVersion === '2' && r.body.equals(patternBytes(20_000)))).toBe(true);
    expect(h2.sessions - sessions).toBe(1);
    const upload = (
      await c.request(`${h2.url}/echo`, { method: 'POST', body: Readable.from(['a', 'b', 'c']) })
    ).json<EchoReply>();
    expect(upload).toMatchObject({ bodyLength: 3, bodySha256: sha256('abc') });
  });

  it('kqueue: follows redirects; too many fail with code 47', async () => {
    const c = open();
    const res = await c.request(`${http.url}/redirect/3`);
    expect(res.status).toBe(200);
    expect(res.redirects).toBe(3);
    expect(res.url).toBe(`${http.url}/redirect/0`);
    expect(res.text()).toBe('done');
    await expect(c.request(`${http.url}/redirect/11`)).rejects.toMatchObject({
      code: 47,
      codeName: 'CURLE_TOO_MANY_REDIRECTS',
    });
    await expect(c.request(`${http.url}/redirect/3`, { maxRedirections: 2 })).rejects.toMatchObject({
      code: 47,
    });
  });

  it('kqueue: timeout fails with code 28 and the URL, on time', async () => {
    const c = open();
    const started = Date.now();
    const error = await c.request(`${http.url}/slow/5000`, { timeout: 150 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CurlError);
    expect(error).toMatchObject({
      code: 28,
      codeName: 'CURLE_OPERATION_TIMEDOUT',
      url: `${http.url}/slow/5000`,
    });
    // The timeout is libcurl's timer, armed through the adapter: it must fire, and promptly.
    expect(Date.now() - started).toBeLessThan(2000);
    expect((await c.request(`${http.url}/small`)).status).toBe(200);
  });

  it('kqueue: an aborted signal rejects with its reason, before or during the transfer', async () => {
    const c = open();
    const reason = new Error('user gave up');
    const before = http.requests;
    await expect(c.request(`${http.url}/small`, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(http.requests).toBe(before);

    const controller = new AbortController();
    const started = Date.now();
    const pending = c.request(`${http.url}/slow/5000`, { signal: controller.signal });
    setTimeout(() => controller.abort(reason), 50);
    await expect(pending).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(c.inFlight).toBe(0);
    // The Client goes on working after the abort.
    expect((await c.request(`${http.url}/small`)).text()).toBe('hello world\n');
  });

  it('kqueue: a 100 MiB body through a slow consumer stays in bounded memory', {
    timeout: 60_000,
  }, async () => {
    const c = open();
    const highWaterMark = 64 * 1024;
    const rssBefore = process.memoryUsage().rss;
    let peakRss = 0;
    let peakBuffered = 0;
    let received = 0;
    let owed = 0;
    let patternOk = true;
    const res = await c.stream(`${http.url}/bytes/${100 * MiB}`, { highWaterMark });
    expect(res.status).toBe(200);
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      if (chunk[0] !== received % 251) patternOk = false;
      received += chunk.length;
      owed += chunk.length;
      // The async iterator takes everything the stream holds at once: chunk plus what is left.
      peakBuffered = Math.max(peakBuffered, chunk.length + res.body.readableLength);
      if (owed >= 64 * 1024) {
        // About 60 MiB/s: far slower than loopback, so without backpressure the body would
        // pile up in the stream.
        await sleep(Math.floor(owed / (64 * 1024)));
        owed = 0;
        peakRss = Math.max(peakRss, process.memoryUsage().rss - rssBefore);
      }
    }
    expect(received).toBe(100 * MiB);
    expect(patternOk).toBe(true);
    // The transfer paused at the high-water mark: the stream never held more than it plus one
    // libcurl write (at most CURL_MAX_WRITE_SIZE, 16 KiB). Without the pause: tens of MiB.
    expect(peakBuffered).toBeLessThan(highWaterMark + 16 * 1024);
    expect(peakRss).toBeLessThan(64 * MiB);
  });

  it('kqueue: close() rejects what is in flight with code 42, destroys streamed bodies, leaves no fd', async () => {
    const c = open({ ca: certs.caCert });
    await c.request(`${http.url}/small`); // an idle pooled connection
    const pending = [
      c.request(`${http.url}/slow/5000`),
      c.request(`${tls.url}/slow/5000`),
      c.request(`${h2.url}/slow/5000`),
      c.stream(`${http.url}/slow/5000`),
    ];
    const streamed = await c.stream(`${http.url}/bytes/${50 * MiB}`);
    const reading = streamed.buffer();
    await sleep(50);
    expect(c.inFlight).toBe(5);
    expect(attachments[0]!.registrations).toBeGreaterThan(0);
    await c.close();
    for (const result of await Promise.allSettled(pending)) {
      expect(result.status).toBe('rejected');
      expect((result as PromiseRejectedResult).reason).toMatchObject({ name: 'CurlError', code: 42 });
    }
    await expect(reading).rejects.toMatchObject({ code: 42 });
    expect(c.closed).toBe(true);
    expect(c.inFlight).toBe(0);
    await expect(c.request(`${http.url}/small`)).rejects.toBeInstanceOf(CurlMultiError);
    await c.close(); // idempotent
    // (afterEach checks the attachment is empty and the fds are back.)
  });
});
