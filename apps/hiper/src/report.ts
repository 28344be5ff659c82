import type { Summary } from './stats.js';

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const dec = (n: number, digits: number) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** The summary as an aligned two-column table. */
export function formatSummary(s: Summary): string {
  const rows: Array<[string, string]> = [
    ['requests', `${int(s.requests)} (${int(s.ok)} ok, ${int(s.failed)} failed)`],
    ['statuses', listOf(s.statuses) || '-'],
  ];
  if (s.failed > 0) rows.push(['errors', listOf(s.errors)]);
  rows.push(
    ['duration', `${dec(s.durationMs / 1000, 2)} s`],
    ['requests/s', int(s.requestsPerSecond)],
    ['throughput', `${dec(s.mibPerSecond, 2)} MiB/s (${int(s.bytes)} body bytes)`],
    ['latency p50', `${dec(s.latencyMs.p50, 2)} ms`],
    ['latency p90', `${dec(s.latencyMs.p90, 2)} ms`],
    ['latency p99', `${dec(s.latencyMs.p99, 2)} ms`],
    ['latency max', `${dec(s.latencyMs.max, 2)} ms`],
    ['connections', `${int(s.connectionsOpened)} opened`],
  );
  if (s.server) {
    rows.push([
      'server counted',
      `${int(s.server.requests)} requests, ${int(s.server.bodyBytes)} body bytes`,
    ]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  const head = `hiper: ${int(s.requests)} requests to ${int(s.urls)} URL${s.urls === 1 ? '' : 's'}, ${int(s.concurrency)} in flight, ${s.adapter} adapter`;
  return [head, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)].join('\n');
}

function listOf(counts: Record<string, number>): string {
  return Object.entries(counts)
    .map(([k, n]) => `${k} ${int(n)}`)
    .join(', ');
}
