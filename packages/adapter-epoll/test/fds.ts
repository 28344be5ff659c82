// Counting this process's fds.
import { readdirSync, readlinkSync } from 'node:fs';

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
