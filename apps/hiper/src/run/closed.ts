// The closed model: `concurrency` loops, each starting its next request as soon as its last
// one ends (-n, --duration). Latency counts from each request's own start.
import type { Run } from './run.js';

export async function runClosed(run: Run, concurrency: number): Promise<void> {
  const { stop } = run.ctx;
  const loop = async () => {
    while (!stop.stopping) {
      const now = performance.now();
      const next = run.next(now);
      if (next === null) return;
      await run.execute(next, now);
    }
  };
  // No more loops than requests, unless a warm-up comes first.
  const loops =
    run.limit !== null && run.measuredFrom <= performance.now()
      ? Math.min(concurrency, run.limit)
      : concurrency;
  await Promise.all(Array.from({ length: loops }, loop));
}
