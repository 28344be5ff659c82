// What the Client puts on the wire when the caller gets something wrong or a server redirects
// elsewhere: request bodies never go past their declared length, framing headers never
// contradict the body, credentials do not follow a redirect to another origin, and a bad URL
// is refused, naming what is wrong, before anything is sent. Every check looks at the bytes a
// real node:http server received (through a recording TCP proxy in front of it).
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, type ClientOptions, CurlError, type LoopAdapter } from '@multisock/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expectFdsBack, type Http2TestServer, openFdCount, startHttp2Server } from '../src/index.js';

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

/** One request as the node:http server parsed it. */
interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** Header names as sent, in order, with repeats (rawHeaders). */
  rawNames: string[];
  body: Buffer;
  /** The body ended cleanly (false: the client went away mid-body). */
  complete: boolean;
}

interface Recorder {
  /** http://127.0.0.1:PORT (the recording proxy). */
  url: string;
  port: number;
  /** Requests whose headers arrived, in order. */
  seen: Seen[];
  /** Every byte clients sent, per connection, in order. */
  raw: Buffer[][];
  connections: number;
  /** Resolves once no connection is open. */
  quiet(): Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

/**
 * A node:http server behind a TCP proxy that records the raw bytes. Routes:
 *   /redirect?status=302&to=URL  a redirect (body 'moved')
 *   /loop                        a redirect to itself
 *   /slow?ms=N&to=URL            a 302 to URL after N ms
 *   anything else                200, the request as JSON
 */
async function startRecorder(): Promise<Recorder> {
  const seen: Seen[] = [];
  const raw: Buffer[][] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    const entry: Seen = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawNames: req.rawHeaders.filter((_, i) => i % 2 === 0),
      body: Buffer.alloc(0),
      complete: false,
    };
    seen.push(entry);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {});
    req.on('close', () => {
      entry.body = Buffer.concat(chunks);
    });
    req.on('end', () => {
      entry.body = Buffer.concat(chunks);
      entry.complete = true;
      const target = new URL(req.url ?? '/', 'http://x');
      if (target.pathname === '/slow') {
        setTimeout(
          () => {
            res.writeHead(302, { location: target.searchParams.get('to') ?? '/' });
            res.end();
          },
          Number(target.searchParams.get('ms') ?? 0),
        );
        return;
      }
      if (target.pathname === '/loop') {
        res.writeHead(302, { location: '/loop' });
        res.end();
        return;
      }
      if (target.pathname === '/redirect') {
        res.writeHead(Number(target.searchParams.get('status') ?? 302), {
          location: target.searchParams.get('to') ?? '/',
        });
        res.end('moved');
        return;
      }
      const reply = JSON.stringify({ method: req.method, url: req.url, bodyLength: entry.body.length });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(reply);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const backendPort = (server.address() as net.AddressInfo).port;

  const sockets = new Set<net.Socket>();
  let connections = 0;
  const proxy = net.createServer((client) => {
    connections++;
    const bytes: Buffer[] = [];
    raw.push(bytes);
    const upstream = net.connect(backendPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.once('close', () => sockets.delete(s));
    }
    client.on('data', (d: Buffer) => {
      bytes.push(d);
      upstream.write(d);
    });
    client.on('end', () => upstream.end());
    client.on('close', () => upstream.destroy());
    upstream.pipe(client);
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    raw,
    get connections() {
      return connections;
    },
    reset() {
      seen.length = 0;
      // Kept-alive connections go on recording into their own arrays.
      for (const bytes of raw) bytes.length = 0;
      connections = 0;
    },
    async quiet() {
      // Every connection closed (an ended transfer's is), or 3 s.
      for (let i = 0; i < 300 && sockets.size > 0; i++) await sleep(10);
    },
    async close() {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await Promise.all([
        new Promise<void>((resolve) => proxy.close(() => resolve())),
        new Promise<void>((resolve) => server.close(() => resolve())),
      ]);
    },
  };
}

/** All bytes the recorder got, as latin1 text. */
const wire = (r: Recorder) => Buffer.concat(r.raw.flat()).toString('latin1');
/** The header names of the one request in `text` (lower-cased, in order). */
const headerNamesOnWire = (text: string) =>
  text
    .slice(0, text.indexOf('\r\n\r\n'))
    .split('\r\n')
    .slice(1)
    .map((line) => line.slice(0, line.indexOf(':')).toLowerCase());

let a: Recorder;
let b: Recorder;
let h2c: Http2TestServer;

beforeAll(async () => {
  [a, b, h2c] = await Promise.all([startRecorder(), startRecorder(), startHttp2Server({ tls: false })]);
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close(), h2c?.close()]);
});

