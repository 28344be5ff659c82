// The printed tables (Markdown, so the README can carry them as they are).
import type { CellSummary, ScenarioSummary, Target } from './aggregate.js';
import type { MachineFacts } from './machine.js';

function num(v: number | undefined, digits = 0): string {
  if (v === undefined || !Number.isFinite(v)) return '';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ratio(v: number | null): string {
  return v === null ? '' : `${v.toFixed(2)}x`;
}

function status(cell: CellSummary): string {
  if (cell.unavailable !== null) return `n/a: ${cell.unavailable}`;
  const notes: string[] = [];
  if (cell.failures.length > 0) notes.push(`${cell.failures.length} run(s) failed: ${cell.failures[0]}`);
  if (cell.errors > 0) notes.push(`${cell.errors} bad answers`);
  return notes.join('; ');
}

function table(head: string[], rows: string[][]): string {
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  return lines.join('\n');
}

export function machineLine(m: MachineFacts): string {
  return (
    `${m.date.slice(0, 10)} · ${m.cpuModel}, ${m.cores} cores${m.pinned ? ' (client and server pinned to one core each)' : ''}` +
    ` · ${m.kernel} · Node ${m.node} · ${m.libcurl} · undici ${m.undici} · uWS ${m.uws}`
  );
}

export function throughputTable(summaries: ScenarioSummary[]): string {
  const rows: string[][] = [];
  for (const s of summaries.filter((x) => x.kind === 'throughput')) {
    for (const cell of s.cells) {
      const m = cell.median;
      rows.push([
        s.name,
        cell.label,
        num(m.reqPerSec),
        num(m.mibPerSec, 1),
        num(m.cpuUsPerReq, 1),
        num(m.maxRssMiB, 0),
        ratio(cell.ratioToC),
        ratio(cell.ratioToUndici),
        String(cell.runs.length),
        status(cell),
      ]);
    }
  }
  return table(
    ['scenario', 'client', 'req/s', 'MiB/s', 'CPU µs/req', 'max RSS MiB', 'x C', 'x undici', 'runs', 'notes'],
    rows,
  );
}

export function heldTable(summaries: ScenarioSummary[]): string {
  const rows: string[][] = [];
  for (const s of summaries.filter((x) => x.kind === 'held')) {
    for (const cell of s.cells) {
      const m = cell.median;
      rows.push([
        `${s.name} (${num(s.inflight)})`,
        cell.label,
        num(m.rssPerTransferKiB, 1),
        num(m.baselineRssMiB, 1),
        num(m.peakRssMiB, 1),
        num(m.cpuUsPerTransfer, 1),
        num(m.wallMs),
        ratio(cell.ratioToC),
        ratio(cell.ratioToUndici),
        String(cell.runs.length),
        status(cell),
      ]);
    }
  }
  return table(
    [
      'scenario',
      'client',
      'RSS KiB/transfer',
      'idle RSS MiB',
      'peak RSS MiB',
      'CPU µs/transfer',
      'wall ms',
      'RSS x C',
      'RSS x undici',
      'runs',
      'notes',
    ],
    rows,
  );
}

export function gatewayTable(summaries: ScenarioSummary[]): string {
  const rows: string[][] = [];
  for (const s of summaries.filter((x) => x.kind === 'gateway')) {
    for (const cell of s.cells) {
      const m = cell.median;
      rows.push([
        cell.client === 'client' ? 'gateway on multisock Client (libuv)' : 'gateway on undici Pool',
        num(m.reqPerSec),
        num(m.latencyP50Ms, 2),
        num(m.latencyP99Ms, 2),
        num(m.cpuUsPerReq, 1),
        num(m.maxRssMiB, 0),
        ratio(cell.ratioToUndici),
        String(cell.runs.length),
        status(cell),
      ]);
    }
  }
  return table(
    ['gateway', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'max RSS MiB', 'x undici', 'runs', 'notes'],
    rows,
  );
}

export function toolTable(summaries: ScenarioSummary[]): string {
  const rows: string[][] = [];
  for (const s of summaries.filter((x) => x.kind === 'tool')) {
    for (const cell of s.cells) {
      rows.push([s.name, cell.label, num(cell.median.reqPerSec), String(cell.runs.length), status(cell)]);
    }
  }
  return table(['scenario', 'program', 'per second (files or requests)', 'runs', 'notes'], rows);
}

export function targetTable(targets: Target[]): string {
  return table(
    ['target', 'measured', 'needed', 'result', 'figures'],
    targets.map((t) => [
      t.name,
      t.value === null ? 'n/a' : `${t.value.toFixed(2)}x`,
      `${t.name.includes('below') ? '<' : t.atMost ? '<=' : '>='} ${t.threshold}x`,
      t.pass ? 'PASS' : 'SHORT',
      t.detail,
    ]),
  );
}

export function fullReport(
  m: MachineFacts,
  summaries: ScenarioSummary[],
  targets: Target[],
  runs: number,
): string {
  const parts = [
    `Machine: ${machineLine(m)}`,
    `Medians of ${runs} run(s) per cell; each client's first fifth of requests excluded.`,
  ];
  if (summaries.some((s) => s.kind === 'throughput'))
    parts.push(`### Throughput\n\n${throughputTable(summaries)}`);
  if (summaries.some((s) => s.kind === 'held')) parts.push(`### Held transfers\n\n${heldTable(summaries)}`);
  if (summaries.some((s) => s.kind === 'gateway')) parts.push(`### Gateway\n\n${gatewayTable(summaries)}`);
  if (summaries.some((s) => s.kind === 'tool')) parts.push(`### Tools\n\n${toolTable(summaries)}`);
  if (targets.length > 0) parts.push(`### Targets\n\n${targetTable(targets)}`);
  return parts.join('\n\n');
}
