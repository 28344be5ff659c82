import { createHash } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type CertificateSet,
  DRIP_BYTES,
  type EchoReply,
  ENCODED_TEXT,
  expectFdsBack,
  type FaultKind,
  makeCertificates,
  openFdCount,
  openFds,
  patternBytes,
  RAW_ROUTES,
  startFaultServer,
  startHttp2Server,
  startHttpServer,
  startRawHttpServer,
  startTlsServer,
  type TestServer,
  trailersFor,
} from '../src/index.js';
import { request } from './helpers.js';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

let certs: CertificateSet;
beforeAll(async () => {
  certs = await makeCertificates();
});
afterAll(async () => {
  await certs?.cleanup();
});

describe('patternBytes', () => {
  it('is i % 251 and refuses bad lengths', () => {
    const p = patternBytes(600);
    expect(p.length).toBe(600);
    expect(p[0]).toBe(0);
    expect(p[250]).toBe(250);
    expect(p[251]).toBe(0);
    expect(p[599]).toBe(599 % 251);
    expect(() => patternBytes(-1)).toThrow(RangeError);
    expect(() => patternBytes(1.5)).toThrow(RangeError);
  });
});

describe('startHttpServer (uWebSockets.js)', () => {
  let server: TestServer;
  let fdBaseline: number;
  beforeAll(async () => {
    fdBaseline = openFdCount();
    server = await startHttpServer();
  });
  afterAll(async () => {
    await server.close();
    await expectFdsBack(fdBaseline);
  });

  it('answers /small with the native uWS build (uWebSockets: 20 header)', async () => {
    const res = await request(`${server.url}/small`);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('hello world\n');
    expect(res.headers.uwebsockets).toBe('20');
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
  });

  it('serves /bytes/:n byte-exact with Content-Length, up to 100 MiB', async () => {
    for (const n of [0, 1, 251, 65_536, 1_000_003]) {
      const res = await request(`${server.url}/bytes/${n}`);
      expect(res.status).toBe(200);
      expect(res.headers['content-length']).toBe(String(n));
      expect(res.body.equals(patternBytes(n))).toBe(true);
    }
    const big = 100 * 1024 * 1024;
    const res = await request(`${server.url}/bytes/${big}`);
    expect(res.body.length).toBe(big);
    expect(sha256(res.body)).toBe(sha256(patternBytes(big)));
  });

  it('serves /chunked/:n in chunked encoding, byte-exact', async () => {
    const res = await request(`${server.url}/chunked/300000`);
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(res.headers['content-length']).toBeUndefined();
    expect(res.body.equals(patternBytes(300_000))).toBe(true);
  });

  it('answers /slow/:ms after the delay, and survives a client that gives up', async () => {
    const t0 = performance.now();
    const res = await request(`${server.url}/slow/150`);
    expect(res.body.toString()).toBe('slow');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);

    // The client hangs up before the answer: the server's onAborted must keep it alive.
    await new Promise<void>((resolve) => {
      const req = http.get(`${server.url}/slow/100`, { agent: false });
      req.on('error', () => resolve());
      setTimeout(() => req.destroy(), 20);
    });
    await new Promise((r) => setTimeout(r, 150));
    expect((await request(`${server.url}/small`)).status).toBe(200);
  });

  it('redirects /redirect/:n down to /redirect/0', async () => {
    const res = await request(`${server.url}/redirect/3`);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/redirect/2');
    const done = await request(`${server.url}/redirect/0`);
    expect(done.status).toBe(200);
    expect(done.body.toString()).toBe('done');
  });

  it('echoes method, url, headers and a digest of the body', async () => {
    const body = patternBytes(200_000);
    const res = await request(`${server.url}/echo?x=1`, {
      method: 'PUT',
      body,
      headers: { 'x-test': 'yes' },
    });
    const echo = JSON.parse(res.body.toString()) as EchoReply;
    expect(echo.method).toBe('PUT');
    expect(echo.url).toBe('/echo?x=1');
    expect(echo.headers['x-test']).toBe('yes');
    expect(echo.bodyLength).toBe(200_000);
    expect(echo.bodySha256).toBe(sha256(body));
    const get = JSON.parse((await request(`${server.url}/echo`)).body.toString()) as EchoReply;
    expect(get).toMatchObject({ method: 'GET', bodyLength: 0, bodySha256: sha256('') });
  });

  it('answers /status/:code and /headers/:n, and 404/400 for bad input', async () => {
    expect((await request(`${server.url}/status/503`)).status).toBe(503);
    const noContent = await request(`${server.url}/status/204`);
    expect(noContent.status).toBe(204);
    expect(noContent.body.length).toBe(0);
    const res = await request(`${server.url}/headers/20`);
    expect(res.headers['x-h-0']).toBe('v0');
    expect(res.headers['x-h-19']).toBe('v19');
    expect((await request(`${server.url}/nope`)).status).toBe(404);
    expect((await request(`${server.url}/bytes/abc`)).status).toBe(400);
    expect((await request(`${server.url}/bytes/${100 * 1024 * 1024 + 1}`)).status).toBe(400);
  });

  it('serves a Range of /bytes/:n (206, 416 past the end); /chunked/:n ignores Range', async () => {
    const part = await request(`${server.url}/bytes/1000`, { headers: { range: 'bytes=300-' } });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 300-999/1000');
    expect(part.body.equals(patternBytes(1000).subarray(300))).toBe(true);
    const middle = await request(`${server.url}/bytes/1000`, { headers: { range: 'bytes=10-19' } });
    expect(middle.body.equals(patternBytes(1000).subarray(10, 20))).toBe(true);
    const past = await request(`${server.url}/bytes/1000`, { headers: { range: 'bytes=1000-' } });
    expect(past.status).toBe(416);
    expect(past.headers['content-range']).toBe('bytes */1000');
    const whole = await request(`${server.url}/bytes/1000`);
    expect(whole.status).toBe(200);
    expect(whole.headers['accept-ranges']).toBe('bytes');
    const chunked = await request(`${server.url}/chunked/1000`, { headers: { range: 'bytes=300-' } });
    expect(chunked.status).toBe(200);
    expect(chunked.body.equals(patternBytes(1000))).toBe(true);
  });

  it('answers /flaky/:n/:code with code n times per URL, then 200; Retry-After from the query', async () => {
    const url = `${server.url}/flaky/2/503?id=a&retry-after=3`;
    const first = await request(url);
    expect(first.status).toBe(503);
    expect(first.headers['retry-after']).toBe('3');
    expect((await request(url)).status).toBe(503);
    expect((await request(`${server.url}/flaky/2/503?id=b`)).status).toBe(503); // its own count
    const third = await request(url);
    expect(third.status).toBe(200);
    expect(third.body.toString()).toBe('ok after 2\n');
    expect((await request(`${server.url}/status/429?retry-after=1`)).headers['retry-after']).toBe('1');
  });

  it('counts requests and accepted connections (keep-alive reuse counts once)', async () => {
    const before = { requests: server.requests, connections: server.connections };
    // Two connections of our own, five requests one after another on each: no client pool
    // decides for us when to open a new one.
    const fiveOn = (socket: net.Socket) =>
      new Promise<void>((resolve, reject) => {
        let answered = 0;
        let seen = '';
        const ask = () => socket.write(`GET /small HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
        socket.on('error', reject);
        socket.on('data', (chunk) => {
          seen += chunk.toString('latin1');
          const heads = seen.split('HTTP/1.1 200').length - 1;
          if (heads > answered) {
            answered = heads;
            if (answered < 5) ask();
            else resolve();
          }
        });
        ask();
      });
    const sockets = [0, 1].map(() => net.connect(server.port, '127.0.0.1'));
    await Promise.all(sockets.map(fiveOn));
    for (const socket of sockets) socket.destroy();
    expect(server.requests - before.requests).toBe(10);
    expect(server.connections - before.connections).toBe(2);
  });
});

describe('close() frees everything', () => {
  it('uWS: the port refuses connections and no fd is left, even with a transfer in flight', async () => {
    const snapshot = openFds();
    const server = await startHttpServer();
    const inFlight = new Promise<string>((resolve) => {
      http
        .get(`${server.url}/slow/5000`, { agent: false }, (res) => resolve(`status ${res.statusCode}`))
        .on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    await new Promise((r) => setTimeout(r, 50));
    await server.close();
    expect(await inFlight).toBe('ECONNRESET');
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect(server.port, '127.0.0.1');
      s.on('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
    await expectFdsBack(snapshot);
  });

  it('expectFdsBack names the fds that stayed open', async () => {
    const snapshot = openFds();
    const sock = net.connect(1, '127.0.0.1');
    sock.on('error', () => {});
    const leak = new net.Server();
    await new Promise<void>((r) => leak.listen(0, '127.0.0.1', r));
    await expect(expectFdsBack(snapshot, 50)).rejects.toThrow(/socket:\[\d+\]/);
    await new Promise<void>((r) => leak.close(() => r()));
    sock.destroy();
    await expectFdsBack(snapshot);
  });
});

describe('makeCertificates + startTlsServer', () => {
  it('creates a CA, a server cert for 127.0.0.1/localhost and a client cert', async () => {
    const server = new tls.TLSSocket(new net.Socket()); // parses PEM through Node's own X509 support
    server.destroy();
    const { X509Certificate } = await import('node:crypto');
    const ca = new X509Certificate(certs.caCert);
    const srv = new X509Certificate(certs.serverCert);
    const cli = new X509Certificate(certs.clientCert);
    expect(ca.ca).toBe(true);
    expect(srv.checkIssued(ca)).toBe(true);
    expect(cli.checkIssued(ca)).toBe(true);
    expect(srv.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(srv.checkHost('localhost')).toBe('localhost');
  });

  it('serves the same routes over TLS, verified with the test CA and refused without it', async () => {
    const fdBaseline = openFdCount();
    const server = await startTlsServer(certs);
    try {
      expect(server.url).toBe(`https://127.0.0.1:${server.port}`);
      const res = await request(`${server.url}/small`, { ca: certs.caCert });
      expect(res.body.toString()).toBe('hello world\n');
      expect(res.headers.uwebsockets).toBe('20');
      const bytes = await request(`${server.url}/bytes/1048576`, { ca: certs.caCert });
      expect(bytes.body.equals(patternBytes(1_048_576))).toBe(true);
      await expect(request(`${server.url}/small`)).rejects.toMatchObject({
        code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      });
      expect(server.requests).toBe(2);
      // Two more requests on one kept-alive connection: counted once.
      const before = server.connections;
      const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: certs.caCert });
      for (let i = 0; i < 2; i++) {
        await new Promise<void>((resolve, reject) => {
          https
            .get(`${server.url}/small`, { agent }, (res) => {
              res.resume();
              res.on('end', resolve);
            })
            .on('error', reject);
        });
      }
      expect(server.requests).toBe(4);
      expect(server.connections - before).toBe(1);
      agent.destroy();
    } finally {
      await server.close();
    }
    await expectFdsBack(fdBaseline);
  });

  it('cleanup() removes the directory it created', async () => {
    const set = await makeCertificates();
    const { existsSync } = await import('node:fs');
    expect(existsSync(set.caCertPath)).toBe(true);
    await set.cleanup();
    expect(existsSync(set.dir)).toBe(false);
  });
});

