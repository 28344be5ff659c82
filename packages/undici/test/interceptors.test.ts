// undici's own interceptors composed over CurlDispatcher, each compared with the same
// interceptor over undici's Agent: redirect, retry, decompress, dns, cache, responseError, dump.
import {
  ENCODED_TEXT,
  expectFdsBack,
  openFdCount,
  startFaultServer,
  startHttpServer,
  type TestServer,
} from '@multisock/testkit/servers';
import { Agent, type Dispatcher, interceptors, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CurlDispatcher } from '../src/index.js';
import { loopAdapters, outcome } from './helpers.js';

const adapters = await loopAdapters();

let http: TestServer;

beforeAll(async () => {
  http = await startHttpServer();
});

afterAll(async () => {
  await http?.close();
});

/** What a caller sees of one request: status and body, or the error's name and code. */
async function seen(dispatcher: Dispatcher, url: string, options: Record<string, unknown> = {}) {
  const result = await outcome(
    (async () => {
      const res = await request(url, { dispatcher, ...options });
      return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
    })(),
  );
  if (result.ok) return result.value;
  const error = result.error as Error & { code?: string; statusCode?: number };
  return { error: error.name, code: error.code, statusCode: error.statusCode };
}

describe.each(adapters)('interceptors on $name', ({ name, loop }) => {
  let curl: CurlDispatcher;
  let agent: Agent;
  let fdBaseline: number;

  beforeAll(() => {
    fdBaseline = openFdCount();
    curl = new CurlDispatcher({ loop });
    agent = new Agent();
  });

  afterAll(async () => {
    await Promise.all([curl.close(), agent.close()]);
    await expectFdsBack(fdBaseline, 3000);
  });

  /** Runs `url` through `interceptor` on the Agent and on CurlDispatcher; returns both, and the
   * requests the server saw for each. */
  async function both(interceptor: Dispatcher.DispatcherComposeInterceptor, url: string, options = {}) {
    const out = [];
    for (const base of [agent, curl]) {
      const before = http.requests;
      const result = await seen(base.compose(interceptor), url, options);
      out.push({ result, requests: http.requests - before });
    }
    return out;
  }

  it(`${name}: redirect follows as on the Agent, and stops at maxRedirections as it does`, async () => {
    const [a, c] = await both(interceptors.redirect({ maxRedirections: 3 }), `${http.url}/redirect/2`);
    expect(c).toEqual(a);
    expect(c!.result).toEqual({ status: 200, body: Buffer.from('done') });
    expect(c!.requests).toBe(3);
    const [a2, c2] = await both(interceptors.redirect({ maxRedirections: 2 }), `${http.url}/redirect/5`);
    expect(c2).toEqual(a2);
  });

  it(`${name}: retry retries a status and a broken connection as many times as on the Agent`, async () => {
    const retry = interceptors.retry({ maxRetries: 2, minTimeout: 10, maxTimeout: 20, statusCodes: [503] });
    const [a, c] = await both(retry, `${http.url}/status/503`);
    expect(c).toEqual(a);
    expect(c!.requests).toBe(3);
    const broken = await startFaultServer('close-on-accept');
    try {
      const counts: number[] = [];
      const results: unknown[] = [];
      for (const base of [agent, curl]) {
        const before = broken.connections;
        results.push(await seen(base.compose(retry), `${broken.url}/`));
        counts.push(broken.connections - before);
      }
      expect(counts[1]).toBe(counts[0]);
      expect(counts[1]).toBe(3);
      expect(results[1]).toMatchObject({ error: (results[0] as { error: string }).error });
    } finally {
      await broken.close();
    }
  });

  it(`${name}: decompress decodes gzip, br and deflate as on the Agent`, async () => {
    for (const coding of ['gzip', 'br', 'deflate']) {
      const [a, c] = await both(interceptors.decompress(), `${http.url}/encoded/${coding}`);
      expect(c).toEqual(a);
      expect((c!.result as { body: Buffer }).body.equals(ENCODED_TEXT)).toBe(true);
    }
  });

  it(`${name}: dns resolves a name and the request goes to the address, Host kept`, async () => {
    const url = `http://localhost:${http.port}/echo`;
    const [a, c] = await both(interceptors.dns({ affinity: 4 }), url);
    const host = (r: unknown) => JSON.parse((r as { body: Buffer }).body.toString()).headers.host as string;
    expect(host(c!.result)).toBe(host(a!.result));
    expect(host(c!.result)).toBe(`localhost:${http.port}`);
  });

  it(`${name}: cache answers the second request itself, as on the Agent`, async () => {
    const seenBy: number[] = [];
    for (const base of [agent, curl]) {
      const cached = base.compose(interceptors.cache());
      const before = http.requests;
      const first = await seen(cached, `${http.url}/cache/60`);
      const second = await seen(cached, `${http.url}/cache/60`);
      expect(second).toEqual(first);
      seenBy.push(http.requests - before);
    }
    expect(seenBy).toEqual([1, 1]);
  });

  it(`${name}: responseError turns a 404 into a ResponseError, as on the Agent`, async () => {
    const [a, c] = await both(interceptors.responseError(), `${http.url}/status/404`);
    expect(c).toEqual(a);
    expect(c!.result).toMatchObject({ error: 'ResponseError', statusCode: 404 });
  });

  it(`${name}: dump drops the body, and several interceptors compose`, async () => {
    const [a, c] = await both(interceptors.dump({ maxSize: 1024 * 1024 }), `${http.url}/bytes/100000`);
    expect(c).toEqual(a);
    const chained = curl.compose(
      interceptors.redirect({ maxRedirections: 5 }),
      interceptors.retry({ maxRetries: 1, minTimeout: 10 }),
      interceptors.decompress(),
    );
    const result = await seen(chained, `${http.url}/redirect/3`);
    expect(result).toEqual({ status: 200, body: Buffer.from('done') });
  });
});
