// Bodies both ways through undici's public API (request, stream, pipeline, fetch) on
// CurlDispatcher: byte-exact from 0 B to 100 MiB over HTTP/1.1, TLS, h2 and h2c, in bounded
// memory, with backpressure; every request body type undici takes, sent as undici's Agent
// sends it (compared in the same test).
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type CertificateSet,
  type EchoReply,
  expectFdsBack,
  type Http2TestServer,
  makeCertificates,
  openFdCount,
  startHttp2Server,
  startHttpServer,
  startTlsServer,
  type TestServer,
} from '@multisock/testkit/servers';
import { Agent, type Dispatcher, errors, FormData, fetch, pipeline, request, stream } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CurlDispatcher } from '../src/index.js';
import { collect, loopAdapters, outcome, PatternCheck, peakRssGrowth } from './helpers.js';

const adapters = await loopAdapters();
const MiB = 1024 * 1024;
const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

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

/** A Writable that checks the body pattern as it is written. */
function patternSink(check: PatternCheck): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      check.update(chunk);
      callback();
    },
  });
}

/** Reads a body through each public API; returns what arrived, checked against the pattern. */
const readers: Record<string, (url: string, dispatcher: Dispatcher) => Promise<PatternCheck>> = {
  async request(url, dispatcher) {
    const check = new PatternCheck();
    const res = await request(url, { dispatcher });
    expect(res.statusCode).toBe(200);
    for await (const chunk of res.body) check.update(chunk as Buffer);
    return check;
  },
  async stream(url, dispatcher) {
    const check = new PatternCheck();
    await stream(url, { dispatcher, opaque: check }, ({ statusCode, opaque }) => {
      expect(statusCode).toBe(200);
      return patternSink(opaque as PatternCheck);
    });
    return check;
  },
  async pipeline(url, dispatcher) {
    const check = new PatternCheck();
    const duplex = pipeline(url, { dispatcher }, ({ statusCode, body }) => {
      expect(statusCode).toBe(200);
      return body;
    });
    duplex.end();
    for await (const chunk of duplex) check.update(chunk as Buffer);
    return check;
  },
  async fetch(url, dispatcher) {
    const check = new PatternCheck();
    const res = await fetch(url, { dispatcher });
    expect(res.status).toBe(200);
    for await (const chunk of res.body!) check.update(chunk);
    return check;
  },
};

