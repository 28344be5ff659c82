// HTTP/2 multiplexing by default: concurrent requests to a new h2 origin share one connection
// (as `curl --parallel` does), and requests beyond the server's stream limit neither stall nor
// fail. Against nginx and h2o from Debian.
import { Client, type ClientOptions } from '@multisock/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CertificateSet,
  makeCertificates,
  type NginxServer,
  startHttpServer,
  startNginx,
  type TestServer,
} from '../src/index.js';
import { builtAdapters } from './support/adapters.js';

const adapters = await builtAdapters({ reactor: true });

let certs: CertificateSet;
let nginx: NginxServer;
let narrow: NginxServer;
let http1: TestServer;

beforeAll(async () => {
  certs = await makeCertificates();
  [nginx, narrow, http1] = await Promise.all([
    startNginx({ certs, largeBytes: 1024 * 1024 }),
    startNginx({ certs, maxConcurrentStreams: 10, largeBytes: 1024 * 1024 }),
    startHttpServer(),
  ]);
});

afterAll(async () => {
  await Promise.all([nginx?.close(), narrow?.close(), http1?.close()]);
  await certs?.cleanup();
});

/** Distinct connections nginx served on `port` since `before` log lines. */
async function connectionsSince(server: NginxServer, before: number, port: number): Promise<number> {
  const log = (await server.log()).slice(before).filter((l) => l.port === port);
  return new Set(log.map((l) => l.connection)).size;
}

describe.each(adapters)('HTTP/2 multiplexing over $name', ({ name, adapter }) => {
  const open = (options: Omit<ClientOptions, 'loop'> = {}) =>
    new Client({ loop: adapter, ca: certs.caCert, ...options });
  const port = (url: string) => Number(new URL(url).port);

  it(`${name}: 100 concurrent requests to a new h2 origin share one connection`, async () => {
    const client = open();
    const before = (await nginx.log()).length;
    try {
      const responses = await Promise.all(
        Array.from({ length: 100 }, () => client.request(`${nginx.https}/small.txt`)),
      );
      expect(responses.every((r) => r.status === 200 && r.httpVersion === '2')).toBe(true);
      expect(responses.reduce((n, r) => n + r.connectionsOpened, 0)).toBe(1);
      expect(await connectionsSince(nginx, before, port(nginx.https))).toBe(1);
    } finally {
      await client.close();
    }
  });

  it(`${name}: a wave beyond the server's stream limit neither stalls nor fails`, async () => {
    // nginx allows 10 streams per connection here; 101 requests, with and without a limit of one
    // connection per host.
    for (const maxConnectionsPerHost of [1, 0]) {
      const client = open({ maxConnectionsPerHost, timeout: 20_000 });
      const started = performance.now();
      try {
        const results = await Promise.allSettled(
          Array.from({ length: 101 }, () => client.request(`${narrow.https}/pattern.bin`)),
        );
        const failed = results.filter((r) => r.status === 'rejected');
        expect(failed.map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
        for (const r of results) {
          const res = (r as PromiseFulfilledResult<Awaited<ReturnType<Client['request']>>>).value;
          expect(res.body.equals(narrow.files.get('/pattern.bin')!)).toBe(true);
        }
        expect(performance.now() - started).toBeLessThan(5000);
      } finally {
        await client.close();
      }
    }
  });

  it(`${name}: plain http:// requests do not wait for each other's responses`, async () => {
    // Cleartext origins never multiplex with httpVersion '2' (HTTP/1.1 there): the first wave of
    // slow requests must run in parallel, not one after the first response.
    const client = open();
    try {
      const started = performance.now();
      await Promise.all(Array.from({ length: 20 }, () => client.request(`${http1.url}/slow/300`)));
      expect(performance.now() - started).toBeLessThan(550);
    } finally {
      await client.close();
    }
  });
});
