// hiper worker, enqueue and results against a real redis-server (test/redis-server.ts) and the
// testkit's uWS server, every process on 127.0.0.1 with ports chosen at run time.
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EchoReply } from '@multisock/testkit/servers';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, hiper, type Run, startServerProcess, tempDir, until } from './helpers.js';
import { type RedisServer, startRedis } from './redis-server.js';

interface Record {
  id: string;
  url: string;
  ok: boolean;
  status: number | null;
  bytes: number;
  attempt: number;
  worker: string;
  output: string | null;
  error: { name: string } | null;
}

const lines = <T>(text: string): T[] =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);

/** A worker started in the background: its child, and its run once it has exited. */
function startWorker(args: string[]): { child: Promise<ChildProcess>; done: Promise<Run> } {
  let started: (c: ChildProcess) => void = () => {};
  const child = new Promise<ChildProcess>((resolve) => (started = resolve));
  const done = hiper(['worker', ...args], { timeoutMs: 120_000, started });
  return { child, done };
}

let redis: RedisServer;
let server: Awaited<ReturnType<typeof startServerProcess>>;
const workers: Array<Promise<ChildProcess>> = [];

beforeAll(async () => {
  [redis, server] = await Promise.all([startRedis(), startServerProcess()]);
});
afterEach(async () => {
  for (const w of workers.splice(0)) (await w).kill('SIGKILL');
});
afterAll(async () => {
  await redis?.close();
  await server?.close();
});

/** Jobs of `stream` delivered and not yet acknowledged (0 before the group exists). */
async function pending(stream: string): Promise<number> {
  try {
    return ((await redis.client.xpending(stream, 'hiper')) as [number])[0];
  } catch {
    return 0;
  }
}

function worker(args: string[]) {
  const w = startWorker(args);
  workers.push(w.child);
  return w;
}

