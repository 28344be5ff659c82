// Counting this process's open fds, on Linux (/proc/self/fd), macOS (/dev/fd) and the BSDs
// (probing: /dev/fd there shows only 0-2 unless fdescfs is mounted).
import { fstatSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export function openFdCount(): number {
  if (process.platform === 'linux') return readdirSync('/proc/self/fd').length - 1; // readdir's own
  if (process.platform === 'darwin') return readdirSync('/dev/fd').length - 1;
  let n = 0;
  for (let fd = 0; fd < 4096; fd++) {
    try {
      fstatSync(fd);
      n++;
    } catch {
      // not open
    }
  }
  return n;
}

/** Waits (polling every 10 ms, up to `timeoutMs`) until no more fds are open than `baseline`;
 * returns the count then. Closing a uv handle finishes on a later loop turn. */
export async function fdsBackTo(baseline: number, timeoutMs = 2000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = openFdCount();
    if (now <= baseline || Date.now() >= deadline) return now;
    await sleep(10);
  }
}
