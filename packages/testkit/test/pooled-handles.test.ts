// The Client reuses easy handles between requests: a reused handle must behave exactly as a new
// one. libcurl keeps per-handle state across transfers that neither a setopt nor (in places)
// curl_easy_reset undoes, so each test here makes one request leave such state behind and checks
// that the next request on the same handle cannot tell.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Client,
  type Easy,
  type EasyInfos,
  Multi,
  type RequestOptions,
  type StreamResponse,
} from '@multisock/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The pool and the Client's option mapping, as the Client uses them (not exported by the package).
import { optionsFor } from '../../core/dist/client/easy-options.js';
import { EasyPool, type PooledEasy } from '../../core/dist/client/easy-pool.js';
import { resolveDefaults } from '../../core/dist/client/options.js';
import {
  type CertificateSet,
  type EchoReply,
  type Http2TestServer,
  makeCertificates,
  type NginxServer,
  startHttp2Server,
  startHttpServer,
  startNginx,
  type TestServer,
} from '../src/index.js';
import { builtAdapters } from './support/adapters.js';

const adapters = await builtAdapters();
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * An HTTP/1.1 server that keeps connections alive but closes one, without a word, when a second
 * request arrives on it: that request sees a dead reused connection, and libcurl retries it once
 * on a new connection (Curl_retry_request). Every request but the first costs exactly one retry.
 */
