// Runs -> medians per cell -> ratios -> targets.
import { BODY_BYTES } from './routes.js';
import { CLIENT_LABELS, RAW_CLIENTS, type Scenario, type ScenarioKind } from './scenarios.js';
import type { ClientId, RunResult } from './types.js';

/** A gateway run, measured by autocannon against the gateway child. */
export interface GatewayResult {
  mode: 'gateway';
  reqPerSec: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  errors: number;
  /** The gateway process's CPU time per request in the measured window, µs. */
  cpuUsPerReq: number;
  maxRssKiB: number;
}

export type AnyResult = RunResult | GatewayResult;

export interface CellSummary {
  client: ClientId;
  label: string;
  runs: AnyResult[];
  failures: string[];
  unavailable: string | null;
  /** Failed transfers summed over every run (0 when every answer was right). */
  errors: number;
  /** Medians over the runs, by metric name (see METRICS). */
  median: Record<string, number>;
  /** Against the C program: req/s ratio (higher is better) or RSS-per-transfer ratio (lower is
   * better, held scenario). Null where either side is missing. */
  ratioToC: number | null;
  ratioToUndici: number | null;
}

export interface ScenarioSummary {
  name: string;
  title: string;
  kind: ScenarioKind;
  inflight: number;
  cells: CellSummary[];
}

export interface Target {
  name: string;
  scenario: string;
  client: ClientId;
  /** The measured ratio. */
  value: number | null;
  /** What it must reach: value >= threshold, or value <= threshold when `atMost`. */
  threshold: number;
  atMost: boolean;
  pass: boolean;
  detail: string;
}

export function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The figures of one run, flat, by metric name. */
function metricsOf(result: AnyResult, scenario: Scenario): Record<string, number> {
  switch (result.mode) {
    case 'throughput': {
      const bytes = BODY_BYTES[scenario.route] ?? 0;
      const m: Record<string, number> = {
        reqPerSec: result.reqPerSec,
        mibPerSec: (result.reqPerSec * bytes) / 2 ** 20,
      };
      if (result.cpuUsPerReq > 0) m.cpuUsPerReq = result.cpuUsPerReq;
      if (result.maxRssKiB > 0) m.maxRssMiB = result.maxRssKiB / 1024;
      return m;
    }
    case 'held':
      return {
        rssPerTransferKiB: result.rssPerTransferKiB,
        baselineRssMiB: result.baselineRssKiB / 1024,
        peakRssMiB: result.peakRssKiB / 1024,
        cpuUsPerTransfer: (result.cpuMs * 1000) / result.transfers,
        wallMs: result.wallMs,
      };
    case 'gateway':
      return {
        reqPerSec: result.reqPerSec,
        latencyP50Ms: result.latencyP50Ms,
        latencyP99Ms: result.latencyP99Ms,
        cpuUsPerReq: result.cpuUsPerReq,
        maxRssMiB: result.maxRssKiB / 1024,
      };
  }
}

export function summarizeCell(
  scenario: Scenario,
  client: ClientId,
  runs: AnyResult[],
  failures: string[],
  unavailable: string | null,
): CellSummary {
  const perRun = runs.map((r) => metricsOf(r, scenario));
  const names = new Set(perRun.flatMap((m) => Object.keys(m)));
  const med: Record<string, number> = {};
  for (const name of names) {
    const values = perRun.map((m) => m[name]).filter((v): v is number => v !== undefined);
    med[name] = median(values);
  }
  return {
    client,
    label: CLIENT_LABELS[client],
    runs,
    failures,
    unavailable,
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
    median: med,
    ratioToC: null,
    ratioToUndici: null,
  };
}

/** The metric a scenario's ratios compare. */
export function headlineMetric(kind: ScenarioKind): 'reqPerSec' | 'rssPerTransferKiB' {
  return kind === 'held' ? 'rssPerTransferKiB' : 'reqPerSec';
}

export function addRatios(summary: ScenarioSummary): void {
  const metric = headlineMetric(summary.kind);
  const value = (c: CellSummary | undefined) => (c && c.runs.length > 0 ? c.median[metric] : undefined);
  const c = value(summary.cells.find((x) => x.client === 'c'));
  const undici = value(summary.cells.find((x) => x.client === 'undici'));
  for (const cell of summary.cells) {
    const v = value(cell);
    if (v === undefined) continue;
    if (c !== undefined && c > 0) cell.ratioToC = v / c;
    if (undici !== undefined && undici > 0) cell.ratioToUndici = v / undici;
  }
}