function h2get(
  session: http2.ClientHttp2Session,
  path: string,
  options: { method?: string; body?: Buffer } = {},
): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path, ':method': options.method ?? 'GET' });
    const chunks: Buffer[] = [];
    let headers: http2.IncomingHttpHeaders = {};
    stream.on('response', (h) => {
      headers = h;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () =>
      resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks) }),
    );
    stream.on('error', reject);
    stream.end(options.body);
  });
}

describe('startHttp2Server', () => {
  for (const tlsOn of [false, true]) {
    it(`${tlsOn ? 'h2 over TLS' : 'h2c prior knowledge'}: routes, one session, many streams`, async () => {
      const fdBaseline = openFdCount();
      const server = await startHttp2Server(tlsOn ? { tls: true, certs } : { tls: false });
      const session = http2.connect(server.url, tlsOn ? { ca: certs.caCert } : {});
      try {
        const [small, bytes, chunked, redirect, status] = await Promise.all([
          h2get(session, '/small'),
          h2get(session, '/bytes/100000'),
          h2get(session, '/chunked/70000'),
          h2get(session, '/redirect/1'),
          h2get(session, '/status/418'),
        ]);
        expect(small.body.toString()).toBe('hello world\n');
        expect(bytes.headers['content-length']).toBe('100000');
        expect(bytes.body.equals(patternBytes(100_000))).toBe(true);
        expect(chunked.body.equals(patternBytes(70_000))).toBe(true);
        expect(redirect.status).toBe(302);
        expect(redirect.headers.location).toBe('/redirect/0');
        expect(status.status).toBe(418);
        const body = patternBytes(5000);
        const echo = JSON.parse(
          (await h2get(session, '/echo', { method: 'POST', body })).body.toString(),
        ) as EchoReply;
        expect(echo).toMatchObject({
          method: 'POST',
          url: '/echo',
          bodyLength: 5000,
          bodySha256: sha256(body),
        });
        const slow = await h2get(session, '/slow/50');
        expect(slow.body.toString()).toBe('slow');
        expect(server.sessions).toBe(1);
        expect(server.connections).toBe(1);
        expect(server.streams).toBe(7);
        expect(server.requests).toBe(7);
        expect(server.url.startsWith(tlsOn ? 'https://' : 'http://')).toBe(true);
      } finally {
        session.destroy();
        await server.close();
      }
      await expectFdsBack(fdBaseline);
    });
  }

  it('requireClientCert: a TLS handshake without a certificate from the test CA is refused', async () => {
    const server = await startHttp2Server({ tls: true, certs, requireClientCert: true });
    try {
      const connect = (options: http2.SecureClientSessionOptions) =>
        new Promise<number>((resolve, reject) => {
          const session = http2.connect(server.url, { ca: certs.caCert, ...options });
          session.on('error', reject);
          h2get(session, '/small').then(
            (res) => {
              session.close();
              resolve(res.status);
            },
            (error: unknown) => {
              session.destroy();
              reject(error);
            },
          );
        });
      expect(await connect({ cert: certs.clientCert, key: certs.clientKey })).toBe(200);
      await expect(connect({})).rejects.toThrow();
    } finally {
      await server.close();
    }
  });

  it('TLS server refuses HTTP/1.1 (allowHTTP1 false)', async () => {
    const server = await startHttp2Server({ tls: true, certs });
    try {
      // Node's http2 server answers a client without ALPN h2 with a bare HTTP/1.0 403.
      const res = await request(`${server.url}/small`, { ca: certs.caCert });
      expect(res.status).toBe(403);
      expect(res.body.toString()).toMatch(/ALPN/);
      expect(server.requests).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('close() ends open sessions and in-flight streams', async () => {
    const fdBaseline = openFdCount();
    const server = await startHttp2Server({ tls: false });
    const session = http2.connect(server.url);
    session.on('error', () => {});
    const slow = h2get(session, '/slow/5000').catch((e: Error) => e);
    await h2get(session, '/small');
    await server.close();
    const outcome = await slow;
    // The stream ends without an answer (error or an empty response), never with 'slow'.
    expect(outcome instanceof Error || Number.isNaN(outcome.status)).toBe(true);
    session.destroy();
    await expectFdsBack(fdBaseline);
  });

  it('rejects bad options with a TypeError', () => {
    expect(() => startHttp2Server({ tls: true })).toThrow(TypeError);
  });
});

/** Raw HTTP/1.1 exchange: what the fault server sends back, and how the connection ended. */
function rawExchange(port: number, limitMs: number): Promise<{ data: Buffer; end: string; ms: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    const finish = (end: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), end, ms: performance.now() - t0 });
    };
    const timer = setTimeout(() => finish('timeout'), limitMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => finish('end'));
    socket.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? 'error'));
  });
}

