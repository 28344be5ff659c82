// Client.exchange() (@multisock/core) and the Client's curlOptions, against the real test
// servers, once per built loop adapter: the raw head, body chunks and trailers as they arrive,
// 1xx skipped, nothing followed or decoded, pause/resume reaching libcurl, abort at once.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Client,
  type ClientOptions,
  CurlError,
  type Exchange,
  type ExchangeHandler,
  type ExchangeHead,
  type ExchangeOptions,
  type LoopAdapter,
} from '@multisock/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type CertificateSet,
  type EchoReply,
  ENCODED_TEXT,
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
} from '../src/index.js';

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

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

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

/** What an exchange delivered, in order. */
interface Recorded {
  events: string[];
  head: ExchangeHead | null;
  body: Buffer;
  chunks: number;
  trailers: Buffer[] | null;
  error: unknown;
  done: Promise<void>;
  exchange: Exchange;
}

function record(
  client: Client,
  url: string,
  options: ExchangeOptions = {},
  hooks: Partial<ExchangeHandler> = {},
): Recorded {
  const chunks: Buffer[] = [];
  let settle!: () => void;
  const r = {
    events: [] as string[],
    head: null as ExchangeHead | null,
    body: Buffer.alloc(0),
    chunks: 0,
    trailers: null as Buffer[] | null,
    error: undefined as unknown,
    done: new Promise<void>((resolve) => {
      settle = resolve;
    }),
  } as Recorded;
  r.exchange = client.exchange(url, options, {
    onHead(head) {
      r.events.push('head');
      r.head = head;
      return hooks.onHead?.(head);
    },
    onData(chunk) {
      if (r.events.at(-1) !== 'data') r.events.push('data');
      chunks.push(chunk);
      r.chunks++;
      return hooks.onData?.(chunk);
    },
    onEnd(trailers) {
      r.events.push('end');
      r.body = Buffer.concat(chunks);
      r.trailers = trailers;
      settle();
    },
    onError(error) {
      r.events.push('error');
      r.error = error;
      settle();
    },
  });
  return r;
}

/** rawHeaders as [name, value] strings. */
const pairs = (raw: Buffer[]) => {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < raw.length; i += 2)
    out.push([raw[i]!.toString('latin1'), raw[i + 1]!.toString('latin1')]);
  return out;
};

