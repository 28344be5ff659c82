// Proxies the test starts itself, from Debian: tinyproxy (HTTP forwarding and CONNECT tunnels)
// and microsocks (SOCKS5), on 127.0.0.1 at a port chosen at run time, stopped by pid. Each
// result is compared with undici's own proxy agents for the same proxy.
import {
  type CertificateSet,
  expectFdsBack,
  makeCertificates,
  openFdCount,
  patternBytes,
  startHttpServer,
  startTlsServer,
  type TestServer,
} from '@multisock/testkit/servers';
import { type Dispatcher, errors, fetch, ProxyAgent, request, Socks5ProxyAgent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CurlDispatcher } from '../src/index.js';
import { loopAdapters, outcome, type ProxyProcess, startMicrosocks, startTinyproxy } from './helpers.js';

const adapters = await loopAdapters();

let http: TestServer;
let tls: TestServer;
let certs: CertificateSet;
let tinyproxy: ProxyProcess;
let microsocks: ProxyProcess;

beforeAll(async () => {
  certs = await makeCertificates();
  [http, tls, tinyproxy, microsocks] = await Promise.all([
    startHttpServer(),
    startTlsServer(certs),
    startTinyproxy(),
    startMicrosocks(),
  ]);
});

afterAll(async () => {
  await Promise.all([tinyproxy?.stop(), microsocks?.stop()]);
  await Promise.all([http?.close(), tls?.close()]);
  await certs?.cleanup();
});

async function body(dispatcher: Dispatcher, url: string): Promise<Buffer> {
  const res = await request(url, { dispatcher });
  expect(res.statusCode).toBe(200);
  return Buffer.from(await res.body.arrayBuffer());
}

describe.each(adapters)('proxies on $name', ({ name, loop }) => {
  let fdBaseline: number;

  beforeAll(() => {
    fdBaseline = openFdCount();
  });

  afterAll(async () => {
    await expectFdsBack(fdBaseline, 3000);
  });

  it(`${name}: through tinyproxy: http:// forwarded, https:// tunnelled with CONNECT, as by undici's ProxyAgent`, async () => {
    const curl = new CurlDispatcher({ loop, proxy: tinyproxy.url, ca: certs.caCert });
    const proxyAgent = new ProxyAgent({ uri: tinyproxy.url, requestTls: { ca: certs.caCert } });
    try {
      for (const dispatcher of [proxyAgent, curl] as Dispatcher[]) {
        expect((await body(dispatcher, `${http.url}/small`)).toString()).toBe('hello world\n');
        expect((await body(dispatcher, `${tls.url}/bytes/300000`)).equals(patternBytes(300_000))).toBe(true);
        const viaFetch = await fetch(`${tls.url}/small`, { dispatcher });
        expect(await viaFetch.text()).toBe('hello world\n');
      }
      const log = await tinyproxy.log();
      expect(log).toMatch(new RegExp(`CONNECT 127\\.0\\.0\\.1:${tls.port}`));
    } finally {
      await Promise.all([curl.close(), proxyAgent.close()]);
    }
  });

  it(`${name}: through microsocks: socks5:// and socks5h://, as by undici's Socks5ProxyAgent`, async () => {
    const curl5 = new CurlDispatcher({ loop, proxy: microsocks.url, ca: certs.caCert });
    const curl5h = new CurlDispatcher({
      loop,
      proxy: microsocks.url.replace('socks5:', 'socks5h:'),
      ca: certs.caCert,
    });
    const socksAgent = new Socks5ProxyAgent(microsocks.url, { requestTls: { ca: certs.caCert } } as never);
    try {
      for (const dispatcher of [socksAgent, curl5, curl5h] as Dispatcher[]) {
        expect((await body(dispatcher, `${http.url}/small`)).toString()).toBe('hello world\n');
        expect((await body(dispatcher, `${tls.url}/bytes/300000`)).equals(patternBytes(300_000))).toBe(true);
      }
    } finally {
      await Promise.all([curl5.close(), curl5h.close(), socksAgent.close()]);
    }
  });

  it(`${name}: requests really go through the proxy: with it gone they fail to connect`, async () => {
    const own = await startMicrosocks();
    const curl = new CurlDispatcher({ loop, proxy: own.url });
    try {
      expect((await body(curl, `${http.url}/small`)).toString()).toBe('hello world\n');
      await own.stop();
      const result = await outcome(body(curl, `${http.url}/small?again`));
      expect(result.ok).toBe(false);
      const error = (result as { error: Error }).error;
      expect(error).toBeInstanceOf(errors.SocketError);
      expect([7, 97]).toContain((error.cause as { code: number }).code);
    } finally {
      await curl.close();
    }
  });

  it(`${name}: proxy 'env' honours http_proxy and no_proxy`, async () => {
    const saved = { http_proxy: process.env.http_proxy, no_proxy: process.env.no_proxy };
    const before = (await tinyproxy.log()).length;
    process.env.http_proxy = tinyproxy.url;
    delete process.env.no_proxy;
    const curl = new CurlDispatcher({ loop, proxy: 'env' });
    try {
      expect((await body(curl, `${http.url}/small?via-env`)).toString()).toBe('hello world\n');
      expect((await tinyproxy.log()).slice(before)).toMatch(/via-env/);
      process.env.no_proxy = '127.0.0.1';
      const mark = (await tinyproxy.log()).length;
      expect((await body(curl, `${http.url}/small?direct`)).toString()).toBe('hello world\n');
      expect((await tinyproxy.log()).slice(mark)).not.toMatch(/direct/);
    } finally {
      await curl.close();
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});