describe('startFaultServer', () => {
  let fdBaseline: number;
  afterEach(async () => {
    await expectFdsBack(fdBaseline);
  });
  const withFault = async (kind: FaultKind, fn: (s: TestServer) => Promise<void>) => {
    fdBaseline = openFdCount();
    const server = await startFaultServer(kind);
    try {
      await fn(server);
    } finally {
      await server.close();
    }
  };

  it('reset-after-headers: headers, then a TCP reset', () =>
    withFault('reset-after-headers', async (s) => {
      const r = await rawExchange(s.port, 2000);
      expect(r.end).toBe('ECONNRESET');
      expect(s.requests).toBe(1);
    }));

  it('stall: never answers, and close() ends the stalled connection', () =>
    withFault('stall', async (s) => {
      const r = await rawExchange(s.port, 300);
      expect(r.end).toBe('timeout');
      expect(r.data.length).toBe(0);
      const pending = rawExchange(s.port, 5000);
      await new Promise((r) => setTimeout(r, 50));
      await s.close();
      const closed = await pending;
      expect(closed.end).not.toBe('timeout');
      expect(closed.ms).toBeLessThan(1000);
    }));

  it('short-body: Content-Length 100 with 10 bytes of body, then FIN', () =>
    withFault('short-body', async (s) => {
      const r = await rawExchange(s.port, 2000);
      expect(r.end).toBe('end');
      const text = r.data.toString('latin1');
      expect(text).toMatch(/Content-Length: 100\r\n/);
      expect(text.split('\r\n\r\n')[1]).toHaveLength(10);
    }));

  it('malformed-status: "HTTP/1.1 abc"', () =>
    withFault('malformed-status', async (s) => {
      const r = await rawExchange(s.port, 2000);
      expect(r.data.toString('latin1')).toBe('HTTP/1.1 abc\r\n');
      const viaNode = await new Promise<string>((resolve) => {
        http
          .get(`${s.url}/`, { agent: false }, () => resolve('parsed'))
          .on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
      expect(viaNode).toBe('HPE_INVALID_STATUS');
    }));

  it('close-on-accept: a FIN before any byte, never a reset', () =>
    withFault('close-on-accept', async (s) => {
      const r = await rawExchange(s.port, 2000);
      expect(r.data.length).toBe(0);
      expect(r.end).toBe('end');
      expect(s.connections).toBe(1);
      expect(s.requests).toBe(0);
    }));

  it('drip: 100 body bytes, one every 10 ms; close() stops the drip', () =>
    withFault('drip', async (s) => {
      const res = await new Promise<{ body: Buffer; ms: number }>((resolve, reject) => {
        const t0 = performance.now();
        http
          .get(`${s.url}/`, { agent: false }, (r) => {
            const chunks: Buffer[] = [];
            r.on('data', (c: Buffer) => chunks.push(c));
            r.on('end', () => resolve({ body: Buffer.concat(chunks), ms: performance.now() - t0 }));
          })
          .on('error', reject);
      });
      expect(res.body.length).toBe(DRIP_BYTES);
      expect(res.ms).toBeGreaterThanOrEqual(DRIP_BYTES * 10 * 0.9);
      const pending = rawExchange(s.port, 5000);
      await new Promise((r) => setTimeout(r, 50));
      await s.close();
      const r = await pending;
      expect(r.end).not.toBe('timeout');
      expect(r.ms).toBeLessThan(1000);
    }));

  it('huge-headers: more than 100 KiB of header, which node:http refuses', () =>
    withFault('huge-headers', async (s) => {
      const r = await rawExchange(s.port, 2000);
      expect(r.data.indexOf('\r\n\r\n')).toBeGreaterThan(100 * 1024);
      const viaNode = await new Promise<string>((resolve) => {
        http
          .get(`${s.url}/`, { agent: false }, () => resolve('parsed'))
          .on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
      expect(viaNode).toBe('HPE_HEADER_OVERFLOW');
    }));

  it('refuses an unknown kind with a RangeError', () => {
    expect(() => startFaultServer('nope' as FaultKind)).toThrow(RangeError);
  });
});

describe('encoded and trailers routes', () => {
  it('/encoded/:coding serves ENCODED_TEXT compressed, over uWS and HTTP/2', async () => {
    const decode = { gzip: gunzipSync, br: brotliDecompressSync, deflate: inflateSync };
    const server = await startHttpServer();
    const h2 = await startHttp2Server({ tls: false });
    const session = http2.connect(h2.url);
    try {
      for (const [coding, inflate] of Object.entries(decode)) {
        const res = await request(`${server.url}/encoded/${coding}`);
        expect(res.headers['content-encoding']).toBe(coding);
        expect(inflate(res.body).equals(ENCODED_TEXT)).toBe(true);
        const viaH2 = await h2get(session, `/encoded/${coding}`);
        expect(inflate(viaH2.body).equals(ENCODED_TEXT)).toBe(true);
      }
      expect((await request(`${server.url}/encoded/zip`)).status).toBe(400);
    } finally {
      session.destroy();
      await Promise.all([server.close(), h2.close()]);
    }
  });

  it('/cache/:seconds is cacheable for that long', async () => {
    const server = await startHttpServer();
    try {
      const res = await request(`${server.url}/cache/60`);
      expect(res.headers['cache-control']).toBe('public, max-age=60');
      expect(res.body.toString()).toBe('cacheable for 60 s\n');
      expect((await request(`${server.url}/cache/x`)).status).toBe(400);
    } finally {
      await server.close();
    }
  });

  it('/trailers/:n ends with trailer fields over HTTP/2; uWS says it cannot', async () => {
    const h2 = await startHttp2Server({ tls: false });
    const uws = await startHttpServer();
    const session = http2.connect(h2.url);
    try {
      const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        const stream = session.request({ ':path': '/trailers/5000' });
        stream.on('trailers', resolve);
        stream.on('error', reject);
        stream.resume();
      });
      expect(trailers).toMatchObject(Object.fromEntries(trailersFor(5000)));
      expect((await request(`${uws.url}/trailers/5000`)).status).toBe(501);
    } finally {
      session.destroy();
      await Promise.all([h2.close(), uws.close()]);
    }
  });
});

describe('startRawHttpServer', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startRawHttpServer();
  });
  afterAll(async () => {
    await server.close();
  });

  /** The raw bytes of one response to GET path (the server keeps the connection open). */
  const rawResponse = (path: string, until: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = net.connect(server.port, '127.0.0.1', () =>
        socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`),
      );
      let text = '';
      socket.on('data', (c: Buffer) => {
        text += c.toString('latin1');
        if (text.endsWith(until)) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', reject);
    });

  it('sends 1xx responses before the final one', async () => {
    const hints = await rawResponse(RAW_ROUTES.earlyHints, 'hello');
    expect(hints).toMatch(/^HTTP\/1.1 103 Early Hints\r\nLink: [^\r]+\r\n\r\nHTTP\/1.1 200 OK\r\n/);
    const cont = await rawResponse(RAW_ROUTES.continue, 'hello');
    expect(cont.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK')).toBe(true);
    // node:http hides both and gives the final response.
    const res = await request(`${server.url}${RAW_ROUTES.earlyHints}`);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('hello');
  });

  it('sends a chunked body with trailers, byte-exact', async () => {
    const res = await new Promise<{ body: Buffer; trailers: NodeJS.Dict<string> }>((resolve, reject) => {
      http.get(`${server.url}${RAW_ROUTES.trailers}70000`, { agent: false }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve({ body: Buffer.concat(chunks), trailers: r.trailers }));
        r.on('error', reject);
      });
    });
    expect(res.body.equals(patternBytes(70_000))).toBe(true);
    expect(res.trailers).toEqual(Object.fromEntries(trailersFor(70_000)));
  });

  it('stops after the head, or after part of the body, and close() ends such connections', async () => {
    const head = await rawResponse(RAW_ROUTES.headThenStall, '\r\n\r\n');
    expect(head).toMatch(/Content-Length: 10\r\n\r\n$/);
    const part = await rawResponse(RAW_ROUTES.bodyThenStall, 'hello');
    expect(part).toMatch(/Content-Length: 10\r\n\r\nhello$/);
    const own = await startRawHttpServer();
    const socket = net.connect(own.port, '127.0.0.1', () =>
      socket.write(`GET ${RAW_ROUTES.headThenStall} HTTP/1.1\r\n\r\n`),
    );
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('data', resolve));
    await own.close();
    await ended;
  });

  it('folds a field, keeps mixed case and repeats, answers 404 otherwise, on one connection', async () => {
    expect(await rawResponse(RAW_ROUTES.folded, 'ok')).toContain('X-Folded: first\r\n second\r\n');
    const mixed = await rawResponse(RAW_ROUTES.mixedCase, 'ok');
    expect(mixed).toContain(
      'X-Mixed-Case: One\r\nSet-Cookie: a=1\r\nx-repeated: 1\r\nSet-Cookie: b=2\r\nX-REPEATED: 2',
    );
    expect((await request(`${server.url}/nope`)).status).toBe(404);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const before = server.connections;
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve, reject) => {
        http
          .get(`${server.url}${RAW_ROUTES.continue}`, { agent }, (r) => r.resume().on('end', resolve))
          .on('error', reject);
      });
    }
    agent.destroy();
    expect(server.connections - before).toBe(1);
  });
});
