import { readdirSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const FD_DIR = '/proc/self/fd';

/** Number of open file descriptors of this process (entries of /proc/self/fd). */
export function openFdCount(): number {
  return readdirSync(FD_DIR).length;
}

/** Every open fd with what it refers to (`socket:[123]`, `anon_inode:[eventpoll]`, a path...). */
export function openFds(): Map<number, string> {
  const fds = new Map<number, string>();
  for (const name of readdirSync(FD_DIR)) {
    let target: string;
    try {
      target = readlinkSync(`${FD_DIR}/${name}`);
    } catch {
      continue; // closed since readdir (readdir's own directory fd is one of those)
    }
    fds.set(Number(name), target);
  }
  return fds;
}

/**
 * Waits (polling every 10 ms) until this process has no more fds open than `baseline`: a count
 * from `openFdCount()`, or a snapshot from `openFds()` (then the error names exactly the new fds).
 * Throws an Error naming the extra fds if `timeoutMs` passes first.
 */
export async function expectFdsBack(
  baseline: number | ReadonlyMap<number, string>,
  timeoutMs = 2000,
): Promise<void> {
  // A snapshot lacks the directory fd readdir held while listing; openFdCount() counts it.
  const limit = typeof baseline === 'number' ? baseline : baseline.size + 1;
  if (!Number.isInteger(limit) || limit < 0)
    throw new RangeError(`expectFdsBack: bad baseline ${String(limit)}`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (openFdCount() <= limit) return;
    if (Date.now() >= deadline) break;
    await sleep(10);
  }
  const now = openFds(); // (size is one below openFdCount(), see above)
  let listed: Array<[number, string]>;
  if (typeof baseline === 'number') {
    listed = [...now];
  } else {
    listed = [...now].filter(([fd, target]) => baseline.get(fd) !== target);
  }
  const names = listed.map(([fd, target]) => `${fd} -> ${target}`).join(', ');
  const what = typeof baseline === 'number' ? 'open now' : 'new';
  throw new Error(
    `expected at most ${limit} open fds after ${timeoutMs} ms, have ${now.size + 1}; ${what}: ${names}`,
  );
}
