// The summary as people read it: the main figures, then the statuses, the hosts, the failed
// URLs and the latency histogram.
import type { Summary } from '../stats/summary.js';
import { bytes, columns, dec, int, ms } from './format.js';
import { drawHistogram } from './histogram.js';

/** Hosts shown in the per-host table; the rest are summed in one row. */
const HOSTS_SHOWN = 10;

function listOf(counts: Record<string, number>): string {
  return Object.entries(counts)
    .map(([k, n]) => `${k} ${int(n)}`)
    .join(', ');
}

function headline(s: Summary): string {
  const what =
    s.mode === 'rate' && s.rate
      ? `${dec(s.rate.target, s.rate.target < 10 ? 1 : 0)} requests/s asked`
      : `${int(s.concurrency)} in flight`;
  return `hiper: ${int(s.requests)} requests to ${int(s.urls)} URL${s.urls === 1 ? '' : 's'}, ${what}, ${s.adapter} adapter`;
}

export function formatSummary(s: Summary, resultsPath: string | null): string {
  const failedNote = [s.failed > 0 ? `${int(s.failed)} failed` : '0 failed'];
  if (s.cancelled > 0) failedNote.push(`${int(s.cancelled)} cancelled`);
  if (s.skipped > 0) failedNote.push(`${int(s.skipped)} skipped`);
  const rows: Array<[string, string]> = [
    ['requests', `${int(s.requests)} (${int(s.ok)} ok, ${failedNote.join(', ')})`],
    ['statuses', listOf(s.statuses) || '-'],
  ];
  if (s.failed > 0) rows.push(['errors', listOf(s.errors)]);
  if (s.retries > 0) rows.push(['retries', int(s.retries)]);
  rows.push(['duration', `${dec(s.durationMs / 1000, 2)} s`], ['requests/s', int(s.requestsPerSecond)]);
  if (s.rate) rows.push(['rate', `${dec(s.rate.achieved, 1)}/s started, ${dec(s.rate.target, 1)}/s asked`]);
  rows.push(
    ['throughput', `${dec(s.mibPerSecond, 2)} MiB/s (${int(s.bytes)} body bytes)`],
    ['latency p50', ms(s.latencyMs.p50)],
    ['latency p90', ms(s.latencyMs.p90)],
    ['latency p99', ms(s.latencyMs.p99)],
    ['latency p99.9', ms(s.latencyMs.p999)],
    ['latency max', ms(s.latencyMs.max)],
    ['connections', `${int(s.connectionsOpened)} opened`],
  );
  if (s.savedFiles > 0) rows.push(['saved', `${int(s.savedFiles)} files`]);
  if (s.warmupRequests > 0) rows.push(['warm-up', `${int(s.warmupRequests)} requests, not counted`]);
  if (s.stoppedBy) rows.push(['stopped', `by ${s.stoppedBy}`]);
  if (s.server) {
    rows.push([
      'server counted',
      `${int(s.server.requests)} requests, ${int(s.server.bodyBytes)} body bytes`,
    ]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  const out = [headline(s), ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)];

  const statuses = Object.entries(s.statuses);
  if (statuses.length > 1) {
    out.push('', 'statuses:');
    out.push(
      ...columns(
        ['status', 'requests', 'share'],
        statuses.map(([code, n]) => [code, int(n), `${dec((100 * n) / Math.max(1, s.requests), 1)}%`]),
      ),
    );
  }
  const hosts = Object.entries(s.hosts);
  if (hosts.length > 1) {
    out.push('', 'hosts:');
    const shown = hosts.slice(0, HOSTS_SHOWN);
    const rest = hosts.slice(HOSTS_SHOWN);
    const hostRows = shown.map(([host, h]) => [
      host,
      int(h.requests),
      int(h.failed),
      bytes(h.bytes),
      ms(h.meanLatencyMs),
    ]);
    if (rest.length > 0) {
      const sum = (f: (h: (typeof rest)[number][1]) => number) => rest.reduce((n, [, h]) => n + f(h), 0);
      hostRows.push([
        `${int(rest.length)} more hosts`,
        int(sum((h) => h.requests)),
        int(sum((h) => h.failed)),
        bytes(sum((h) => h.bytes)),
        '',
      ]);
    }
    out.push(...columns(['host', 'requests', 'failed', 'bytes', 'mean latency'], hostRows));
  }
  if (s.failedUrls.length > 0) {
    out.push('', 'failed:');
    for (const f of s.failedUrls) out.push(`  ${f.url}  ${f.status ?? '-'}  ${f.error}: ${f.message}`);
    const more = s.failed - s.failedUrls.length;
    if (more > 0)
      out.push(
        `  and ${int(more)} more${resultsPath ? ` (all in ${resultsPath})` : ' (--results FILE lists them all)'}`,
      );
  }
  const histogram = drawHistogram(s.histogram);
  if (histogram.length > 1) out.push('', 'latency:', ...histogram);
  return out.join('\n');
}
