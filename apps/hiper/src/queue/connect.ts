// A Redis connection (ioredis) that survives connection loss and Redis restarts: commands wait
// while it reconnects with backoff (100 ms doubling to 5 s), and each outage is reported on
// stderr once when it starts, every 10th failed try, and once when it is over.
import { Redis } from 'ioredis';
import type { Queue } from './queue-url.js';

export const FIRST_RECONNECT_MS = 100;
export const MAX_RECONNECT_MS = 5000;

export interface ConnectOptions {
  /** What this connection is for, in messages (`worker reads`, `enqueue`...). */
  role: string;
  /** Give up after this many failed reconnects in a row (commands then reject); null: never. */
  maxReconnects: number | null;
  /** Where reports go (stderr). */
  report: (line: string) => void;
}

/** The wait before reconnect try `times` (1, 2, ...). */
export function reconnectDelay(times: number): number {
  return Math.min(MAX_RECONNECT_MS, FIRST_RECONNECT_MS * 2 ** (times - 1));
}

export function connect(queue: Queue, options: ConnectOptions): Redis {
  const where = `redis ${queue.host}:${queue.port} (${options.role})`;
  let lastError = '';
  let downSince: number | null = null;
  let reported = false;
  const redis = new Redis({
    host: queue.host,
    port: queue.port,
    username: queue.username,
    password: queue.password,
    db: queue.db,
    ...(queue.tls ? { tls: {} } : {}),
    // CLIENT LIST shows it (a name has no spaces).
    connectionName: `hiper-${options.role}`.replace(/\s+/g, '-'),
    // Commands wait for the connection however long it takes (and are sent again after a
    // reconnect when their reply never came): a worker outlives a Redis restart.
    maxRetriesPerRequest: null,
    retryStrategy: (times) => {
      if (options.maxReconnects !== null && times > options.maxReconnects) {
        options.report(
          `hiper: ${where}: giving up after ${times - 1} tries (${lastError || 'no connection'})`,
        );
        return null;
      }
      const delay = reconnectDelay(times);
      if (times === 1 || times % 10 === 0) {
        reported = true;
        options.report(
          `hiper: ${where}: ${lastError || 'connection lost'}; reconnecting (try ${times}, in ${delay} ms)`,
        );
      }
      return delay;
    },
  });
  redis.on('error', (error: Error) => {
    lastError = error.message;
  });
  redis.on('close', () => {
    downSince ??= Date.now();
  });
  redis.on('ready', () => {
    if (downSince !== null && reported) {
      options.report(
        `hiper: ${where}: connected again after ${((Date.now() - downSince) / 1000).toFixed(1)} s`,
      );
    }
    downSince = null;
    reported = false;
    lastError = '';
  });
  return redis;
}
