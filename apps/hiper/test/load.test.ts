// Load modes (-z, --rate with a server-wide stall, --warmup), the output (--json, the tables,
// the histogram, -w, --results, -s) and graceful stops, against real servers.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startHttpServer, type TestServer } from '@multisock/testkit/servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hiper, resultsOf, startServerProcess, summaryOf, tempDir } from './helpers.js';

let http: TestServer;
let tmp: { dir: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  http = await startHttpServer({ countConnections: false });
  tmp = await tempDir();
});
afterAll(async () => {
  await http?.close();
  await tmp?.cleanup();
});

describe('load modes', () => {
  it('-z runs for the time given, cycling the URLs; the server counted every request', async () => {
    const before = http.requests;
    const run = await hiper([
      `${http.url}/small`,
      `${http.url}/bytes/100`,
      '-z',
      '1s',
      '-c',
      '8',
      '--json',
      '-q',
    ]);
    expect(run.code).toBe(0);
    const s = summaryOf(run);
    expect(s.mode).toBe('duration');
    expect(s.requests).toBeGreaterThan(100);
    expect(s.durationMs).toBeGreaterThanOrEqual(1000);
    // The last requests drain after the second is up (slower on a busy machine).
    expect(s.durationMs).toBeLessThan(2500);
    expect(http.requests - before).toBe(s.requests);
    expect(Math.abs(s.statuses[200]! - s.requests)).toBe(0);
  });

  it('--warmup: its requests are made but left out of every figure', async () => {
    const before = http.requests;
    const results = join(tmp.dir, 'warm.jsonl');
    const run = await hiper([
      `${http.url}/small`,
      '--warmup',
      '500ms',
      '-n',
      '200',
      '-c',
      '4',
      '--results',
      results,
      '--json',
      '-q',
    ]);
    const s = summaryOf(run);
    expect(s.requests).toBe(200);
    expect(s.warmupRequests).toBeGreaterThan(0);
    expect(http.requests - before).toBe(200 + s.warmupRequests);
    expect(resultsOf(await readFile(results, 'utf8'))).toHaveLength(200);
    expect(s.durationMs).toBeLessThan(run.ms - 400);
  });

  it('--rate holds within 5% over 3 s while the whole server stalls for 1 s, and the stall shows in the latencies', async () => {
    const server = await startServerProcess();
    try {
      const run = await hiper([`${server.url}/small`, '--rate', '200', '-z', '3s', '--json', '-q'], {
        started: () => {
          // One second in, the server process stops dead for one second: a GC pause, a swap storm.
          setTimeout(() => {
            process.kill(server.pid, 'SIGSTOP');
            setTimeout(() => process.kill(server.pid, 'SIGCONT'), 1000);
          }, 1000);
        },
      });
      expect(run.code, run.stderr).toBe(0);
      const s = summaryOf(run);
      expect(s.mode).toBe('rate');
      // 600 requests due in 3 s, started on time whatever the server did.
      expect(s.requests).toBeGreaterThanOrEqual(570);
      expect(s.requests).toBeLessThanOrEqual(630);
      expect(s.rate!.achieved).toBeGreaterThanOrEqual(190);
      expect(s.rate!.achieved).toBeLessThanOrEqual(210);
      expect(s.ok).toBe(s.requests);
      expect(await server.requests()).toBe(s.requests);
      // A third of the requests were due during the stall: each waited for it, counted from when
      // it was due. A closed loop would have shown one slow request per connection instead.
      expect(s.latencyMs.p50).toBeLessThan(100);
      expect(s.latencyMs.p90).toBeGreaterThan(300);
      expect(s.latencyMs.p99).toBeGreaterThan(800);
      expect(s.latencyMs.max).toBeGreaterThan(900);
      expect(s.latencyMs.max).toBeLessThan(1500);
    } finally {
      await server.close();
    }
  });

  it('--rate with -n: that many requests at that pace', async () => {
    const run = await hiper([`${http.url}/small`, '--rate', '100', '-n', '50', '--json', '-q']);
    const s = summaryOf(run);
    expect(s.requests).toBe(50);
    // 50 starts 10 ms apart: 0.49 s from the first to the last.
    expect(s.durationMs).toBeGreaterThanOrEqual(480);
    expect(s.durationMs).toBeLessThan(900);
  });
});