it('finds at least one built loop adapter to run the Client with', () => {
  expect(adapters.length).toBeGreaterThan(0);
});

describe.each(adapters)('Client safety over $name', ({ name, adapter }) => {
  let client: Client;
  let fdBaseline: number;
  const open = (options: Omit<ClientOptions, 'loop'> = {}) => {
    client = new Client({ loop: adapter, httpVersion: '1.1', ...options });
    return client;
  };

  beforeEach(() => {
    a.reset();
    b.reset();
    fdBaseline = openFdCount();
  });
  afterEach(async () => {
    await client?.close();
    await expectFdsBack(fdBaseline, 3000);
  });

  describe('bodyLength', () => {
    it(`${name}: a stream longer than bodyLength is refused and nothing past bodyLength reaches the wire`, async () => {
      open();
      const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
      const error = await client
        .request(`${a.url}/upload`, {
          method: 'POST',
          bodyLength: 5,
          body: Readable.from([Buffer.from(`hello${smuggled}`)]),
        })
        .catch((e) => e);
      expect(error).toBeInstanceOf(CurlError);
      expect(error.message).toMatch(/bodyLength \(5 bytes\)/);
      expect(error.url).toBe(`${a.url}/upload`);
      await a.quiet();
      // The server saw at most the start of one request, cut short: no second request, no
      // complete body (here the overflow is known before libcurl even connects).
      expect(a.seen.map((s) => s.url)).not.toContain('/smuggled');
      expect(a.seen.every((s) => !s.complete && s.body.length < 5)).toBe(true);
      expect(wire(a)).not.toContain('/smuggled');
      // The Client goes on working.
      expect(client.inFlight).toBe(0);
      expect((await client.request(`${a.url}/after`)).status).toBe(200);
    });

    it(`${name}: the overflow is caught across chunks, for async iterables and over h2c too`, async () => {
      open();
      async function* chunks() {
        yield 'hel';
        await sleep(5);
        yield 'lo';
        await sleep(5);
        yield 'GET /smuggled HTTP/1.1\r\n\r\n';
      }
      await expect(
        client.request(`${a.url}/upload`, { method: 'PUT', bodyLength: 5, body: chunks() }),
      ).rejects.toThrow(/bodyLength \(5 bytes\)/);
      await a.quiet();
      // Here the request went out with 4 bytes of its body, then the connection was closed.
      expect(a.seen.map((s) => s.url)).toEqual(['/upload']);
      expect(a.seen[0]!.complete).toBe(false);
      expect(a.seen[0]!.body.toString()).toBe('hell');
      expect(wire(a)).toMatch(/\r\ncontent-length: 5\r\n/i);
      expect(wire(a)).not.toContain('/smuggled');

      await expect(
        client.request(`${h2c.url}/echo`, {
          httpVersion: 'h2c',
          method: 'POST',
          bodyLength: 5,
          body: Readable.from([Buffer.from('hello, and more')]),
        }),
      ).rejects.toThrow(/bodyLength \(5 bytes\)/);
      // An exact one goes through on both.
      const exact = await client.request(`${a.url}/exact`, {
        method: 'POST',
        bodyLength: 5,
        body: Readable.from(['he', 'llo']),
      });
      expect(exact.json()).toMatchObject({ bodyLength: 5 });
    });

    it(`${name}: a stream that ends short of bodyLength fails at once, not at a timeout`, async () => {
      open();
      const started = performance.now();
      const error = await client
        .request(`${a.url}/short`, {
          method: 'POST',
          bodyLength: 10,
          body: Readable.from([Buffer.from('12345')]),
        })
        .catch((e) => e);
      expect(performance.now() - started).toBeLessThan(2000);
      expect(error).toBeInstanceOf(CurlError);
      expect(error.message).toMatch(/ended after 5 bytes.*bodyLength \(10 bytes\)/);
      await a.quiet();
      expect(a.seen.every((s) => !s.complete)).toBe(true);
      expect(client.inFlight).toBe(0);
    });
  });

  describe('framing headers', () => {
    it(`${name}: a Content-Length that contradicts the body is a TypeError and nothing is sent`, async () => {
      open();
      const url = `${a.url}/framing`;
      const refused: Array<[Parameters<Client['request']>[1], RegExp]> = [
        [
          { method: 'POST', body: '0123456789', headers: { 'Content-Length': '5' } },
          /Content-Length 5.*10 bytes/,
        ],
        [{ method: 'POST', body: Buffer.alloc(3), headers: [['content-length', '4']] }, /Content-Length 4/],
        [{ headers: { 'Content-Length': '5' } }, /Content-Length 5.*no body/],
        [{ method: 'POST', body: 'x', headers: { 'Content-Length': 'abc' } }, /Content-Length/],
        [
          { method: 'POST', body: 'x', headers: { 'Content-Length': ['1', '1'] } },
          /Content-Length.*more than once/,
        ],
        [
          { method: 'POST', body: 'abc', headers: { 'Transfer-Encoding': 'chunked', 'Content-Length': '3' } },
          /Transfer-Encoding/,
        ],
        [
          { method: 'POST', body: Readable.from(['abc']), headers: { 'Transfer-Encoding': 'chunked' } },
          /Transfer-Encoding/,
        ],
        [
          { method: 'POST', body: Readable.from(['abc']), bodyLength: 3, headers: { 'Content-Length': '4' } },
          /Content-Length 4.*bodyLength 3/,
        ],
      ];
      for (const [options, reason] of refused) {
        const error = await client.request(url, options).catch((e) => e);
        expect(error, JSON.stringify(options?.headers)).toBeInstanceOf(TypeError);
        expect(error.message).toMatch(reason);
      }
      expect(() => new Client({ loop: adapter, headers: { 'Content-Length': '0' } })).toThrow(TypeError);
      expect(() => new Client({ loop: adapter, headers: { 'transfer-encoding': 'chunked' } })).toThrow(
        /Transfer-Encoding/,
      );
      expect(a.connections).toBe(0);
      expect(client.inFlight).toBe(0);
    });

    it(`${name}: a matching Content-Length goes out once, and frames a stream body (no chunked)`, async () => {
      open();
      const res = await client.request(`${a.url}/bytes`, {
        method: 'POST',
        body: '0123456789',
        headers: { 'content-length': '10' },
      });
      expect(res.json()).toMatchObject({ bodyLength: 10 });
      expect(headerNamesOnWire(wire(a)).filter((n) => n === 'content-length')).toHaveLength(1);

      a.reset();
      const streamed = await client.request(`${a.url}/stream`, {
        method: 'PUT',
        body: Readable.from(['01234', '56789']),
        headers: { 'Content-Length': '10' },
      });
      expect(streamed.json()).toMatchObject({ method: 'PUT', bodyLength: 10 });
      const names = headerNamesOnWire(wire(a));
      expect(names.filter((n) => n === 'content-length')).toHaveLength(1);
      expect(names).not.toContain('transfer-encoding');
      expect(a.seen[0]!.headers['content-length']).toBe('10');

      // A Content-Length of a stream is held to like bodyLength.
      a.reset();
      await expect(
        client.request(`${a.url}/stream`, {
          method: 'POST',
          body: Readable.from(['0123456789', 'GET /smuggled HTTP/1.1\r\n\r\n']),
          headers: { 'Content-Length': '10' },
        }),
      ).rejects.toThrow(/Content-Length \(10 bytes\)/);
      await a.quiet();
      expect(wire(a)).not.toContain('/smuggled');

      // A stream without a length is chunked, with no Content-Length.
      a.reset();
      await client.request(`${a.url}/chunked`, { method: 'POST', body: Readable.from(['abc']) });
      const chunkedNames = headerNamesOnWire(wire(a));
      expect(chunkedNames).toContain('transfer-encoding');
      expect(chunkedNames).not.toContain('content-length');
      // Content-Length: 0 on a request without a body is no contradiction.
      expect((await client.request(`${a.url}/empty`, { headers: { 'Content-Length': '0' } })).status).toBe(
        200,
      );
    });
  });

  describe('redirects', () => {
    const credentials = {
      Authorization: 'Bearer secret',
      Cookie: 'session=secret',
      'Proxy-Authorization': 'Basic c2VjcmV0',
      'X-Api-Key': 'secret',
      'X-Trace': 'kept',
    };

    it(`${name}: a cross-origin redirect drops Authorization, Cookie, Proxy-Authorization and named headers`, async () => {
      open({ stripHeadersOnCrossOriginRedirect: ['x-api-key'] });
      const to = `${b.url}/landed`;
      const res = await client.request(`${a.url}/redirect?status=302&to=${encodeURIComponent(to)}`, {
        headers: credentials,
      });
      expect(res.status).toBe(200);
      expect(res.url).toBe(to);
      expect(res.redirects).toBe(1);
      expect(a.seen[0]!.headers).toMatchObject({
        authorization: 'Bearer secret',
        cookie: 'session=secret',
        'proxy-authorization': 'Basic c2VjcmV0',
        'x-api-key': 'secret',
      });
      const landed = b.seen[0]!.headers;
      expect(landed['x-trace']).toBe('kept');
      for (const stripped of ['authorization', 'cookie', 'proxy-authorization', 'x-api-key']) {
        expect(landed[stripped], stripped).toBeUndefined();
      }
      expect(wire(b)).not.toContain('secret');
      expect(wire(b)).not.toContain('c2VjcmV0');
    });

    it(`${name}: a request can name more headers; stripped headers stay stripped on the way back`, async () => {
      open();
      // a -> b -> a: what was dropped for b is not sent again to a.
      const back = `${a.url}/back`;
      const viaB = `${b.url}/redirect?status=301&to=${encodeURIComponent(back)}`;
      const res = await client.request(`${a.url}/redirect?status=307&to=${encodeURIComponent(viaB)}`, {
        headers: credentials,
        stripHeadersOnCrossOriginRedirect: ['X-Api-Key'],
      });
      expect(res.redirects).toBe(2);
      expect(res.url).toBe(back);
      expect(a.seen.map((s) => s.url)).toEqual([expect.stringMatching(/^\/redirect/), '/back']);
      const final = a.seen[1]!.headers;
      expect(final['x-trace']).toBe('kept');
      for (const stripped of ['authorization', 'cookie', 'proxy-authorization', 'x-api-key']) {
        expect(final[stripped], stripped).toBeUndefined();
      }
    });

    it(`${name}: a same-origin redirect keeps every header; a user Host never follows a redirect`, async () => {
      open();
      const res = await client.request(`${a.url}/redirect?status=302&to=/same`, {
        headers: { ...credentials, Host: 'example.test' },
      });
      expect(res.url).toBe(`${a.url}/same`);
      expect(a.seen[0]!.headers.host).toBe('example.test');
      expect(a.seen[1]!.headers).toMatchObject({
        authorization: 'Bearer secret',
        cookie: 'session=secret',
        'proxy-authorization': 'Basic c2VjcmV0',
        'x-api-key': 'secret',
        host: `127.0.0.1:${a.port}`,
      });
    });

    it(`${name}: 303 and POST after 301/302 become GET without the body; 307 and 308 send it again`, async () => {
      open();
      const target = `${b.url}/target`;
      for (const status of [301, 302, 303]) {
        b.reset();
        const res = await client.request(
          `${a.url}/redirect?status=${status}&to=${encodeURIComponent(target)}`,
          {
            method: 'POST',
            body: 'payload',
            headers: { 'Content-Type': 'text/plain' },
          },
        );
        expect(res.json(), String(status)).toMatchObject({ method: 'GET', bodyLength: 0 });
        expect(b.seen[0]!.headers['content-type'], String(status)).toBeUndefined();
      }
      for (const status of [307, 308]) {
        b.reset();
        const res = await client.request(
          `${a.url}/redirect?status=${status}&to=${encodeURIComponent(target)}`,
          {
            method: 'PUT',
            body: 'payload',
          },
        );
        expect(res.json(), String(status)).toMatchObject({ method: 'PUT', bodyLength: 7 });
      }
      // A stream body cannot be sent twice: a clear failure, not a silent empty body.
      await expect(
        client.request(`${a.url}/redirect?status=307&to=${encodeURIComponent(target)}`, {
          method: 'POST',
          body: Readable.from(['payload']),
        }),
      ).rejects.toMatchObject({ name: 'CurlError', message: expect.stringMatching(/307.*stream body/) });
    });

    it(`${name}: redirects stay on http and https, are bounded, and work for stream() too`, async () => {
      open();
      await expect(
        client.request(`${a.url}/redirect?status=302&to=${encodeURIComponent('file:///etc/passwd')}`),
      ).rejects.toMatchObject({ name: 'CurlError', code: 1, message: expect.stringMatching(/file/) });
      a.reset();
      await expect(client.request(`${a.url}/loop`, { maxRedirections: 3 })).rejects.toMatchObject({
        code: 47,
        codeName: 'CURLE_TOO_MANY_REDIRECTS',
        message: expect.stringMatching(/maxRedirections \(3\)/),
      });
      expect(a.seen.map((s) => s.url)).toEqual(['/loop', '/loop', '/loop', '/loop']);
      const to = `${b.url}/streamed`;
      const streamed = await client.stream(`${a.url}/redirect?status=302&to=${encodeURIComponent(to)}`, {
        headers: credentials,
      });
      expect(streamed.url).toBe(to);
      expect(streamed.redirects).toBe(1);
      expect(await streamed.json()).toMatchObject({ url: '/streamed' });
      expect(b.seen[0]!.headers.authorization).toBeUndefined();
      expect(b.seen[0]!.headers['proxy-authorization']).toBeUndefined();
      await expect(
        client.request(`${a.url}/x`, {
          stripHeadersOnCrossOriginRedirect: 'x-api-key' as unknown as string[],
        }),
      ).rejects.toThrow(/stripHeadersOnCrossOriginRedirect must be an array of header names/);
      expect(() => new Client({ loop: adapter, stripHeadersOnCrossOriginRedirect: ['bad name'] })).toThrow(
        TypeError,
      );
      const kept = await client.request(`${a.url}/redirect?status=302&to=/x`, { followRedirects: false });
      expect(kept.status).toBe(302);
      expect(kept.text()).toBe('moved');
    });

    it(`${name}: a chain adds up connections and timings, keeps the timeout, and can be aborted`, async () => {
      open();
      const res = await client.request(`${a.url}/redirect?status=302&to=${encodeURIComponent(`${b.url}/x`)}`);
      expect(res.connectionsOpened).toBe(2); // one per origin
      const t = res.timings!;
      expect(t.redirect).toBeGreaterThan(0);
      expect(t.total).toBeGreaterThan(t.redirect);
      expect(t.connect).toBeGreaterThan(0);
      expect(client.connectionsOpened).toBe(2);

      // timeout covers the whole chain: 3 hops of 150 ms against 300 ms.
      const slow = (to: string) => `/slow?ms=150&to=${encodeURIComponent(to)}`;
      const chain = `${a.url}${slow(slow(slow('/end')))}`;
      const started = performance.now();
      await expect(client.request(chain, { timeout: 300 })).rejects.toMatchObject({ code: 28 });
      expect(performance.now() - started).toBeLessThan(1000);

      // An abort between or during hops ends the chain with the signal's reason.
      const controller = new AbortController();
      const reason = new Error('stop');
      setTimeout(() => controller.abort(reason), 200);
      await expect(client.request(chain, { signal: controller.signal })).rejects.toBe(reason);
      expect(client.inFlight).toBe(0);
    });

    it(`${name}: a redirect leaves nothing behind on the pooled handle`, async () => {
      open({ maxIdleHandles: 1 }); // every request gets the same handle
      const to = encodeURIComponent(`${b.url}/landed`);
      await client.request(`${a.url}/redirect?status=303&to=${to}`, {
        method: 'PUT',
        body: 'payload',
        headers: credentials,
        timeout: 5000,
      });
      a.reset();
      const put = await client.request(`${a.url}/again`, {
        method: 'PUT',
        body: 'abc',
        headers: credentials,
      });
      expect(put.json()).toMatchObject({ method: 'PUT', bodyLength: 3 });
      expect(a.seen[0]!.headers).toMatchObject({ authorization: 'Bearer secret', 'x-api-key': 'secret' });
      const get = await client.request(`${a.url}/plain`);
      expect(get.json()).toMatchObject({ method: 'GET', url: '/plain' });
      expect(a.seen[1]!.headers.authorization).toBeUndefined();
      // Over h2c too.
      const h2 = await client.request(`${h2c.url}/redirect/2`, { httpVersion: 'h2c' });
      expect(h2).toMatchObject({ status: 200, redirects: 2, httpVersion: '2' });
    });
  });

  describe('URLs', () => {
    it(`${name}: a unicode host works as a string as it does as a URL (IDNA, through a proxy)`, async () => {
      open({ proxy: a.url });
      for (const url of ['http://bücher.example/ü', new URL('http://bücher.example/ü')]) {
        a.reset();
        const res = await client.request(url);
        expect(res.status, String(url)).toBe(200);
        expect(a.seen[0]!.url).toBe('http://xn--bcher-kva.example/%C3%BC');
        expect(a.seen[0]!.headers.host).toBe('xn--bcher-kva.example');
      }
    });

    it(`${name}: a malformed URL is refused before anything is sent, naming what is wrong`, async () => {
      open();
      const cases: Array<[string, number, RegExp]> = [
        [`http://127.0.0.1:99999/`, 3, /bad port "99999"/],
        [`http://127.0.0.1:8x/`, 3, /bad port "8x"/],
        ['http://:80/', 3, /no host/],
        ['http://exa mple.com/', 3, /bad host "exa mple.com".*" "/],
        ['http://[::1/', 3, /IPv6/],
        ['http://1.2.3.256/', 3, /bad host "1.2.3.256"/],
        ['example.com/path', 3, /no scheme/],
        ['', 3, /empty/],
        ['http://', 3, /no host/],
        ['ftp://127.0.0.1/x', 1, /unsupported scheme ftp: only http and https/],
        ['file:///etc/passwd', 1, /unsupported scheme file/],
      ];
      for (const [url, code, reason] of cases) {
        const error = await client.request(url).catch((e) => e);
        expect(error, url).toBeInstanceOf(CurlError);
        expect(error.code, url).toBe(code);
        expect(error.message, url).toMatch(reason);
        expect(error.url, url).toBe(url);
      }
      await expect(client.stream('http://:80/')).rejects.toThrow(/no host/);
      await expect(client.request(new URL('ftp://127.0.0.1/'))).rejects.toMatchObject({ code: 1 });
      expect(client.inFlight).toBe(0);
      expect((await client.request(`${a.url}/fine`)).status).toBe(200);
    });
  });

  describe('connections', () => {
    it(`${name}: connectionsOpened counts the connections of failed transfers too`, async () => {
      open();
      // Accepts, reads the request, closes: every transfer fails with CURLE_GOT_NOTHING.
      const closing = net.createServer((socket) => {
        socket.once('data', () => socket.end());
        socket.on('error', () => {});
      });
      closing.listen(0, '127.0.0.1');
      await once(closing, 'listening');
      const port = (closing.address() as net.AddressInfo).port;
      try {
        for (let i = 0; i < 3; i++) {
          await expect(client.request(`http://127.0.0.1:${port}/`)).rejects.toMatchObject({ code: 52 });
        }
        expect(client.connectionsOpened).toBe(3);
        await client.request(`${a.url}/one`);
        await client.request(`${a.url}/two`); // reuses the connection
        expect(client.connectionsOpened).toBe(4);
      } finally {
        await new Promise((resolve) => closing.close(resolve));
      }
    });
  });
});
