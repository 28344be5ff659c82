// The gateway against real upstream servers (node:http on 127.0.0.1, port 0), on both clients.
import { readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, type GatewayClientKind, startGateway } from '../src/index.js';

interface Upstream {
  url: string;
  /** Requests received, by path. */
  seen: string[];
  /** Requests whose client went away before the answer was sent. */
  aborted: string[];
  close(): Promise<void>;
}

/** An upstream named `name`: /data answers JSON, /fail 500, /text plain text, /slow after 2 s,
 * /hang never. */
function startUpstream(name: string, misbehave: Partial<Record<string, boolean>> = {}): Promise<Upstream> {
  const seen: string[] = [];
  const aborted: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    seen.push(path);
    res.on('close', () => {
      if (!res.writableFinished) aborted.push(path);
    });
    const json = () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ from: name, path }));
    };
    if (path === '/data' || !misbehave[path]) return json();
    if (path === '/fail') {
      res.statusCode = 500;
      res.end('boom');
    } else if (path === '/text') {
      res.end('not json');
    } else if (path === '/slow') {
      const t = setTimeout(json, 2000);
      timers.add(t);
    }
    // '/hang': never answers
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        seen,
        aborted,
        close: () =>
          new Promise<void>((done) => {
            for (const t of timers) clearTimeout(t);
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (s: string) => {
          body += s;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function setup(
  client: GatewayClientKind,
  misbehave: Partial<Record<string, boolean>> = {},
  timeoutMs?: number,
): Promise<{ gateway: Gateway; a: Upstream; b: Upstream }> {
  const a = await startUpstream('a');
  const b = await startUpstream('b', misbehave);
  cleanups.push(
    () => a.close(),
    () => b.close(),
  );
  const gateway = await startGateway({
    upstreams: [
      { name: 'a', url: a.url },
      { name: 'b', url: b.url },
    ],
    port: 0,
    client,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  });
  cleanups.push(() => gateway.close());
  return { gateway, a, b };
}

describe.each(['multisock', 'undici'] as const)('gateway on %s', (client) => {
  it('merges the JSON answers of every upstream, keyed by name', async () => {
    const { gateway, a, b } = await setup(client);
    const answer = await get(`${gateway.url}/data`);
    expect(answer.status).toBe(200);
    expect(answer.headers.uwebsockets).toBe('20'); // the native uWS, not its JS fallback
    expect(JSON.parse(answer.body)).toEqual({
      a: { from: 'a', path: '/data' },
      b: { from: 'b', path: '/data' },
    });
    expect(a.seen).toEqual(['/data']);
    expect(b.seen).toEqual(['/data']);
  });

  it('forwards the path and the query to each upstream', async () => {
    const { gateway, a } = await setup(client);
    const answer = await get(`${gateway.url}/users/7?fields=name`);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).a).toEqual({ from: 'a', path: '/users/7?fields=name' });
    expect(a.seen).toEqual(['/users/7?fields=name']);
  });

  it('answers 502 naming the upstream that answered an error status', async () => {
    const { gateway } = await setup(client, { '/fail': true });
    const answer = await get(`${gateway.url}/fail`);
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.body)).toMatchObject({
      error: 'upstream failed',
      upstream: 'b',
      reason: 'answered 500',
    });
  });

  it('answers 502 naming the upstream whose answer is not JSON', async () => {
    const { gateway } = await setup(client, { '/text': true });
    const answer = await get(`${gateway.url}/text`);
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.body)).toMatchObject({ upstream: 'b' });
  });

  it('answers 502 naming an upstream nobody listens on', async () => {
    const a = await startUpstream('a');
    const gone = await startUpstream('gone');
    await gone.close(); // the port is free now: connections are refused
    cleanups.push(() => a.close());
    const gateway = await startGateway({ upstreams: { a: a.url, gone: gone.url }, client });
    cleanups.push(() => gateway.close());
    const answer = await get(`${gateway.url}/data`);
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'upstream failed', upstream: 'gone' });
  });

  it('answers 502 naming the upstream that did not answer in time, and aborts its transfer', async () => {
    const { gateway, b } = await setup(client, { '/slow': true }, 200);
    const started = Date.now();
    const answer = await get(`${gateway.url}/slow`);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.body)).toMatchObject({
      error: 'upstream timed out',
      upstream: 'b',
      upstreams: ['b'],
    });
    await until(() => b.aborted.length === 1);
    expect(b.aborted).toEqual(['/slow']);
  });

  it('aborts every upstream transfer when the client disconnects', async () => {
    const { gateway, a, b } = await setup(client, { '/hang': true });
    // a answers /hang at once; b never does. The client leaves while b's transfer is open.
    const request = http.get(`${gateway.url}/hang`, { agent: false });
    request.on('error', () => {});
    await until(() => b.seen.length === 1 && a.seen.length === 1);
    expect(gateway.pending).toBe(1);
    request.destroy();
    await until(() => b.aborted.length === 1);
    expect(b.aborted).toEqual(['/hang']);
    await until(() => gateway.pending === 0);
  });

  it('answers 405 to anything but GET', async () => {
    const { gateway, a } = await setup(client);
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${gateway.url}/data`, { method: 'POST', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end('{}');
    });
    expect(status).toBe(405);
    expect(a.seen).toEqual([]);
  });

  it('leaves no fd open once closed', async () => {
    const before = openFds();
    const { gateway } = await setup(client);
    for (let i = 0; i < 5; i++) expect((await get(`${gateway.url}/data`)).status).toBe(200);
    while (cleanups.length > 0) await cleanups.pop()!();
    await until(() => openFds() <= before);
  });
});

describe('startGateway input', () => {
  it('rejects bad options with typed errors naming what was wrong', async () => {
    await expect(startGateway({ upstreams: [] })).rejects.toThrow(RangeError);
    await expect(startGateway({ upstreams: { a: 'not a url' } })).rejects.toThrow(/upstream a/);
    await expect(startGateway({ upstreams: { a: 'ftp://127.0.0.1/' } })).rejects.toThrow(RangeError);
    await expect(
      startGateway({
        upstreams: [
          { name: 'a', url: 'http://127.0.0.1:1' },
          { name: 'a', url: 'http://127.0.0.1:2' },
        ],
      }),
    ).rejects.toThrow(/used twice/);
    await expect(startGateway({ upstreams: { a: 'http://127.0.0.1:1' }, port: 70000 })).rejects.toThrow(
      RangeError,
    );
    await expect(
      startGateway({ upstreams: { a: 'http://127.0.0.1:1' }, client: 'curl' as 'undici' }),
    ).rejects.toThrow(/client must be/);
    await expect(startGateway({ upstreams: { a: 'http://127.0.0.1:1' }, timeoutMs: 0 })).rejects.toThrow(
      RangeError,
    );
  });
});
