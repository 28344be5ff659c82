import type { Client, RequestOptions } from '@multisock/core';
import type { Stats } from './stats.js';

/** The n-th request of a run: its URL and options (undefined: the Client's defaults). */
export type Plan = (n: number) => { url: string; options: RequestOptions | undefined };

/**
 * Runs `stats.total` requests with `concurrency` in flight: that many loops, each starting its
 * next request as soon as its previous one settles. `stopped()` true makes the loops finish
 * their current request and start no more (Ctrl-C).
 */
export async function runWorkload(
  client: Client,
  plan: Plan,
  stats: Stats,
  concurrency: number,
  stopped: () => boolean,
): Promise<void> {
  const loop = async () => {
    while (stats.started < stats.total && !stopped()) {
      const { url, options } = plan(stats.started++);
      stats.inFlight++;
      const start = performance.now();
      try {
        const res = await client.request(url, options);
        stats.ok(res.status, res.body.length, performance.now() - start);
      } catch (error) {
        if (!stopped()) stats.fail(error, performance.now() - start);
      } finally {
        stats.inFlight--;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, stats.total) }, loop));
  stats.finish();
}
