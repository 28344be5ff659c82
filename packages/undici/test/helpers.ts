// Shared by the @multisock/undici suites: the loop adapters to run on, the real servers, and
// the checks users make (bytes, memory, fds).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoopAdapter } from '@multisock/core';
import { PATTERN_PERIOD, patternBytes } from '@multisock/testkit/servers';

/** Every loop adapter whose package is built (both on Linux); each suite runs once per adapter. */
export async function loopAdapters(): Promise<Array<{ name: string; loop: LoopAdapter }>> {
  const out: Array<{ name: string; loop: LoopAdapter }> = [];
  const packages = [
    { dir: 'adapter-libuv', module: '@multisock/adapter-libuv', name: 'libuv' },
    { dir: 'adapter-epoll', module: '@multisock/adapter-epoll', name: 'epoll' },
  ] as const;
  for (const { dir, module, name } of packages) {
    if (!existsSync(new URL(`../../${dir}/dist/index.js`, import.meta.url))) continue;
    const loaded = (await import(module)) as Record<string, LoopAdapter>;
    out.push({ name, loop: loaded[name]! });
  }
  return out;
}

/** The pattern from every phase, for comparisons of up to WINDOW bytes without a loop in JS. */
const WINDOW = 1024 * 1024;
const window = patternBytes(PATTERN_PERIOD + WINDOW);

/** Checks a stream of the body pattern chunk by chunk, without holding it: byte i is i % 251. */
export class PatternCheck {
  offset = 0;
  mismatchAt = -1;

  update(chunk: Uint8Array): void {
    const bytes = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let at = 0; at < bytes.length && this.mismatchAt < 0; at += WINDOW) {
      const piece = bytes.subarray(at, Math.min(bytes.length, at + WINDOW));
      const phase = (this.offset + at) % PATTERN_PERIOD;
      if (!piece.equals(window.subarray(phase, phase + piece.length))) {
        let i = 0;
        while (piece[i] === window[phase + i]) i++;
        this.mismatchAt = this.offset + at + i;
      }
    }
    this.offset += bytes.length;
  }
}

/** Samples RSS every 10 ms while `run` runs; returns its result and the peak growth in MiB. */
export async function peakRssGrowth<T>(run: () => Promise<T>): Promise<{ result: T; growthMiB: number }> {
  globalThis.gc?.();
  const base = process.memoryUsage.rss();
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  try {
    const result = await run();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, growthMiB: (peak - base) / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

/** A port nothing listens on right now (bound, read, released). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitForPort(port: number, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on 127.0.0.1:${port}`);
    await sleep(20);
  }
}

/** A proxy started by a test: a Debian binary on 127.0.0.1, stopped by its pid. */
export interface ProxyProcess {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** What the proxy logged so far. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

async function startProxy(
  what: string,
  scheme: string,
  command: (dir: string, port: number) => Promise<{ bin: string; args: string[]; logFile: string | null }>,
): Promise<ProxyProcess> {
  const dir = await mkdtemp(join(tmpdir(), `multisock-${what}-`));
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const { bin, args, logFile } = await command(dir, port);
    const child = spawn(bin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.stderr!.on('data', (c: Buffer) => {
      output += c.toString();
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await waitForPort(port, child, what);
    } catch (error) {
      child.kill('SIGKILL');
      await exited;
      if (attempt < 3) continue; // the port was taken meanwhile
      await rm(dir, { recursive: true, force: true });
      throw new Error(`${(error as Error).message}: ${output}`);
    }
    const pid = child.pid!;
    await writeFile(join(dir, `${what}.pid`), `${pid}\n`);
    return {
      url: `${scheme}://127.0.0.1:${port}`,
      port,
      pid,
      async log() {
        const file = logFile ? await readFile(logFile, 'utf8').catch(() => '') : '';
        return file + output;
      },
      async stop() {
        const recorded = Number((await readFile(join(dir, `${what}.pid`), 'utf8')).trim());
        if (child.exitCode === null) {
          process.kill(recorded, 'SIGTERM');
          await Promise.race([exited, sleep(2000)]);
          if (child.exitCode === null && child.signalCode === null) process.kill(recorded, 'SIGKILL');
          await exited;
        }
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
}

/** tinyproxy (Debian): an HTTP proxy that forwards http:// and tunnels https:// with CONNECT. */
export function startTinyproxy(): Promise<ProxyProcess> {
  return startProxy('tinyproxy', 'http', async (dir, port) => {
    const logFile = join(dir, 'tinyproxy.log');
    const conf = join(dir, 'tinyproxy.conf');
    await writeFile(
      conf,
      [
        `Port ${port}`,
        'Listen 127.0.0.1',
        'Timeout 30',
        'MaxClients 200',
        `PidFile "${join(dir, 'tinyproxy-own.pid')}"`,
        `LogFile "${logFile}"`,
        'LogLevel Connect',
        'Allow 127.0.0.1',
        'DisableViaHeader Yes',
        '',
      ].join('\n'),
    );
    return { bin: 'tinyproxy', args: ['-d', '-c', conf], logFile };
  });
}

/** microsocks (Debian): a SOCKS5 proxy. */
export function startMicrosocks(): Promise<ProxyProcess> {
  return startProxy('microsocks', 'socks5', async (_dir, port) => ({
    bin: 'microsocks',
    args: ['-i', '127.0.0.1', '-p', String(port)],
    logFile: null,
  }));
}

/** Collects a body (an undici BodyReadable or any async iterable) into one Buffer. */
export async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** The settled state of a promise, for tests that compare two dispatchers. */
export async function outcome<T>(
  promise: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}