describe.each(adapters)('bodies on $name', ({ name, loop }) => {
  let curl: CurlDispatcher;
  let agent: Agent;
  let fdBaseline: number;

  beforeAll(() => {
    fdBaseline = openFdCount();
    curl = new CurlDispatcher({ loop, ca: certs.caCert });
    agent = new Agent({ connect: { ca: certs.caCert } });
  });

  afterAll(async () => {
    await Promise.all([curl.close(), agent.close()]);
    await expectFdsBack(fdBaseline, 3000);
  });

  it(`${name}: response bodies are byte-exact from 0 B to 16 MiB through request, stream, pipeline and fetch`, async () => {
    const sizes = [0, 1, 12, 65_535, 65_536, 1_000_003, 16 * MiB];
    const bases = { 'HTTP/1.1': http.url, TLS: tls.url, h2: h2.url, h2c: h2c.url };
    for (const [protocol, base] of Object.entries(bases)) {
      // h2c needs prior knowledge: a dispatcher of its own.
      const dispatcher = protocol === 'h2c' ? new CurlDispatcher({ loop, httpVersion: 'h2c' }) : curl;
      try {
        for (const size of sizes) {
          for (const route of ['bytes', 'chunked']) {
            for (const [api, read] of Object.entries(readers)) {
              const check = await read(`${base}/${route}/${size}`, dispatcher);
              const where = `${protocol} ${api} /${route}/${size}`;
              expect(check.offset, where).toBe(size);
              expect(check.mismatchAt, where).toBe(-1);
            }
          }
        }
      } finally {
        if (dispatcher !== curl) await dispatcher.close();
      }
    }
  });

  it(`${name}: a 100 MiB body streams through request() and fetch() in bounded memory`, async () => {
    const n = 100 * MiB;
    for (const api of ['request', 'fetch'] as const) {
      const { result: check, growthMiB } = await peakRssGrowth(() =>
        readers[api]!(`${http.url}/bytes/${n}`, curl),
      );
      expect(check.offset).toBe(n);
      expect(check.mismatchAt).toBe(-1);
      expect(growthMiB, `${api}: RSS grew ${growthMiB.toFixed(1)} MiB`).toBeLessThan(48);
    }
  });

  it(`${name}: a body nobody reads pauses the transfer: memory stays flat, then it resumes byte-exact`, async () => {
    const n = 100 * MiB;
    const { result, growthMiB } = await peakRssGrowth(async () => {
      const res = await request(`${http.url}/bytes/${n}`, { dispatcher: curl });
      // undici's body stream holds its highWaterMark; libcurl must hold the rest back.
      await sleep(1000);
      globalThis.gc?.();
      const held = process.memoryUsage.rss();
      return { res, held };
    });
    expect(growthMiB, `RSS grew ${growthMiB.toFixed(1)} MiB while the body was not read`).toBeLessThan(24);
    const check = new PatternCheck();
    for await (const chunk of result.res.body) check.update(chunk as Buffer);
    expect(check.offset).toBe(n);
    expect(check.mismatchAt).toBe(-1);
  });

  describe('request bodies', () => {
    const text = 'héllo wörld '.repeat(1000);
    const bytes = Buffer.from(text);
    /** Every body type undici's request() takes, made fresh for each dispatcher. */
    const bodies: Record<string, () => unknown> = {
      string: () => text,
      Buffer: () => Buffer.from(bytes),
      Uint8Array: () => new Uint8Array(bytes),
      ArrayBuffer: () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
      DataView: () => new DataView(bytes.buffer, bytes.byteOffset, bytes.length),
      Readable: () => Readable.from([bytes.subarray(0, 5000), bytes.subarray(5000)]),
      'sync iterable': () => [bytes.subarray(0, 100), bytes.subarray(100)],
      'async iterable': () =>
        (async function* () {
          yield bytes.subarray(0, 7);
          await sleep(5);
          yield bytes.subarray(7);
        })(),
      Blob: () => new Blob([bytes], { type: 'text/x-blob' }),
    };

    const echo = async (
      dispatcher: Dispatcher,
      body: unknown,
      headers?: Record<string, string>,
      base = http.url,
    ) => {
      const res = await request(`${base}/echo`, {
        dispatcher,
        method: 'POST',
        body: body as string,
        ...(headers ? { headers } : {}),
      });
      expect(res.statusCode).toBe(200);
      return (await res.body.json()) as EchoReply;
    };
    const framing = (reply: EchoReply) => ({
      length: reply.bodyLength,
      sha: reply.bodySha256,
      contentLength: reply.headers['content-length'],
      chunked: reply.headers['transfer-encoding'],
      contentType: reply.headers['content-type'],
    });

    it(`${name}: each type arrives byte-exact, framed and typed as the Agent sends it`, async () => {
      for (const [type, make] of Object.entries(bodies)) {
        const fromAgent = framing(await echo(agent, make()));
        const fromCurl = framing(await echo(curl, make()));
        expect(fromCurl, type).toEqual(fromAgent);
        expect(fromCurl.sha, type).toBe(sha256(bytes));
      }
      // FormData: undici's own multipart encoding (a random boundary, so lengths are compared).
      const form = () => {
        const f = new FormData();
        f.append('field', 'value');
        f.append('file', new Blob([bytes], { type: 'application/octet-stream' }), 'f.bin');
        return f;
      };
      const a = framing(await echo(agent, form()));
      const c = framing(await echo(curl, form()));
      expect(c.length).toBe(a.length);
      expect(c.contentLength).toBe(a.contentLength);
      expect(c.contentType).toMatch(/^multipart\/form-data; boundary=/);
    });

    it(`${name}: fetch sends every BodyInit through the dispatcher byte-exact`, async () => {
      const inits: Record<string, () => BodyInit> = {
        string: () => text,
        Uint8Array: () => new Uint8Array(bytes),
        Blob: () => new Blob([bytes]),
        URLSearchParams: () => new URLSearchParams({ a: '1', b: 'two' }),
        ReadableStream: () =>
          new ReadableStream({
            start(controller) {
              controller.enqueue(new Uint8Array(bytes));
              controller.close();
            },
          }),
      };
      for (const [type, make] of Object.entries(inits)) {
        const replies: EchoReply[] = [];
        for (const dispatcher of [agent, curl]) {
          const init = make();
          const res = await fetch(`${http.url}/echo`, {
            dispatcher,
            method: 'POST',
            body: init,
            ...(type === 'ReadableStream' ? { duplex: 'half' } : {}),
          } as RequestInit);
          replies.push((await res.json()) as EchoReply);
        }
        expect(framing(replies[1]!), type).toEqual(framing(replies[0]!));
      }
    });

    it(`${name}: headers as an object, a flat array or an iterable reach the server as from the Agent`, async () => {
      const forms: Record<string, () => unknown> = {
        object: () => ({ 'x-one': '1', 'X-Two': ['a', 'b'], 'x-num': 5 }),
        'flat array': () => ['x-one', '1', 'X-Two', 'a', 'X-Two', 'b', 'x-num', '5'],
        iterable: () =>
          new Map<string, string>([
            ['x-one', '1'],
            ['x-num', '5'],
          ]),
      };
      for (const [form, make] of Object.entries(forms)) {
        const replies: EchoReply[] = [];
        for (const dispatcher of [agent, curl]) {
          const res = await request(`${http.url}/echo`, {
            dispatcher,
            headers: make() as Record<string, string>,
          });
          replies.push((await res.body.json()) as EchoReply);
        }
        const pick = (r: EchoReply) =>
          Object.fromEntries(Object.entries(r.headers).filter(([k]) => k.startsWith('x-') || k === 'accept'));
        expect(pick(replies[1]!), form).toEqual(pick(replies[0]!));
        expect(replies[1]!.headers['x-one']).toBe('1');
      }
    });

    it(`${name}: request bodies go over HTTP/2 too`, async () => {
      for (const [type, make] of Object.entries(bodies)) {
        const reply = await echo(curl, make(), undefined, h2.url);
        expect(reply.bodySha256, type).toBe(sha256(bytes));
      }
    });

    it(`${name}: a 64 MiB stream body uploads in bounded memory`, async () => {
      const total = 64 * MiB;
      const piece = Buffer.alloc(64 * 1024, 7);
      const hash = createHash('sha256');
      for (let sent = 0; sent < total; sent += piece.length) hash.update(piece);
      const expected = hash.digest('hex');
      const { result, growthMiB } = await peakRssGrowth(() =>
        echo(
          curl,
          (async function* () {
            for (let sent = 0; sent < total; sent += piece.length) yield piece;
          })(),
        ),
      );
      expect(result.bodyLength).toBe(total);
      expect(result.bodySha256).toBe(expected);
      expect(growthMiB, `RSS grew ${growthMiB.toFixed(1)} MiB`).toBeLessThan(48);
    });

    it(`${name}: a body stream that fails ends the request with its own error, as on the Agent`, async () => {
      for (const dispatcher of [agent, curl]) {
        const failure = new Error('disk on fire');
        const result = await outcome(
          request(`${http.url}/echo`, {
            dispatcher,
            method: 'POST',
            body: (async function* () {
              yield Buffer.from('some');
              await sleep(20);
              throw failure;
            })(),
          }),
        );
        expect(result.ok).toBe(false);
        expect((result as { error: unknown }).error).toBe(failure);
      }
    });

    it(`${name}: a Content-Length that contradicts the body is refused, as by the Agent`, async () => {
      for (const dispatcher of [agent, curl]) {
        const result = await outcome(
          request(`${http.url}/echo`, {
            dispatcher,
            method: 'POST',
            body: 'four',
            headers: { 'content-length': '5' },
          }),
        );
        expect((result as { error: unknown }).error).toBeInstanceOf(errors.RequestContentLengthMismatchError);
      }
      // A stream longer than its Content-Length: the Client stops before the excess.
      const longer = await outcome(
        request(`${http.url}/echo`, {
          dispatcher: curl,
          method: 'POST',
          body: Readable.from([Buffer.from('0123456789')]),
          headers: { 'content-length': '5' },
        }),
      );
      expect((longer as { error: unknown }).error).toBeInstanceOf(errors.RequestContentLengthMismatchError);
      expect(((longer as { error: Error }).error.cause as { code: number }).code).toBe(26);
    });

    it(`${name}: a declared Content-Length goes out with a stream body, not chunked`, async () => {
      const reply = await echo(curl, Readable.from([bytes]), { 'content-length': String(bytes.length) });
      expect(reply.headers['content-length']).toBe(String(bytes.length));
      expect(reply.headers['transfer-encoding']).toBeUndefined();
      expect(reply.bodySha256).toBe(sha256(bytes));
      const body = await collect(
        (await request(`${http.url}/echo`, { dispatcher: curl, method: 'PUT' }))
          .body as AsyncIterable<Uint8Array>,
      );
      expect((JSON.parse(body.toString()) as EchoReply).headers['content-length']).toBe('0');
    });
  });
});