describe('output', () => {
  it('--json follows the documented schema', async () => {
    const run = await hiper([`${http.url}/small`, '-n', '20', '--json', '-q']);
    const s = summaryOf(run);
    expect(Object.keys(s).sort()).toEqual(
      [
        'version',
        'adapter',
        'mode',
        'urls',
        'concurrency',
        'rate',
        'requests',
        'ok',
        'failed',
        'cancelled',
        'skipped',
        'retries',
        'errors',
        'statuses',
        'hosts',
        'failedUrls',
        'durationMs',
        'requestsPerSecond',
        'bytes',
        'mibPerSecond',
        'latencyMs',
        'histogram',
        'connectionsOpened',
        'savedFiles',
        'warmupRequests',
        'stoppedBy',
      ].sort(),
    );
    expect(s).toMatchObject({ version: 1, mode: 'count', requests: 20, rate: null, stoppedBy: null });
    expect(Object.keys(s.latencyMs)).toEqual(['min', 'mean', 'p50', 'p90', 'p99', 'p999', 'max']);
    const { min, p50, p90, p99, p999, max } = s.latencyMs;
    expect(min).toBeGreaterThan(0);
    expect([min, p50, p90, p99, p999, max]).toEqual([min, p50, p90, p99, p999, max].sort((a, b) => a - b));
    expect(s.histogram.reduce((n, b) => n + b.count, 0)).toBe(20);
    expect(s.hosts[`127.0.0.1:${http.port}`]).toMatchObject({ requests: 20, failed: 0, bytes: 240 });
  });

  it('the table has the per-status and per-host tables and the latency histogram', async () => {
    const run = await hiper([
      `${http.url}/small`,
      `${http.url}/status/404`,
      `http://hiper-b.test:${http.port}/small`,
      '--resolve',
      `hiper-b.test:${http.port}:127.0.0.1`,
      '-n',
      '30',
      '-q',
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /^statuses:\n {2}status\s+requests\s+share\n {2}200\s+20\s+66\.7%\n {2}404\s+10\s+33\.3%$/m,
    );
    expect(run.stdout).toMatch(new RegExp(`^ {2}127\\.0\\.0\\.1:${http.port}\\s+20\\s+0\\s+`, 'm'));
    expect(run.stdout).toMatch(new RegExp(`^ {2}hiper-b\\.test:${http.port}\\s+10\\s+0\\s+`, 'm'));
    expect(run.stdout).toMatch(/^latency:\n( {2}.+ ms - .+ ms {2}█+ *[\d,]+\n?)+/m);
    expect(run.stdout).toMatch(/latency p99\.9\s+[\d.]+ ms/);
  });

  it("-w prints curl's variables after each request; the summary then goes to stderr", async () => {
    const run = await hiper([
      `${http.url}/small`,
      `${http.url}/status/404`,
      '-c',
      '1',
      '-w',
      '%{urlnum} %{http_code} %{size_download} %{content_type} %header{content-length} %{num_connects} t=%{time_total} c=%{time_connect}\\n',
    ]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^0 200 12 text\/plain 12 1 t=0\.\d{6} c=0\.\d{6}$/);
    expect(lines[1]).toMatch(/^1 404 11 text\/plain 11 0 t=0\.\d{6} c=0\.\d{6}$/);
    expect(Number(/c=([\d.]+)/.exec(lines[0]!)![1])).toBeGreaterThan(0);
    expect(run.stderr).toMatch(/^hiper: 2 requests to 2 URLs/m);
    const json = await hiper([`${http.url}/small`, '-w', '%{json}', '-q']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      url: `${http.url}/small`,
      status: 200,
      bytes: 12,
      ok: true,
    });
  });

  it('--results has one JSON line per request; -s prints nothing at all', async () => {
    const results = join(tmp.dir, 'all.jsonl');
    const run = await hiper([
      `${http.url}/small`,
      `${http.url}/nope`,
      '-n',
      '10',
      '--results',
      results,
      '-s',
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe('');
    const lines = resultsOf(await readFile(results, 'utf8'));
    expect(lines).toHaveLength(10);
    expect(lines.filter((l) => l.status === 404)).toHaveLength(5);
    for (const l of lines) {
      expect(Object.keys(l)).toEqual(
        expect.arrayContaining(['url', 'status', 'bytes', 'timeMs', 'error', 'retries', 'output', 'ok']),
      );
      expect(l.timeMs).toBeGreaterThan(0);
    }
  });

  it('-v prints a line per request on stderr', async () => {
    const run = await hiper([`${http.url}/small`, '-v', '-q', '--json']);
    expect(run.stderr).toMatch(new RegExp(`^< 200 {2}${http.url}/small {2}12 B {2}[\\d.]+ ms$`, 'm'));
  });
});

describe('stopping', () => {
  it('Ctrl-C in a timed run: stops starting, exits 130 with the summary', async () => {
    const run = await hiper([`${http.url}/small`, '-z', '30s', '-c', '4', '--json', '-q'], {
      started: (child) => setTimeout(() => child.kill('SIGINT'), 1000),
    });
    expect(run.code).toBe(130);
    expect(run.ms).toBeLessThan(5000);
    const s = summaryOf(run);
    expect(s.stoppedBy).toBe('SIGINT');
    expect(s.requests).toBeGreaterThan(0);
    expect(s.cancelled).toBe(0);
  });

  it('the grace period lets a request in flight finish; past it the request is cancelled', async () => {
    const finishes = await hiper([`${http.url}/slow/1500`, '--grace', '5s', '--json', '-q'], {
      started: (child) => setTimeout(() => child.kill('SIGTERM'), 500),
    });
    expect(finishes.code).toBe(143);
    expect(summaryOf(finishes)).toMatchObject({ ok: 1, cancelled: 0, statuses: { 200: 1 } });
    const cut = await hiper([`${http.url}/slow/5000`, '--grace', '200ms', '--json', '-q'], {
      started: (child) => setTimeout(() => child.kill('SIGINT'), 500),
    });
    expect(cut.code).toBe(130);
    expect(cut.ms).toBeLessThan(3000);
    expect(summaryOf(cut)).toMatchObject({ ok: 0, failed: 0, cancelled: 1 });
  });

  it('a second Ctrl-C does not wait for the grace period', async () => {
    const run = await hiper([`${http.url}/slow/5000`, '--grace', '30s', '--json', '-q'], {
      started: (child) => {
        setTimeout(() => child.kill('SIGINT'), 500);
        setTimeout(() => child.kill('SIGINT'), 800);
      },
    });
    expect(run.code).toBe(130);
    expect(run.ms).toBeLessThan(3000);
    expect(summaryOf(run).cancelled).toBe(1);
  });
});