function target(
  summary: ScenarioSummary | undefined,
  client: ClientId,
  against: 'c' | 'undici',
  threshold: number,
  atMost: boolean,
  name: string,
): Target | null {
  if (!summary) return null;
  const cell = summary.cells.find((x) => x.client === client);
  const ref = summary.cells.find((x) => x.client === against);
  if (!cell || cell.unavailable !== null || !ref || ref.unavailable !== null) return null;
  const value = against === 'c' ? cell.ratioToC : cell.ratioToUndici;
  const metric = headlineMetric(summary.kind);
  const pass = value !== null && (atMost ? value <= threshold : value >= threshold);
  const fmt = (v: number | undefined) =>
    v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(metric === 'reqPerSec' ? 0 : 2);
  const unit = metric === 'reqPerSec' ? 'req/s' : 'KiB/transfer';
  const detail = `${client} ${fmt(cell.median[metric])} vs ${against} ${fmt(ref.median[metric])} ${unit}`;
  return { name, scenario: summary.name, client, value, threshold, atMost, pass, detail };
}

/** `client`'s headline figure against `reference`'s in one scenario (both measured in it). */
function versus(
  summary: ScenarioSummary | undefined,
  client: ClientId,
  reference: ClientId,
  threshold: number,
  name: string,
): Target | null {
  if (!summary) return null;
  const cell = summary.cells.find((x) => x.client === client);
  const ref = summary.cells.find((x) => x.client === reference);
  if (!cell || cell.unavailable !== null || !ref || ref.unavailable !== null) return null;
  const metric = headlineMetric(summary.kind);
  const a = cell.runs.length > 0 ? cell.median[metric] : undefined;
  const b = ref.runs.length > 0 ? ref.median[metric] : undefined;
  const value = a !== undefined && b !== undefined && b > 0 ? a / b : null;
  const fmt = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(0));
  const unit = summary.name === 'files-5k' ? 'files/s' : 'req/s';
  return {
    name,
    scenario: summary.name,
    client,
    value,
    threshold,
    atMost: false,
    pass: value !== null && value >= threshold,
    detail: `${client} ${fmt(a)} vs ${reference} ${fmt(b)} ${unit}`,
  };
}

/** DESIGN.md's performance targets, for every cell this run measured. */
export function targets(summaries: ScenarioSummary[]): Target[] {
  const out: Target[] = [];
  const by = (name: string) => summaries.find((s) => s.name === name);
  const push = (t: Target | null) => {
    if (t) out.push(t);
  };
  for (const s of summaries) {
    if (s.kind !== 'throughput') continue;
    for (const raw of RAW_CLIENTS) push(target(s, raw, 'c', 0.9, false, `${raw} >= 0.9x C (${s.name})`));
  }
  push(target(by('12b-64'), 'client', 'undici', 1.0, false, 'Client >= 1.0x undici (12b-64)'));
  push(target(by('12b-1'), 'client', 'undici', 1.3, false, 'Client >= 1.3x undici (12b-1)'));
  push(target(by('64k-16'), 'client', 'undici', 2.0, false, 'Client >= 2x undici (64k-16)'));
  // @multisock/undici: undici's own APIs on CurlDispatcher against the same calls on undici's Agent.
  push(
    versus(
      by('12b-64'),
      'undici-curl',
      'undici-agent',
      1.0,
      'undici.request on CurlDispatcher >= 1.0x on Agent (12b-64)',
    ),
  );
  push(
    versus(
      by('64k-16'),
      'undici-curl',
      'undici-agent',
      2.0,
      'undici.request on CurlDispatcher >= 2x on Agent (64k-16)',
    ),
  );
  for (const name of ['12b-64', '64k-16', '1m-4', 'h2-100', 'tls-64']) {
    push(
      versus(
        by(name),
        'fetch-curl',
        'fetch-agent',
        1.0,
        `fetch on CurlDispatcher >= 1.0x fetch on Agent (${name})`,
      ),
    );
  }
  const held = by('held-10k');
  for (const client of [...RAW_CLIENTS, 'client'] as ClientId[]) {
    push(target(held, client, 'c', 1.15, true, `${client} held RSS/transfer <= 1.15x C (held-10k)`));
    push(target(held, client, 'undici', 1.0, true, `${client} held RSS/transfer below undici (held-10k)`));
  }
  const files = by('files-5k');
  push(versus(files, 'hiper', 'curl', 1.5, 'hiper >= 1.5x curl --parallel saving 5,000 files (files-5k)'));
  const load = by('load-12b-64');
  push(versus(load, 'hiper', 'autocannon', 1.0, 'hiper load mode >= 1.0x autocannon (load-12b-64)'));
  push(versus(load, 'hiper', 'wrk', 0.8, 'hiper load mode >= 0.8x wrk (load-12b-64)'));
  // "below undici's" is strict.
  for (const t of out) if (t.name.includes('below undici') && t.value !== null) t.pass = t.value < 1;
  return out;
}
