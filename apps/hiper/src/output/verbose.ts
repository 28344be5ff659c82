import type { Outcome } from '../outcome.js';

/** -v: one line per request, `< 200 http://host/path 12 B 1.23 ms`, the error after a failure. */
export function verboseLine(o: Outcome): string {
  const parts = [`< ${o.status ?? '---'}`, o.url, `${o.bytes} B`, `${o.latencyMs.toFixed(2)} ms`];
  if (o.retries > 0) parts.push(`${o.retries} retries`);
  if (o.output !== null) parts.push(`-> ${o.output}`);
  if (o.skipped) parts.push('(skipped: the file is there)');
  if (o.cancelled) parts.push('(cancelled)');
  if (o.error !== null) parts.push(`${o.error.name}: ${o.error.message}`);
  return parts.join('  ');
}