describe('hiper worker mode', () => {
  it('runs enqueued jobs with their method, headers, body and file; results and dead letters print as JSON Lines', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const q = redis.queue('basic');
      const refused = await closedPort();
      const file = join(dir, 'jobs.txt');
      await writeFile(
        file,
        [
          '# plain URLs and JSON jobs',
          `${server.url}/small`,
          JSON.stringify({
            id: 'post-1',
            url: `${server.url}/echo`,
            method: 'POST',
            headers: { 'X-Job': 'one' },
            body: 'payload',
            output: 'echo.json',
          }),
          JSON.stringify({ id: 'file-1', url: `${server.url}/bytes/1000`, output: 'saved/b.bin' }),
          JSON.stringify({ id: 'refused-1', url: `http://127.0.0.1:${refused}/x` }),
        ].join('\n'),
      );
      const added = await hiper(['enqueue', '--queue', q, '-f', file]);
      expect(added.code).toBe(0);
      const jobs = lines<{ id: string; url: string }>(added.stdout);
      expect(jobs.map((j) => j.id).slice(1)).toEqual(['post-1', 'file-1', 'refused-1']);
      expect(added.stderr).toMatch(/4 jobs added to basic/);

      const w = worker([
        '--queue',
        q,
        '-c',
        '4',
        '--max-attempts',
        '2',
        '--output-dir',
        join(dir, 'out'),
        '--create-dirs',
        '-H',
        'X-Worker: w',
      ]);
      await until(async () => (await redis.client.xlen('basic:results')) === 4, 20_000);
      (await w.child).kill('SIGTERM');
      const run = await w.done;
      expect(run.code).toBe(143);
      expect(run.stderr).toMatch(
        /4 jobs done \(3 ok, 1 failed, 1 to the dead letters\), 1 failed tries put back/,
      );

      const printed = await hiper(['results', '--queue', q]);
      expect(printed.code).toBe(0);
      const results = lines<Record>(printed.stdout);
      expect(results.map((r) => r.id).sort()).toEqual(jobs.map((j) => j.id).sort());
      const byId = new Map(results.map((r) => [r.id, r]));
      expect(byId.get(jobs[0]!.id)).toMatchObject({
        ok: true,
        status: 200,
        url: `${server.url}/small`,
        attempt: 1,
      });
      expect(byId.get('file-1')).toMatchObject({
        ok: true,
        bytes: 1000,
        output: join(dir, 'out', 'saved/b.bin'),
      });
      expect((await readFile(join(dir, 'out', 'saved/b.bin'))).length).toBe(1000);
      expect(byId.get('refused-1')).toMatchObject({
        ok: false,
        attempt: 2,
        error: { name: 'CURLE_COULDNT_CONNECT' },
      });
      // The echo route answers with what it got: the job's method, body and header, and the
      // worker's -H.
      expect(byId.get('post-1')).toMatchObject({ ok: true, status: 200 });
      const echo = JSON.parse(await readFile(join(dir, 'out', 'echo.json'), 'utf8')) as EchoReply;
      expect(echo).toMatchObject({
        method: 'POST',
        bodyLength: 7,
        bodySha256: createHash('sha256').update('payload').digest('hex'),
      });
      expect(echo.headers).toMatchObject({ 'x-job': 'one', 'x-worker': 'w' });

      const dead = await hiper(['results', '--queue', q, '--dead']);
      expect(lines<{ id: string; attempts: number; error: { name: string } }>(dead.stdout)).toEqual([
        expect.objectContaining({
          id: 'refused-1',
          attempts: 2,
          error: expect.objectContaining({ name: 'CURLE_COULDNT_CONNECT' }),
        }),
      ]);
      // Nothing left pending.
      expect(await pending('basic')).toBe(0);
    } finally {
      await cleanup();
    }
  });

  it('a stop leaves jobs in flight pending and unacknowledged; another worker claims them after --claim-idle', async () => {
    const q = redis.queue('stop');
    const added = await hiper([
      'enqueue',
      '--queue',
      q,
      `${server.url}/slow/3000`,
      `${server.url}/slow/3000`,
      `${server.url}/small`,
    ]);
    expect(added.code).toBe(0);
    const first = worker(['--queue', q, '--consumer', 'first', '-c', '2', '--grace', '200ms']);
    // Both slow jobs are in flight.
    await until(async () => (await pending('stop')) === 2, 10_000);
    (await first.child).kill('SIGINT');
    const stopped = await first.done;
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toMatch(/0 jobs done .* 2 left pending/);
    expect(await redis.client.xlen('stop:results')).toBe(0);
    expect(await pending('stop')).toBe(2);

    const second = worker(['--queue', q, '--consumer', 'second', '-c', '4', '--claim-idle', '500ms']);
    await until(async () => (await redis.client.xlen('stop:results')) === 3, 20_000);
    (await second.child).kill('SIGTERM');
    const run = await second.done;
    expect(run.stderr).toMatch(/3 jobs done \(3 ok.* 2 claimed from other workers/);
    const results = lines<Record>((await hiper(['results', '--queue', q])).stdout);
    expect(new Set(results.map((r) => r.id))).toEqual(
      new Set(lines<{ id: string }>(added.stdout).map((j) => j.id)),
    );
    expect(results.every((r) => r.ok && r.worker === 'second')).toBe(true);
  });

  it('results --follow prints results as they come', async () => {
    const q = redis.queue('follow');
    let child: ChildProcess | null = null;
    let out = '';
    const following = hiper(['results', '--queue', q, '--follow'], {
      started: (c) => {
        child = c;
        c.stdout!.on('data', (s: string) => (out += s));
      },
    });
    const w = worker(['--queue', q]);
    await hiper(['enqueue', '--queue', q, `${server.url}/small`, `${server.url}/small`]);
    await until(() => out.split('\n').length === 3, 20_000);
    child!.kill('SIGINT');
    expect((await following).code).toBe(0);
    expect(lines<Record>(out).map((r) => r.ok)).toEqual([true, true]);
    (await w.child).kill('SIGTERM');
    await w.done;
  });

  it('three workers share 20,000 jobs through a SIGKILL of one and a Redis restart: one result per job, none lost', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const q = redis.queue('many');
      const refused = await closedPort();
      const urls = Array.from({ length: 20_000 }, (_, i) => `${server.url}/small?job=${i}`);
      const failing = Array.from({ length: 5 }, (_, i) => `http://127.0.0.1:${refused}/gone?job=${i}`);
      // The failing jobs spread through the list.
      failing.forEach((url, i) => {
        urls.splice(i * 4000 + 2000, 0, url);
      });
      const file = join(dir, 'urls.txt');
      await writeFile(file, `${urls.join('\n')}\n`);
      const requestsBefore = await server.requests();
      const ws = ['a', 'b', 'c'].map((name) =>
        worker([
          '--queue',
          q,
          '--consumer',
          name,
          '-c',
          '32',
          '--claim-idle',
          '2s',
          '--max-attempts',
          '2',
          '-q',
        ]),
      );
      const added = await hiper(['enqueue', '--queue', q, '-f', file]);
      expect(added.code).toBe(0);
      const jobs = lines<{ id: string; url: string }>(added.stdout);
      expect(jobs).toHaveLength(20_005);

      // Midway, worker a dies with jobs in flight: nothing of it is acknowledged.
      const pendingOf = async (name: string) => {
        const consumers = (await redis.client.xinfo('CONSUMERS', 'many', 'hiper')) as Array<
          Array<string | number>
        >;
        return (consumers.find((c) => c[1] === name)?.[3] ?? 0) as number;
      };
      // Stopped first, so what it holds cannot change between the look and the kill (a running
      // worker may have acknowledged everything it held just then).
      const a = await ws[0]!.child;
      await until(async () => {
        if ((await redis.client.xlen('many:results')) < 4000) return false;
        a.kill('SIGSTOP');
        if ((await pendingOf('a')) > 0) return true;
        a.kill('SIGCONT');
        return false;
      }, 30_000);
      a.kill('SIGKILL');
      const killed = await ws[0]!.done;
      expect(killed.signal).toBe('SIGKILL');
      // Read before --claim-idle has passed: what a held when it died.
      const pendingOfA = await pendingOf('a');
      expect(pendingOfA).toBeGreaterThan(0);

      // Later, Redis itself is killed and started again: the append-only file brings back the
      // streams, the group and its pending list.
      await until(async () => (await redis.client.xlen('many:results')) >= 10_000, 30_000);
      await redis.restart();

      // Every job has a result, and nothing is pending any more.
      await until(async () => {
        if ((await redis.client.xlen('many:results')) < jobs.length) return false;
        return (await pending('many')) === 0;
      }, 45_000);
      for (const w of ws.slice(1)) (await w.child).kill('SIGTERM');
      const survivors = await Promise.all(ws.slice(1).map((w) => w.done));
      for (const run of survivors) {
        expect(run.code).toBe(143);
        // The restart was survived, and said so.
        expect(run.stderr).toMatch(/reconnecting/);
        expect(run.stderr).toMatch(/connected again/);
      }
      // The jobs worker a left behind were claimed by the living ones.
      const claimed = survivors.map((r) =>
        Number(/([\d,]+) claimed from other workers/.exec(r.stderr)![1]!.replace(/,/g, '')),
      );
      expect(claimed.reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(pendingOfA);

      const printed = await hiper(['results', '--queue', q], { timeoutMs: 60_000 });
      expect(printed.code).toBe(0);
      const results = lines<Record>(printed.stdout);
      // Deduplicated by id, as a consumer of the results does: exactly one per job.
      const byId = new Map<string, Record>();
      for (const r of results) if (!byId.has(r.id)) byId.set(r.id, r);
      expect(byId.size).toBe(jobs.length);
      for (const job of jobs) expect(byId.get(job.id)?.url).toBe(job.url);
      const failingIds = new Set(jobs.filter((j) => failing.includes(j.url)).map((j) => j.id));
      for (const [id, r] of byId) {
        if (failingIds.has(id))
          expect(r).toMatchObject({ ok: false, attempt: 2, error: { name: 'CURLE_COULDNT_CONNECT' } });
        else expect(r).toMatchObject({ ok: true, status: 200 });
      }
      expect(new Set([...byId.values()].map((r) => r.worker))).toEqual(new Set(['a', 'b', 'c']));
      // Dead letters only for the jobs whose URL fails.
      const dead = lines<{ id: string; attempts: number }>(
        (await hiper(['results', '--queue', q, '--dead'])).stdout,
      );
      expect(new Set(dead.map((d) => d.id))).toEqual(failingIds);
      expect(dead.every((d) => d.attempts === 2)).toBe(true);
      // At least once: each job's request was made, some (those of worker a) twice.
      expect((await server.requests()) - requestsBefore).toBeGreaterThanOrEqual(20_000);
    } finally {
      await cleanup();
    }
  }, 90_000);

  it.each([
    [['worker'], /hiper worker needs --queue redis:\/\/HOST:PORT\/STREAM/],
    [
      ['worker', '--queue', 'http://127.0.0.1:1/jobs'],
      /--queue must be a redis:\/\/ .*got 'http:\/\/127.0.0.1:1\/jobs'/,
    ],
    [['worker', '--queue', 'redis://127.0.0.1:6379'], /the stream name is missing/],
    [['worker', '--queue', 'redis://127.0.0.1:6379/'], /the stream name is missing/],
    [['worker', '--queue', 'not a url'], /--queue must look like redis:\/\/HOST:PORT\/STREAM/],
    [
      ['worker', '--queue', 'redis://127.0.0.1/jobs', '--claim-idle', 'soon'],
      /--claim-idle must be a duration/,
    ],
    [
      ['worker', '--queue', 'redis://127.0.0.1/jobs', '--max-attempts', '0'],
      /--max-attempts must be a positive integer/,
    ],
    [['worker', '--queue', 'redis://127.0.0.1/jobs', 'http://127.0.0.1/'], /takes its URLs from the queue/],
    [['worker', '--queue', 'redis://127.0.0.1/jobs', '-n', '5'], /--requests is not a flag of hiper worker/],
    [['enqueue', '--queue', 'redis://127.0.0.1/jobs'], /hiper enqueue needs URLs or -f FILE/],
    [['enqueue', '--queue', 'redis://127.0.0.1/jobs', 'ftp://x/y'], /only http:\/\/ and https:\/\//],
    [['results'], /hiper results needs --queue/],
    [['results', '--queue', 'redis://127.0.0.1/jobs', '--bogus'], /Unknown option '--bogus'/],
  ])('%j exits 2 naming what is wrong', async (args, reason) => {
    const run = await hiper(args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(reason);
    expect(run.stderr).toMatch(/usage: hiper worker/);
  });
});
