// hiper's worker mode: jobs per second through a Redis stream with 1 and 2 `hiper worker`
// processes against the bench server, medians of --runs runs. Not part of the default bench
// run: `node dist/queue-bench.js [--jobs N] [--runs N] [--concurrency N]`.
//
// Each run: a fresh stream; the workers start and join the group; the bench adds the jobs in
// pipelined batches (GETs of /12b) and times from the first job added to the last result
// written (XLEN of the results stream); then the workers are stopped with SIGTERM.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startServer } from './server-control.js';

const HIPER_CLI = join(
  dirname(createRequire(import.meta.url).resolve('@multisock/hiper/package.json')),
  'dist',
  'cli.js',
);

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '20000' },
    runs: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '64' },
  },
});
const JOBS = Number(values.jobs);
const RUNS = Number(values.runs);
const CONCURRENCY = Number(values.concurrency);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** redis-server on a free port, its append-only file fsynced every second (a common setting). */
async function startRedis(dir: string): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''];
  const child = spawn('redis-server', [...args, '--appendonly', 'yes', '--appendfsync', 'everysec'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', () => reject(new Error(`redis-server exited:\n${log}`)));
  });
  child.stdout!.resume();
  return { port, child };
}

/** Workers running, killed if the bench itself is stopped. */
const running = new Set<ChildProcess>();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(test: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(5);
  }
}

async function oneRun(
  redis: Redis,
  port: number,
  base: string,
  workers: number,
  run: number,
): Promise<number> {
  const stream = `bench-${workers}-${run}`;
  const children = Array.from({ length: workers }, (_, i) =>
    spawn(
      process.execPath,
      [
        HIPER_CLI,
        'worker',
        '--queue',
        `redis://127.0.0.1:${port}/${stream}`,
        '--consumer',
        `w${i}`,
        '-c',
        String(CONCURRENCY),
        '-s',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    ),
  );
  for (const c of children) {
    running.add(c);
    c.once('exit', () => running.delete(c));
  }
  // Every worker waits in its first read (a blocked XREADGROUP joins the group only once served).
  await until(async () => {
    const clients = (await redis.client('LIST')) as string;
    return (
      clients.split('\n').filter((l) => l.includes('flags=b') && l.includes('cmd=xreadgroup')).length ===
      workers
    );
  }, 20_000);
  const start = performance.now();
  for (let i = 0; i < JOBS; i += 1000) {
    const pipeline = redis.pipeline();
    for (let j = i; j < Math.min(JOBS, i + 1000); j++)
      pipeline.xadd(stream, '*', 'id', String(j), 'url', `${base}/12b`);
    await pipeline.exec();
  }
  await until(async () => (await redis.xlen(`${stream}:results`)) >= JOBS, 300_000);
  const seconds = (performance.now() - start) / 1000;
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
        }),
    ),
  );
  await redis.del(stream, `${stream}:results`);
  return JOBS / seconds;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = await mkdtemp(join(tmpdir(), 'hiper-queue-bench-'));
const server = await startServer(null);
const { port, child } = await startRedis(dir);
const redis = new Redis({ host: '127.0.0.1', port });
const stopAll = () => {
  for (const c of running) c.kill('SIGKILL');
  child.kill('SIGKILL');
  process.exit(130);
};
process.once('SIGINT', stopAll);
try {
  const base = `http://127.0.0.1:${server.ports.http}`;
  console.log(
    `hiper worker: ${JOBS.toLocaleString('en-US')} jobs (GET /12b), -c ${CONCURRENCY} per worker, ${RUNS} runs`,
  );
  const figures: Record<number, number[]> = { 1: [], 2: [] };
  // Interleaved, so drift on a shared machine hits both alike.
  for (let run = 0; run < RUNS; run++) {
    for (const workers of [1, 2]) figures[workers]!.push(await oneRun(redis, port, base, workers, run));
  }
  for (const workers of [1, 2]) {
    const runs = figures[workers]!.map((x) => Math.round(x).toLocaleString('en-US')).join(', ');
    console.log(
      `  ${workers} worker${workers === 1 ? ' ' : 's'}  ${Math.round(median(figures[workers]!)).toLocaleString('en-US')} jobs/s (median; runs: ${runs})`,
    );
  }
} finally {
  for (const c of running) c.kill('SIGKILL');
  redis.disconnect();
  child.kill('SIGKILL');
  await server.close();
  await rm(dir, { recursive: true, force: true });
}
