// The Client against nginx from Debian, compared byte for byte with what the curl CLI fetches
// from the same server: HTTP/1.1, TLS with HTTP/1.1 and h2, h2c, gzip (decoded and raw),
// chunked, redirect chains and loops, keepalive_requests, limit_rate and large files, on every
// loop adapter (EpollReactor through testkit's reactor driver).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, type HttpVersion, type RequestOptions, type Response } from '@multisock/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CertificateSet,
  findNginx,
  makeCertificates,
  type NginxServer,
  startNginx,
} from '../src/index.js';
import { builtAdapters } from './support/adapters.js';

const adapters = await builtAdapters({ reactor: true });
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const LARGE = 32 * 1024 * 1024;
const RATE = 512 * 1024; // limit_rate, bytes per second

let certs: CertificateSet;
let nginx: NginxServer;
let scratch: string;

beforeAll(async () => {
  if (findNginx() === null) throw new Error('nginx is not installed: run scripts/setup.sh');
  certs = await makeCertificates();
  nginx = await startNginx({ certs, keepaliveRequests: 100, limitRate: RATE, largeBytes: LARGE });
  scratch = await mkdtemp(join(tmpdir(), 'multisock-interop-'));
});

afterAll(async () => {
  await nginx?.close();
  await certs?.cleanup();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** What the curl CLI got: exit code, status, HTTP version, redirects, last URL, body. */
interface Fetched {
  exit: number;
  status: number;
  httpVersion: string;
  redirects: number;
  url: string;
  /** Where a redirect not followed points (%{redirect_url}), or ''. */
  location: string;
  body: Buffer;
}

let curlRuns = 0;
/** Runs the curl CLI (no .curlrc, no proxy) and reads back what it fetched. */
async function curl(args: string[]): Promise<Fetched> {
  const out = join(scratch, `body-${curlRuns++}`);
  const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(
      'curl',
      [
        '-q',
        '-sS',
        '--noproxy',
        '*',
        '--cacert',
        certs.caCertPath,
        '-o',
        out,
        '-w',
        '%{http_code} %{http_version} %{num_redirects} %{url_effective} %{redirect_url}',
        ...args,
      ],
      { timeout: 60_000, maxBuffer: 1024 * 1024 },
      (error, stdout) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? -1) : 0, stdout }),
    );
  });
  const [status, httpVersion, redirects, url, location] = stdout.split(' ');
  const body = await readFile(out).catch(() => Buffer.alloc(0));
  await rm(out, { force: true });
  return {
    exit: code,
    status: Number(status),
    httpVersion: httpVersion!,
    redirects: Number(redirects),
    url: url!,
    location: location ?? '',
    body,
  };
}

/**
 * curl -L, hop by hop: one curl run per request. The curl CLI 7.88.x cannot follow a redirect
 * over h2c itself: it reuses the connection, which those libcurl versions fail with CURLE_HTTP2
 * (16, curl issue 10634), so -L over h2c exits 16 there. Exit 47 past `maxRedirs`, as curl.
 */
async function curlFollow(args: string[], url: string, maxRedirs = 10): Promise<Fetched> {
  let fetched = await curl([...args, url]);
  for (let hops = 0; fetched.exit === 0 && fetched.location !== ''; hops++) {
    if (hops === maxRedirs) return { ...fetched, exit: 47 };
    fetched = { ...(await curl([...args, fetched.location])), redirects: hops + 1 };
  }
  return fetched;
}

interface Protocol {
  name: string;
  base: () => string;
  httpVersion: HttpVersion;
  curl: string[];
  /** Response.httpVersion expected. */
  version: string;
}

const PROTOCOLS: Protocol[] = [
  { name: 'HTTP/1.1', base: () => nginx.http, httpVersion: '1.1', curl: ['--http1.1'], version: '1.1' },
  { name: 'TLS HTTP/1.1', base: () => nginx.https, httpVersion: '1.1', curl: ['--http1.1'], version: '1.1' },
  { name: 'TLS h2', base: () => nginx.https, httpVersion: '2', curl: ['--http2'], version: '2' },
  { name: 'h2c', base: () => nginx.h2c, httpVersion: 'h2c', curl: ['--http2-prior-knowledge'], version: '2' },
];

interface Case {
  name: string;
  path: string;
  options?: RequestOptions;
  curl: string[];
  /** Extra checks on the Client's response. */
  check?: (res: Response, p: Protocol) => void;
}

const CASES: Case[] = [
  { name: 'a small file', path: '/small.txt', curl: [] },
  { name: 'an empty file', path: '/empty.txt', curl: [] },
  { name: 'a 1 MiB file', path: '/pattern.bin', curl: [] },
  {
    name: 'a 32 MiB file',
    path: '/large.bin',
    curl: [],
    check: (res) => expect(res.headers.get('content-length')).toBe(String(LARGE)),
  },
  { name: '404', path: '/status/404', curl: [] },
  { name: '204', path: '/status/204', curl: [] },
  {
    name: 'gzip, decoded',
    path: '/gzip/text.txt',
    curl: ['--compressed'],
    check: (res) => {
      expect(res.headers.get('content-encoding')).toBe('gzip');
      expect(res.body.equals(nginx.files.get('/text.txt')!)).toBe(true);
    },
  },
  {
    name: 'gzip, raw',
    path: '/gzip/text.txt',
    options: { decompress: false, headers: { 'accept-encoding': 'gzip' } },
    curl: ['-H', 'Accept-Encoding: gzip'],
    check: (res) => expect(res.headers.get('content-encoding')).toBe('gzip'),
  },
  {
    name: 'chunked',
    path: '/chunked/text.txt',
    curl: [],
    check: (res, p) => {
      expect(res.headers.get('content-length')).toBeNull();
      if (p.version === '1.1') expect(res.headers.get('transfer-encoding')).toBe('chunked');
      expect(res.body.equals(nginx.files.get('/text.txt')!)).toBe(true);
    },
  },
  {
    name: 'a redirect chain (301, 308, 307, 303, 302)',
    path: '/redirect/5',
    curl: ['-L'],
    check: (res) => {
      expect(res.redirects).toBe(5);
      expect(new URL(res.url).pathname).toBe('/redirect/0');
    },
  },
  { name: 'an absolute redirect', path: '/redirect/absolute', curl: ['-L'] },
  {
    name: 'a redirect not followed',
    path: '/redirect/2',
    options: { followRedirects: false },
    curl: [],
    check: (res) => expect(new URL(res.headers.get('location')!).pathname).toBe('/redirect/1'),
  },
];

