// Child processes of the bench: pinned to a core with taskset where there are two or more, with
// the file-descriptor limit raised to the hard limit (10,000 held transfers need 10,000 fds).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';

let tasksetPath: string | null | undefined;

function hasTaskset(): boolean {
  if (tasksetPath === undefined) {
    try {
      execFileSync('taskset', ['-V'], { stdio: 'ignore' });
      tasksetPath = 'taskset';
    } catch {
      tasksetPath = null;
    }
  }
  return tasksetPath !== null;
}

/** The core clients run on, and the one the server runs on (the same on a one-core machine). */
export const CLIENT_CORE = 0;
export const SERVER_CORE = availableParallelism() > 1 ? 1 : 0;

/** True when clients and server really are on separate cores. */
export function pinned(): boolean {
  return availableParallelism() > 1 && hasTaskset();
}

/** The hard limit on open files, which children raise their soft limit to. */
export function hardFileLimit(): number {
  try {
    return Number(execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim()) || 1024;
  } catch {
    return 1024;
  }
}

export function spawnPinned(
  core: number,
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: 'pipe' | 'ignore' } = {},
): ChildProcess {
  const pin = pinned() ? ['taskset', '-c', String(core)] : [];
  const argv = [...pin, command, ...args];
  // `ulimit -n` raised inside a shell, then exec: the child is the program itself.
  return spawn('sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh', ...argv], {
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
  });
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Waits for a child to exit (killing it after `timeoutMs`) and collects its output. */
export function collect(child: ChildProcess, timeoutMs: number): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  return new Promise((resolve) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

/** The last line of a child's stdout that parses as a JSON object. */
export function lastJson(stdout: string): Record<string, unknown> | null {
  const lines = stdout.trim().split('\n').reverse();
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {}
  }
  return null;
}

/** The first line a child writes to stdout, parsed as JSON: how the server and gateway children
 * say they are ready. Rejects with `what` and the child's stderr if it exits first. */
export function firstJsonLine<T = Record<string, unknown>>(child: ChildProcess, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      err += s;
    });
    child.stdout?.setEncoding('utf8').on('data', function onData(s: string) {
      out += s;
      const newline = out.indexOf('\n');
      if (newline < 0) return;
      child.stdout?.off('data', onData);
      child.stdout?.resume();
      resolve(JSON.parse(out.slice(0, newline)) as T);
    });
    child.once('exit', (code) =>
      reject(new Error(`${what} exited (${code}) before it was ready: ${err.trim()}`)),
    );
  });
}
