// A real redis-server (Debian's) for the worker-mode tests: on 127.0.0.1 with a port chosen at
// run time and its own temporary folder, with the append-only file fsynced on every write, so
// a restart (even after SIGKILL) comes back with every stream, consumer group and pending list.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { closedPort } from './helpers.js';

export const REDIS_SERVER = '/usr/bin/redis-server';

export interface RedisServer {
  port: number;
  /** `redis://127.0.0.1:PORT/STREAM`, as --queue takes it. */
  queue(stream: string): string;
  /** A client of the test's own, closed with the server. */
  client: Redis;
  /** Kills the server with SIGKILL (no shutdown, no last save) and starts it again on the same
   * port and folder. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** Starts redis-server on `port`; resolves once it accepts connections, rejects if it exits. */
function launch(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(
    REDIS_SERVER,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
      '--daemonize',
      'no',
      '--protected-mode',
      'no',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let log = '';
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('Ready to accept connections')) {
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        child.off('exit', onExit);
        resolve(child);
      }
    };
    const onExit = () => reject(new Error(`redis-server exited:\n${log}`));
    child.stdout!.on('data', onData);
    child.stderr!.resume();
    child.once('exit', onExit);
  });
}

function killed(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

export async function startRedis(): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'hiper-redis-'));
  let port = 0;
  let child: ChildProcess | null = null;
  // A port free a moment ago can be taken before redis-server binds it: try another.
  for (let tries = 0; child === null; tries++) {
    port = await closedPort();
    try {
      child = await launch(port, dir);
    } catch (error) {
      if (tries >= 4) throw error;
    }
  }
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: null, lazyConnect: false });
  client.on('error', () => {});
  let current: ChildProcess = child;
  return {
    port,
    queue: (stream) => `redis://127.0.0.1:${port}/${stream}`,
    client,
    async restart() {
      await killed(current);
      current = await launch(port, dir);
    },
    async close() {
      client.disconnect();
      await killed(current);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
