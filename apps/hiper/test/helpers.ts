// Running the built CLI (dist/cli.js) as a user runs it, and what the tests share.
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResultRecord } from '../src/output/results.js';
import type { Summary } from '../src/stats/summary.js';

export const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface HiperOptions {
  cwd?: string;
  timeoutMs?: number;
  /** Called once the child runs; may send it signals. */
  started?: (child: ChildProcess) => void;
  stdin?: string;
}

export function hiper(args: string[], options: HiperOptions = {}): Promise<Run> {
  const start = performance.now();
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (options.stdin !== undefined) child.stdin!.end(options.stdin);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
  });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  options.started?.(child);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - start });
    });
  });
}

export const summaryOf = (run: Run): Summary => JSON.parse(run.stdout) as Summary;

export function resultsOf(text: string): ResultRecord[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ResultRecord);
}

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'hiper-test-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function filesIn(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

/** A port that was just free on 127.0.0.1 and nothing listens on (bound, then closed). */
export function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Waits until `test` holds, checking every 10 ms, for at most `ms`. */
export async function until(test: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A forward HTTP proxy on 127.0.0.1 (absolute-form requests, as libcurl sends them to an HTTP
 * proxy for http:// URLs), counting what it relayed.
 */
export async function startForwardProxy(): Promise<{
  url: string;
  relayed: string[];
  close(): Promise<void>;
}> {
  const relayed: string[] = [];
  const server = http.createServer((req, res) => {
    relayed.push(req.url ?? '');
    const target = new URL(req.url ?? '');
    const upstream = http.request(
      target,
      { method: req.method, headers: { ...req.headers, connection: 'close' }, agent: false },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    relayed,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The testkit's uWS server in a child process of its own, so a test can stop it (SIGSTOP) as
 * a whole: a server-wide stall, not a slow route. */
export async function startServerProcess(): Promise<{
  url: string;
  pid: number;
  requests(): Promise<number>;
  close(): Promise<void>;
}> {
  const child = fork(fileURLToPath(new URL('./fixtures/server-child.mjs', import.meta.url)), [], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: { url: string }) => resolve(m.url));
    child.once('exit', (code) => reject(new Error(`the server child exited (${code})`)));
  });
  return {
    url,
    pid: child.pid!,
    requests: () =>
      new Promise((resolve) => {
        child.once('message', (m: { requests: number }) => resolve(m.requests));
        child.send('count');
      }),
    close: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGCONT');
        child.kill('SIGTERM');
      }),
  };
}
