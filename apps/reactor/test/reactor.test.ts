// The reactor app against a node:http server in this thread: the reactor runs in its worker,
// so this thread stays free to serve.
import { readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ReactorClient, ReactorFetchError } from '@multisock/reactor-app';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let server: http.Server;
let base: string;
let served = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    served++;
    const [, route, arg] = (req.url ?? '').split('/');
    if (route === 'bytes') res.end(Buffer.alloc(Number(arg), 'x'));
    else if (route === 'slow') setTimeout(() => res.end('slow'), Number(arg));
    else {
      res.statusCode = 404;
      res.end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const openFds = () => readdirSync('/proc/self/fd').length;

describe('reactor app', () => {
  it('fetches URLs concurrently and reports status, bytes and time', async () => {
    const client = new ReactorClient();
    try {
      const sizes = [0, 1, 1000, 65_536, 1_000_000, 7, 123_456, 10];
      const before = served;
      const results = await Promise.all([
        ...sizes.map((n) => client.fetch(`${base}/bytes/${n}`)),
        client.fetch(`${base}/missing`),
      ]);
      expect(results.map((r) => r.bytes)).toEqual([...sizes, 9]);
      expect(results.map((r) => r.status)).toEqual([...sizes.map(() => 200), 404]);
      for (const result of results) expect(result.timeMs).toBeGreaterThan(0);
      expect(results[2]!.url).toBe(`${base}/bytes/1000`);
      expect(served - before).toBe(sizes.length + 1);
    } finally {
      await client.close();
    }
  });

  it('takes new URLs while other transfers are in flight', async () => {
    const client = new ReactorClient();
    try {
      const order: string[] = [];
      const slow = client.fetch(`${base}/slow/600`).then(() => order.push('slow'));
      await sleep(50);
      const fast = client.fetch(`${base}/bytes/5`).then(() => order.push('fast'));
      await Promise.all([slow, fast]);
      expect(order).toEqual(['fast', 'slow']);
    } finally {
      await client.close();
    }
  });

  it("rejects failed transfers with libcurl's code", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const client = new ReactorClient();
    try {
      const refused = await client.fetch(`http://127.0.0.1:${port}/`).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ReactorFetchError);
      expect((refused as ReactorFetchError).code).toBe(7); // CURLE_COULDNT_CONNECT
      const timedOut = await client.fetch(`${base}/slow/2000`, { timeoutMs: 100 }).catch((e: unknown) => e);
      expect((timedOut as ReactorFetchError).code).toBe(28); // CURLE_OPERATION_TIMEDOUT
      // The loop goes on after failures.
      expect((await client.fetch(`${base}/bytes/3`)).bytes).toBe(3);
    } finally {
      await client.close();
    }
  });

  it('close() stops the thread, rejects what is in flight and leaves no fd behind', async () => {
    const baseline = openFds();
    const client = new ReactorClient();
    const inFlight = client.fetch(`${base}/slow/5000`).catch((e: unknown) => e);
    await sleep(50);
    await client.close();
    expect(await inFlight).toBeInstanceOf(ReactorFetchError);
    await expect(client.fetch(`${base}/bytes/1`)).rejects.toThrow(/closed/);
    const deadline = Date.now() + 2000;
    while (openFds() > baseline && Date.now() < deadline) await sleep(10);
    expect(openFds()).toBeLessThanOrEqual(baseline);
  });

  it('refuses bad input with clear errors', async () => {
    expect(() => new ReactorClient({ sliceMs: 0 })).toThrow(RangeError);
    expect(() => new ReactorClient({ maxConnects: 1.5 })).toThrow(RangeError);
    const client = new ReactorClient();
    try {
      await expect(client.fetch(5 as unknown as string)).rejects.toThrow(TypeError);
      await expect(client.fetch(base, { timeoutMs: -1 })).rejects.toThrow(RangeError);
    } finally {
      await client.close();
    }
  });
});
