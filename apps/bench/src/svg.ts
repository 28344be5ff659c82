// A plain, hand-written SVG bar chart of the medians: one group per scenario, one horizontal bar
// per client, scaled to the largest bar of its group.
import type { CellSummary, ScenarioSummary } from './aggregate.js';
import { headlineMetric } from './aggregate.js';
import type { MachineFacts } from './machine.js';
import { machineLine } from './report.js';
import type { ClientId } from './types.js';

const WIDTH = 960;
const LABEL_W = 250;
const BAR_W = 470;
const ROW_H = 18;
const GROUP_GAP = 14;

const COLORS: Record<ClientId, string> = {
  'raw-libuv': '#1f77b4',
  'raw-epoll': '#4e97d1',
  'raw-reactor': '#7fb5e6',
  'raw-kqueue': '#a9cdef',
  client: '#2ca02c',
  undici: '#ff7f0e',
  'node-http': '#d62728',
  fetch: '#9467bd',
  'undici-agent': '#ffbb78',
  'undici-curl': '#98df8a',
  'fetch-agent': '#c5b0d5',
  'fetch-curl': '#17becf',
  c: '#555555',
  wrk: '#bbbbbb',
  hiper: '#17becf',
  curl: '#8c564b',
  autocannon: '#e377c2',
};

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function valueText(cell: CellSummary, kind: ScenarioSummary['kind']): string {
  const m = cell.median;
  if (kind === 'held') {
    const r = cell.ratioToC === null ? '' : `  (${cell.ratioToC.toFixed(2)}x C)`;
    return `${(m.rssPerTransferKiB ?? 0).toFixed(1)} KiB/transfer${r}`;
  }
  const rps = Math.round(m.reqPerSec ?? 0).toLocaleString('en-US');
  const mib = (m.mibPerSec ?? 0) >= 1 ? `, ${(m.mibPerSec ?? 0).toFixed(0)} MiB/s` : '';
  const r =
    kind === 'gateway'
      ? cell.ratioToUndici === null
        ? ''
        : `  (${cell.ratioToUndici.toFixed(2)}x undici)`
      : cell.ratioToC === null
        ? ''
        : `  (${cell.ratioToC.toFixed(2)}x C)`;
  return `${rps} req/s${mib}${r}`;
}

export function chart(machine: MachineFacts, summaries: ScenarioSummary[], runs: number): string {
  const body: string[] = [];
  let y = 64;
  for (const s of summaries) {
    const metric = headlineMetric(s.kind);
    const cells = s.cells.filter((c) => c.runs.length > 0 && Number.isFinite(c.median[metric]));
    if (cells.length === 0) continue;
    const max = Math.max(...cells.map((c) => c.median[metric]!));
    const unit = s.kind === 'held' ? 'RSS per transfer above idle (lower is better)' : 'requests per second';
    body.push(
      `<text x="10" y="${y + 12}" font-weight="bold">${esc(`${s.name}: ${s.title}`)}</text>` +
        `<text x="${WIDTH - 10}" y="${y + 12}" text-anchor="end" fill="#666">${esc(unit)}</text>`,
    );
    y += 20;
    for (const cell of cells) {
      const w = max > 0 ? Math.max(1, (cell.median[metric]! / max) * BAR_W) : 1;
      body.push(
        `<text x="${LABEL_W - 6}" y="${y + 13}" text-anchor="end">${esc(cell.label)}</text>` +
          `<rect x="${LABEL_W}" y="${y + 2}" width="${w.toFixed(1)}" height="${ROW_H - 4}" fill="${COLORS[cell.client]}"/>` +
          `<text x="${(LABEL_W + w + 6).toFixed(1)}" y="${y + 13}">${esc(valueText(cell, s.kind))}</text>`,
      );
      y += ROW_H;
    }
    y += GROUP_GAP;
  }
  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${esc(`multisock bench results, ${machine.date.slice(0, 10)}`)}</title>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="22" font-size="16" font-weight="bold">multisock bench: medians of ${runs} run(s) per cell</text>`,
    `<text x="10" y="42" fill="#444">${esc(machineLine(machine))}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