async function startOneShotServer(): Promise<TestServer> {
  let requests = 0;
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
    let head = '';
    let served = false;
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      head = '';
      if (served) {
        socket.end(); // FIN, the request unanswered
        return;
      }
      served = true;
      requests++;
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get requests() {
      return requests;
    },
    get connections() {
      return connections;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let certs: CertificateSet;
let nginx: NginxServer;
let echo: TestServer;
let echoH2: Http2TestServer;

beforeAll(async () => {
  certs = await makeCertificates();
  [nginx, echo, echoH2] = await Promise.all([
    startNginx({ certs, keepaliveRequests: 100, limitRate: 64 * 1024 }),
    startHttpServer(),
    startHttp2Server({ tls: true, certs }),
  ]);
});

afterAll(async () => {
  await Promise.all([nginx?.close(), echo?.close(), echoH2?.close()]);
  await certs?.cleanup();
});

describe.each(adapters)('pooled handles over $name', ({ name, adapter }) => {
  it(`${name}: a handle that retried on dead connections retries as often as a new one`, async () => {
    // libcurl counts retries per handle, not per request, and only curl_easy_reset clears the
    // count (fixed in curl 8.17.0): the 7th request on one handle used to fail with "Connection
    // died, tried 5 times before giving up" though it needed one retry.
    const server = await startOneShotServer();
    const client = new Client({ loop: adapter, maxIdleHandles: 1 });
    try {
      for (let i = 0; i < 12; i++) {
        const res = await client.request(`${server.url}/`);
        expect(res.status).toBe(200);
        expect(res.text()).toBe('ok\n');
      }
      expect(server.connections).toBe(12);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it(`${name}: 5,000 requests at 32 in flight through nginx's GOAWAY every 100 streams all succeed`, async () => {
    const client = new Client({ loop: adapter, ca: certs.caCert });
    const failures: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next++ < 5000) {
        try {
          const res = await client.request(`${nginx.https}/small.txt`);
          if (res.status !== 200 || res.httpVersion !== '2')
            failures.push(`${res.status} ${res.httpVersion}`);
        } catch (error) {
          failures.push((error as Error).message);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: 32 }, worker));
    } finally {
      await client.close();
    }
    expect(failures).toEqual([]);
  }, 60_000);

  it(`${name}: a stream dropped while paused on a shared HTTP/2 connection leaves no bytes to the next response`, async () => {
    // libcurl 7.88.1 keeps the data it held for a paused transfer when the transfer ends while
    // the connection serves other streams (multi_done returns before freeing it), and
    // curl_easy_reset does not free it either: the handle's next paused response got it first.
    const client = new Client({ loop: adapter, ca: certs.caCert, maxIdleHandles: 4 });
    let slow: Promise<StreamResponse> | undefined;
    try {
      await client.request(`${nginx.https}/small.txt`); // the connection, known to multiplex
      // A slow transfer keeps the connection busy while the paused one is dropped.
      slow = client.stream(`${nginx.https}/slow/large.bin`).then((res) => {
        res.body.on('error', () => {}); // destroyed by client.close()
        return res;
      });
      await sleep(50);
      const dropped = await client.stream(`${nginx.https}/text.txt`, { highWaterMark: 1024 });
      await sleep(100); // nobody reads: the transfer pauses with a chunk held
      dropped.body.destroy();
      await sleep(50);
      const expected = nginx.files.get('/pattern.bin')!;
      for (let i = 0; i < 3; i++) {
        const res = await client.stream(`${nginx.https}/pattern.bin`, { highWaterMark: 1024 });
        const chunks: Buffer[] = [];
        for await (const chunk of res.body) {
          chunks.push(chunk as Buffer);
          if (chunks.length % 64 === 0) await sleep(1); // a slow reader: the transfer pauses
        }
        const body = Buffer.concat(chunks);
        expect(body.length).toBe(expected.length);
        expect(sha256(body)).toBe(sha256(expected));
      }
      (await slow).body.destroy();
    } finally {
      await slow?.catch(() => undefined);
      await client.close();
    }
  });

  it(`${name}: after any request option, the next request on the handle is the one a new handle sends`, async () => {
    // Each request below changes something on its handle; the plain request after it must reach
    // the server byte for byte as it does from a new Client, and be answered the same.
    const closed = await startHttpServer();
    const refused = closed.url;
    await closed.close();
    for (const base of [echo.url, echoH2.url]) {
      const common = { ca: certs.caCert };
      const probe = async (client: Client) => {
        const res = await client.request(`${base}/echo`);
        const reply = res.json<EchoReply>();
        return {
          status: res.status,
          version: res.httpVersion,
          url: res.url,
          redirects: res.redirects,
          reply,
        };
      };
      const fresh = new Client({ loop: adapter, ...common });
      const expected = await probe(fresh);
      await fresh.close();
      const changes: Array<[string, string, RequestOptions]> = [
        ['HEAD', '/small', { method: 'HEAD' }],
        ['DELETE', '/echo', { method: 'DELETE' }],
        ['POST bytes', '/echo', { method: 'POST', body: 'hello' }],
        [
          'PUT stream',
          '/echo',
          { method: 'PUT', body: Readable.from([Buffer.from('hello')]), bodyLength: 5 },
        ],
        [
          'POST chunked',
          '/echo',
          { method: 'POST', body: Readable.from([Buffer.from('hel'), Buffer.from('lo')]) },
        ],
        [
          'headers',
          '/echo',
          { headers: { 'x-extra': '1', accept: 'text/plain', 'accept-encoding': 'identity' } },
        ],
        ['timeouts', '/echo', { timeout: 5000, connectTimeout: 1000 }],
        ['no redirects', '/redirect/2', { followRedirects: false }],
        ['redirects', '/redirect/3', {}],
        ['too many redirects', '/redirect/3', { maxRedirections: 1 }],
        ['no decompression', '/echo', { decompress: false }],
        ['HTTP/1.1', '/echo', { httpVersion: '1.1' }],
        ['no verification', '/echo', { rejectUnauthorized: false }],
        ['response size limit', '/bytes/100000', { maxResponseSize: 10 }],
        ['header size limit', '/headers/100', { maxHeaderSize: 100 }],
        ['status 404', '/status/404', {}],
        ['aborted', '/slow/2000', { signal: AbortSignal.timeout(50) }],
      ];
      const client = new Client({ loop: adapter, ...common, maxIdleHandles: 1 });
      try {
        for (const [what, path, options] of changes) {
          await client.request(`${base}${path}`, options).catch(() => undefined);
          expect({ after: what, ...(await probe(client)) }).toEqual({ after: what, ...expected });
        }
        // A refused connect, a response body streamed and dropped half way.
        await client.request(`${refused}/echo`).catch(() => undefined);
        expect(await probe(client)).toEqual(expected);
        const streamed = await client.stream(`${base}/bytes/1000000`, { highWaterMark: 1024 });
        streamed.body.destroy();
        await sleep(20);
        expect(await probe(client)).toEqual(expected);
      } finally {
        await client.close();
      }
    }
  });

  it(`${name}: every getinfo of a reused handle after a failed, redirected or retried request is a new handle's`, async () => {
    const names = infoNames();
    const multi = new Multi();
    const attachment = adapter.attach(multi);
    const defaults = resolveDefaults('test', { ca: certs.caCert });
    const closed = await startHttpServer();
    const refused = closed.url;
    await closed.close();
    const oneShot = await startOneShotServer();
    const run = async (pool: EasyPool, url: string, setup?: (p: PooledEasy) => void) => {
      const pooled = pool.acquire();
      pooled.easy.setopt('URL', url);
      setup?.(pooled);
      await multi.perform(pooled.easy).catch(() => undefined);
      const infos = readInfos(pooled.easy, names);
      pooled.easy.takeBody();
      pooled.easy.takeHeaders();
      pool.release(pooled);
      return infos;
    };
    try {
      const probeUrl = `${echo.url}/echo`;
      const expected = await run(new EasyPool(optionsFor(defaults), 0), probeUrl);
      const earlier: Array<[string, string, ((p: PooledEasy) => void)?]> = [
        ['refused connect', `${refused}/`],
        ['redirect chain', `${echo.url}/redirect/3`],
        ['retried on a dead connection', `${oneShot.url}/`],
        ['retried again', `${oneShot.url}/`],
        ['HEAD', `${echo.url}/small`, (p) => p.set('NOBODY', 1)],
        ['POST', `${echo.url}/echo`, (p) => p.setDirty('POSTFIELDS', Buffer.from('hello'))],
        ['h2', `${echoH2.url}/small`],
      ];
      for (const [what, url, setup] of earlier) {
        const pool = new EasyPool(optionsFor(defaults), 1);
        await run(pool, url, setup);
        expect({ after: what, ...(await run(pool, probeUrl)) }).toEqual({ after: what, ...expected });
        pool.close();
      }
    } finally {
      attachment.detach();
      multi.close();
      await oneShot.close();
    }
  });
});

/** Every CURLINFO of the libcurl the addon was built with, less those that differ between any
 * two transfers (times, speeds, ports, sockets, pointers, connection counts). */
function infoNames(): Array<keyof EasyInfos> {
  const table = JSON.parse(
    readFileSync(new URL('../../core/native/generated/infos.json', import.meta.url), 'utf8'),
  ) as Record<string, string>;
  const varying =
    /TIME|SPEED|PORT|SOCKET|PTR|PRIVATE|NUM_CONNECTS|CONN_ID|XFER_ID|CERTINFO|SSL_ENGINES|QUEUE/;
  expect(Object.keys(table).length).toBeGreaterThan(40);
  return Object.keys(table).filter((n) => !varying.test(n)) as Array<keyof EasyInfos>;
}

function readInfos(easy: Easy, names: Array<keyof EasyInfos>): Record<string, unknown> {
  const infos: Record<string, unknown> = {};
  for (const n of names) {
    try {
      infos[n] = easy.getinfo(n);
    } catch (error) {
      infos[n] = `error: ${(error as Error).message}`;
    }
  }
  return infos;
}