describe.each(adapters)('Client.exchange over $name', ({ name, adapter }) => {
  let client: Client;
  let fdBaseline: number;
  const open = (options: Omit<ClientOptions, 'loop'> = {}) => {
    client = new Client({ loop: adapter, ca: certs.caCert, ...options });
    return client;
  };

  beforeEach(() => {
    fdBaseline = openFdCount();
  });

  afterEach(async () => {
    await client?.close();
    await expectFdsBack(fdBaseline, 3000);
  });

  it(`${name}: hands over the head as received (case kept, repeats kept), then the body, then the end`, async () => {
    open();
    const r = record(client, `${raw.url}${RAW_ROUTES.mixedCase}`);
    await r.done;
    expect(r.events).toEqual(['head', 'data', 'end']);
    expect(r.head!.status).toBe(200);
    expect(r.head!.statusText).toBe('OK');
    expect(r.head!.httpVersion).toBe('HTTP/1.1');
    expect(r.head!.rawHeaders.every((b) => Buffer.isBuffer(b))).toBe(true);
    expect(pairs(r.head!.rawHeaders)).toEqual([
      ['X-Mixed-Case', 'One'],
      ['Set-Cookie', 'a=1'],
      ['x-repeated', '1'],
      ['Set-Cookie', 'b=2'],
      ['X-REPEATED', '2'],
      ['Content-Length', '2'],
    ]);
    expect(r.body.toString()).toBe('ok');
    expect(r.trailers).toEqual([]);
  });

  it(`${name}: skips 1xx responses and joins a folded field`, async () => {
    open();
    for (const path of [RAW_ROUTES.earlyHints, RAW_ROUTES.continue]) {
      const r = record(client, `${raw.url}${path}`);
      await r.done;
      expect(r.head!.status).toBe(200);
      expect(pairs(r.head!.rawHeaders).map(([n]) => n)).not.toContain('Link');
      expect(r.body.toString()).toBe('hello');
    }
    const folded = record(client, `${raw.url}${RAW_ROUTES.folded}`);
    await folded.done;
    expect(pairs(folded.head!.rawHeaders)[0]).toEqual(['X-Folded', 'first second']);
  });

  it(`${name}: delivers trailers of chunked HTTP/1.1 and of HTTP/2`, async () => {
    open();
    for (const url of [`${raw.url}${RAW_ROUTES.trailers}100000`, `${h2.url}/trailers/100000`]) {
      const r = record(client, url);
      await r.done;
      expect(r.error).toBeUndefined();
      expect(sha256(r.body)).toBe(sha256(patternBytes(100_000)));
      const got = pairs(r.trailers!).map(([n, v]) => [n.toLowerCase(), v]);
      expect(got).toEqual(trailersFor(100_000));
    }
  });

  it(`${name}: follows no redirect, decodes nothing, and sends no header it was not given`, async () => {
    open({ defaultAccept: null }); // the Client's defaults follow redirects and decode: an exchange does neither
    const redirect = record(client, `${http.url}/redirect/1`);
    await redirect.done;
    expect(redirect.head!.status).toBe(302);
    const gzip = record(client, `${http.url}/encoded/gzip`);
    await gzip.done;
    expect(pairs(gzip.head!.rawHeaders)).toContainEqual(['content-encoding', 'gzip']);
    expect(gzip.body.equals(ENCODED_TEXT)).toBe(false);
    const { gunzipSync } = await import('node:zlib');
    expect(gunzipSync(gzip.body).equals(ENCODED_TEXT)).toBe(true);
    const echo = record(client, `${http.url}/echo`, { method: 'POST', body: 'x'.repeat(2000) });
    await echo.done;
    const sent = (JSON.parse(echo.body.toString()) as EchoReply).headers;
    expect(Object.keys(sent).sort()).toEqual(['content-length', 'host']);
  });

  it(`${name}: pause() holds the delivery and libcurl's reading; resume() goes on byte-exact`, async () => {
    open();
    const n = 8 * 1024 * 1024;
    let exchange: Exchange | null = null;
    let pausedAt = -1;
    let received = 0;
    const r = record(
      client,
      `${http.url}/bytes/${n}`,
      {},
      {
        onData(chunk) {
          received += chunk.length;
          if (pausedAt < 0 && received > 256 * 1024) {
            pausedAt = received;
            return false;
          }
          return undefined;
        },
      },
    );
    exchange = r.exchange;
    while (pausedAt < 0) await sleep(5);
    await sleep(300);
    expect(exchange.paused).toBe(true);
    expect(received).toBe(pausedAt); // nothing delivered while paused
    exchange.resume();
    await r.done;
    expect(r.error).toBeUndefined();
    expect(r.body.length).toBe(n);
    expect(sha256(r.body)).toBe(sha256(patternBytes(n)));
  });

  it(`${name}: abort() calls onError once, at once, and never onEnd; the handle is reused`, async () => {
    open();
    const reason = new Error('stop');
    let data = 0;
    const r = record(
      client,
      `${http.url}/bytes/${32 * 1024 * 1024}`,
      {},
      {
        onData() {
          data++;
          if (data === 2) r.exchange.abort(reason);
          return undefined;
        },
      },
    );
    await r.done;
    expect(r.events).toEqual(['head', 'data', 'error']);
    expect(r.error).toBe(reason);
    r.exchange.abort(new Error('again')); // a no-op once settled
    await sleep(50);
    expect(r.events).toEqual(['head', 'data', 'error']);
    expect(client.inFlight).toBe(0);
    const next = record(client, `${http.url}/small`);
    await next.done;
    expect(next.body.toString()).toBe('hello world\n');
  });

  it(`${name}: a handler that throws ends the exchange with what it threw`, async () => {
    open();
    const thrown = new Error('handler failed');
    const r = record(
      client,
      `${http.url}/small`,
      {},
      {
        onHead() {
          throw thrown;
        },
      },
    );
    await r.done;
    expect(r.events).toEqual(['head', 'error']);
    expect(r.error).toBe(thrown);
  });

  it(`${name}: maxHeaderSize and maxResponseSize fail with CurlError 23 and 63`, async () => {
    open();
    const headers = record(client, `${http.url}/headers/200`, { maxHeaderSize: 1024 });
    await headers.done;
    expect(headers.error).toMatchObject({ code: 23 });
    const body = record(client, `${http.url}/chunked/100000`, { maxResponseSize: 1000 });
    await body.done;
    expect(body.error).toMatchObject({ code: 63 });
  });

  it(`${name}: refuses a bad handler or highWaterMark before anything is sent`, () => {
    open();
    const ok: ExchangeHandler = {
      onHead: () => undefined,
      onData: () => undefined,
      onEnd() {},
      onError() {},
    };
    expect(() => client.exchange(`${http.url}/small`, {}, null as unknown as ExchangeHandler)).toThrow(
      TypeError,
    );
    expect(() =>
      client.exchange(`${http.url}/small`, {}, { ...ok, onEnd: undefined } as unknown as ExchangeHandler),
    ).toThrow(/handler.onEnd must be a function/);
    expect(() => client.exchange(`${http.url}/small`, { highWaterMark: 0 }, ok)).toThrow(RangeError);
    expect(client.inFlight).toBe(0);
  });
});