/** curl's fetch of each case, once for all adapters. */
const reference = new Map<string, Promise<Fetched>>();
function fetchedByCurl(p: Protocol, c: Case): Promise<Fetched> {
  const key = `${p.name} ${c.name}`;
  let fetched = reference.get(key);
  if (fetched === undefined) {
    const url = `${p.base()}${c.path}`;
    fetched =
      p.httpVersion === 'h2c' && c.curl.includes('-L')
        ? curlFollow([...p.curl, ...c.curl.filter((a) => a !== '-L')], url)
        : curl([...p.curl, ...c.curl, url]);
    reference.set(key, fetched);
  }
  return fetched;
}

describe.each(adapters)('nginx interop over $name', ({ name, adapter }) => {
  describe.each(PROTOCOLS)(`${name} $name`, (p) => {
    let client: Client;
    beforeAll(() => {
      client = new Client({ loop: adapter, httpVersion: p.httpVersion, ca: certs.caCert, timeout: 30_000 });
    });
    afterAll(() => client?.close());

    it.each(CASES)(`${name} ${p.name}: $name is what curl fetches`, async (c) => {
      const [res, ref] = await Promise.all([
        client.request(`${p.base()}${c.path}`, c.options),
        fetchedByCurl(p, c),
      ]);
      expect(ref.exit).toBe(0);
      expect({ status: res.status, redirects: res.redirects, url: res.url }).toEqual({
        status: ref.status,
        redirects: ref.redirects,
        url: ref.url,
      });
      expect(res.httpVersion).toBe(p.version);
      expect(ref.httpVersion).toBe(p.version);
      expect(res.body.length).toBe(ref.body.length);
      expect(sha256(res.body)).toBe(sha256(ref.body));
      c.check?.(res, p);
    });

    it(`${name} ${p.name}: a redirect loop fails as curl's does (too many redirects, 47)`, async () => {
      const url = `${p.base()}/loop/a`;
      const ref =
        p.httpVersion === 'h2c'
          ? await curlFollow(p.curl, url)
          : await curl([...p.curl, '-L', '--max-redirs', '10', url]);
      expect(ref.exit).toBe(47);
      await expect(client.request(`${p.base()}/loop/a`)).rejects.toMatchObject({
        code: 47,
        codeName: 'CURLE_TOO_MANY_REDIRECTS',
      });
    });

    it(`${name} ${p.name}: 250 requests on a server closing connections after 100 use 3 of them`, async () => {
      // A fresh Client: its first request opens a connection, nginx ends each after 100.
      const own = new Client({
        loop: adapter,
        httpVersion: p.httpVersion,
        ca: certs.caCert,
        timeout: 30_000,
      });
      const before = (await nginx.log()).length;
      let opened = 0;
      try {
        for (let i = 0; i < 250; i++) {
          const res = await own.request(`${p.base()}/small.txt`);
          expect(res.status).toBe(200);
          opened += res.connectionsOpened;
        }
      } finally {
        await own.close();
      }
      const log = (await nginx.log()).slice(before).filter((l) => l.port === Number(new URL(p.base()).port));
      const connections = new Set(log.map((l) => l.connection)).size;
      expect(log.length).toBe(250);
      expect(Math.max(...log.map((l) => l.connectionRequests))).toBeLessThanOrEqual(100);
      // h2c on libcurl 7.88 uses a connection per request (curl issue 10634).
      if (connections !== 250) expect(connections).toBe(3);
      expect(opened).toBe(connections);
    });

    it(`${name} ${p.name}: limit_rate paces the body, which arrives whole`, async () => {
      const started = performance.now();
      const res = await client.request(`${p.base()}/slow/pattern.bin`);
      const seconds = (performance.now() - started) / 1000;
      expect(res.body.equals(nginx.files.get('/pattern.bin')!)).toBe(true);
      // 1 MiB at 512 KiB/s: nginx lets a second's worth go at once, then keeps to the rate.
      expect(seconds).toBeGreaterThan(0.5);
      expect(seconds).toBeLessThan(10);
    });

    it(`${name} ${p.name}: a 32 MiB body streamed to a slow reader is curl's, in bounded memory`, async () => {
      const ref = await fetchedByCurl(p, CASES.find((c) => c.path === '/large.bin')!);
      const res = await client.stream(`${p.base()}/large.bin`, { highWaterMark: 256 * 1024 });
      const hash = createHash('sha256');
      let length = 0;
      let chunks = 0;
      let maxBuffered = 0;
      for await (const chunk of res.body) {
        hash.update(chunk as Buffer);
        length += (chunk as Buffer).length;
        maxBuffered = Math.max(maxBuffered, res.body.readableLength);
        if (++chunks % 256 === 0) await sleep(1);
      }
      expect(length).toBe(ref.body.length);
      expect(hash.digest('hex')).toBe(sha256(ref.body));
      expect(maxBuffered).toBeLessThanOrEqual(1024 * 1024);
    });
  });
});
