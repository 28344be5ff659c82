import type { LatencyBucket } from '../stats/latency.js';
import { int, ms } from './format.js';

const BAR = 40;

/** The latency histogram as text bars, one row per bucket: `  1.00 ms - 2.00 ms  ████ 1,234`. */
export function drawHistogram(buckets: LatencyBucket[]): string[] {
  if (buckets.length === 0) return [];
  const most = Math.max(...buckets.map((b) => b.count));
  const labels = buckets.map((b) => `${ms(b.fromMs)} - ${ms(b.toMs)}`);
  const width = Math.max(...labels.map((l) => l.length));
  return buckets.map((b, i) => {
    // A bucket with any request gets at least a sliver, so lone outliers stay visible.
    const filled = b.count === 0 ? 0 : Math.max(1, Math.round((b.count / most) * BAR));
    return `  ${labels[i]!.padStart(width)}  ${'█'.repeat(filled).padEnd(BAR)} ${int(b.count)}`.trimEnd();
  });
}