describe.each(adapters)('Client defaultAccept over $name', ({ name, adapter }) => {
  it(`${name}: is libcurl's */* unless set; null sends none; a request's own Accept wins`, async () => {
    const accepts: Array<string | undefined> = [];
    for (const defaultAccept of [undefined, null, 'application/json'] as const) {
      const client = new Client({ loop: adapter, ...(defaultAccept !== undefined ? { defaultAccept } : {}) });
      try {
        for (const headers of [undefined, { accept: 'text/html' }, { 'x-other': '1' }]) {
          const res = await client.request(`${http.url}/echo`, {
            method: 'POST',
            body: 'x',
            ...(headers ? { headers } : {}),
          });
          accepts.push(res.json<EchoReply>().headers.accept);
        }
      } finally {
        await client.close();
      }
    }
    expect(accepts).toEqual([
      '*/*',
      'text/html',
      '*/*',
      undefined,
      'text/html',
      undefined,
      'application/json',
      'text/html',
      'application/json',
    ]);
    expect(() => new Client({ loop: adapter, defaultAccept: 'a\nb' })).toThrow(TypeError);
  });
});

describe.each(adapters)('Client curlOptions over $name', ({ name, adapter }) => {
  it(`${name}: sets libcurl options by name on every handle`, async () => {
    const client = new Client({ loop: adapter, curlOptions: { USERAGENT: 'curl-options-test' } });
    try {
      const res = await client.request(`${http.url}/echo`, { method: 'POST', body: 'x' });
      expect(res.json<EchoReply>().headers['user-agent']).toBe('curl-options-test');
    } finally {
      await client.close();
    }
  });

  it(`${name}: refuses options the Client sets itself, unknown names and wrong types`, () => {
    const make = (curlOptions: unknown) => () =>
      new Client({ loop: adapter, curlOptions: curlOptions as ClientOptions['curlOptions'] });
    expect(make({ HTTPHEADER: ['a: b'] })).toThrow(
      /curlOptions.HTTPHEADER is set by the Client itself \(use the Client's headers option\)/,
    );
    expect(make({ ENCODING: 'gzip' })).toThrow(/decompress/); // an alias of ACCEPT_ENCODING
    expect(make({ WRITEFUNCTION: () => undefined })).toThrow(TypeError);
    expect(make('PIPEWAIT')).toThrow(TypeError);
    let error: unknown;
    try {
      make({ NO_SUCH_OPTION: 1 })();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CurlError);
    expect(error).toMatchObject({ codeName: 'CURLE_UNKNOWN_OPTION' });
    expect(make({ TCP_KEEPALIVE: 'yes' })).toThrow(CurlError);
    expect(make({ PIPEWAIT: 1 })).toThrow(/the Client sets it per request/);
  });
});
