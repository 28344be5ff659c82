import { type ChildProcess, spawn, spawnSync } from 'node:child_process';

/** True when `unshare --pid` works here (root, util-linux). */
const CAN_UNSHARE =
  process.getuid?.() === 0 &&
  spawnSync('unshare', ['--pid', '--fork', 'true'], { stdio: 'ignore' }).status === 0;

export interface IsolatedProcess {
  readonly child: ChildProcess;
  /** Whether `child` is unshare, the server running as the first process of a PID namespace. */
  readonly isolated: boolean;
  alive(): boolean;
  /** Ends the server and every process it forked; resolves once the child is gone. */
  stop(): Promise<void>;
}

/**
 * Spawns a server that forks workers or helpers. As root it runs as the first process of a PID
 * namespace of its own (`unshare --pid --fork --kill-child`): killing unshare kills it, and the
 * kernel then kills every process left in the namespace, so nothing outlives the tests even when
 * a server never reaps its helpers (h2o) or its master dies before its workers (nginx). Without
 * root, the server is spawned directly and stopped with TERM (its own shutdown), KILL after 5 s.
 */
export function spawnIsolated(command: string, args: string[]): IsolatedProcess {
  const child = CAN_UNSHARE
    ? spawn('unshare', ['--pid', '--fork', '--kill-child', command, ...args], {
        stdio: ['ignore', 'ignore', 'pipe'],
      })
    : spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const alive = () => child.exitCode === null && child.signalCode === null;
  // If the test process exits without stopping it, take it down on the way out.
  const onExit = () => {
    if (alive()) child.kill(CAN_UNSHARE ? 'SIGKILL' : 'SIGTERM');
  };
  process.once('exit', onExit);
  let stopping: Promise<void> | null = null;
  return {
    child,
    isolated: CAN_UNSHARE,
    alive,
    stop() {
      stopping ??= (async () => {
        process.off('exit', onExit);
        if (!alive()) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        // unshare ignores TERM while it waits for its child: KILL it, --kill-child does the rest.
        child.kill(CAN_UNSHARE ? 'SIGKILL' : 'SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}
