// hiper end to end: the built CLI (dist/cli.js) run as a user runs it.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultAdapter } from '../src/adapters.js';
import { type DemoServer, startDemoServer } from '../src/demo-server.js';
import type { Summary } from '../src/stats/summary.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function hiper(args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe.each(['libuv', 'epoll'])('hiper --adapter %s', (adapter) => {
  it(`${adapter}: the demo's summary matches what the embedded server counted`, async () => {
    const run = await hiper(['--json', '--requests', '2000', '--concurrency', '32', '--adapter', adapter]);
    expect(run.stderr).toBe(''); // not a TTY and too short for a progress line
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout) as Summary;
    expect(summary.adapter).toBe(adapter);
    expect(summary).toMatchObject({
      requests: 2000,
      ok: 2000,
      failed: 0,
      errors: {},
      statuses: { 200: 2000 },
    });
    expect(summary.server).toBeDefined();
    expect(summary.server!.requests).toBe(summary.requests);
    expect(summary.server!.bodyBytes).toBe(summary.bytes);
    // 1998 small bodies and two 1 MiB ones.
    expect(summary.bytes).toBe(1998 * 12 + 2 * 1024 * 1024);
    // Keep-alive: about one connection per request in flight, not one per request.
    expect(summary.connectionsOpened).toBeGreaterThanOrEqual(1);
    expect(summary.connectionsOpened).toBeLessThanOrEqual(32);
    expect(summary.requestsPerSecond).toBeGreaterThan(0);
    expect(summary.latencyMs.p50).toBeLessThanOrEqual(summary.latencyMs.p90);
    expect(summary.latencyMs.p90).toBeLessThanOrEqual(summary.latencyMs.p99);
    expect(summary.latencyMs.p99).toBeLessThanOrEqual(summary.latencyMs.max);
  });
});

describe('hiper with URLs', () => {
  let server: DemoServer;
  let dir: string;
  beforeAll(async () => {
    server = await startDemoServer();
    dir = await mkdtemp(join(tmpdir(), 'hiper-test-'));
  });
  afterAll(async () => {
    server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('fetches the URLs of --file in turn and prints the table', async () => {
    const file = join(dir, 'urls.txt');
    await writeFile(file, `# two URLs\n${server.url}/small\n\n${server.url}/missing  # a 404\n`);
    const before = server.counts.requests;
    const run = await hiper(['--file', file, '--requests', '100', '-c', '8', '--quiet']);
    expect(run.code).toBe(0);
    expect(server.counts.requests - before).toBe(100);
    expect(run.stdout).toMatch(
      new RegExp(`^hiper: 100 requests to 2 URLs, 8 in flight, ${defaultAdapter()} adapter$`, 'm'),
    );
    expect(run.stdout).toMatch(/statuses\s+200 50, 404 50/);
    expect(run.stdout).toMatch(/latency p99\s+[\d.]+ ms/);
    expect(run.stdout).toMatch(/connections\s+\d+ opened/);
  });

  it('counts failures by libcurl code name and exits 1', async () => {
    // A port nothing listens on: bound, then closed.
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as net.AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const run = await hiper([`http://127.0.0.1:${port}/`, '-n', '5', '--json', '--adapter', 'epoll']);
    expect(run.code).toBe(1);
    const summary = JSON.parse(run.stdout) as Summary;
    expect(summary).toMatchObject({ requests: 5, failed: 5, errors: { CURLE_COULDNT_CONNECT: 5 } });
  });
});

describe('hiper arguments', () => {
  it.each([
    [['--concurrency', '0'], /--concurrency must be a positive integer/],
    [['--requests', 'many'], /--requests must be a positive integer/],
    [['--adapter', 'select'], /--adapter must be one of libuv, epoll, kqueue/],
    [['--no-such-flag'], /Unknown option '--no-such-flag'/],
    [['ftp://127.0.0.1/x'], /only http:\/\/ and https:\/\//],
    [['not a url'], /not a URL/],
    [['--file', '/nonexistent/urls.txt'], /cannot read --file/],
    [['--http2'], /embedded demo server speaks HTTP\/1.1/],
  ])('%j exits 2 with the reason and the usage on stderr', async (args, reason) => {
    const run = await hiper(args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(reason);
    expect(run.stderr).toMatch(/^usage: hiper/m);
  });

  it.runIf(process.platform === 'linux')(
    '--adapter kqueue on Linux says to use epoll and exits 2',
    async () => {
      const run = await hiper(['--adapter', 'kqueue']);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/kqueue is the macOS\/BSD event interface.*use --adapter epoll/);
    },
  );

  it('--help prints the usage on stdout and exits 0', async () => {
    const run = await hiper(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^usage: hiper \[URL \.\.\. \| --file urls\.txt\]/);
  });
});
