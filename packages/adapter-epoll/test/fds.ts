// Helpers shared by the tests: counting this process's fds by kind, forcing a GC.
import { readdirSync, readlinkSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';

/** Targets of every open fd of this process (e.g. 'anon_inode:[eventpoll]', 'socket:[123]'). */
export function openFds(): Map<number, string> {
  const fds = new Map<number, string>();
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      fds.set(Number(name), readlinkSync(`/proc/self/fd/${name}`));
    } catch {
      // the fd readdir itself used, already closed
    }
  }
  return fds;
}

export function countFds(pattern: RegExp): number {
  let n = 0;
  for (const target of openFds().values()) if (pattern.test(target)) n++;
  return n;
}

/** Number of epoll sets and timerfds open in this process. */
export function epollAndTimerFds(): number {
  return countFds(/eventpoll|timerfd/);
}

v8.setFlagsFromString('--expose_gc');
const runGc = vm.runInNewContext('gc') as () => void;

/** Full GC, then let Node run the deferred native finalizers. */
export async function collectGarbage(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    runGc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}
