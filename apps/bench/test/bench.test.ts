// The bench as a user runs it: `--quick` with a couple of clients, then the JSON it wrote must
// hold every requested cell with positive figures, the machine facts and the chart.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { libcurl } from '@multisock/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const SCENARIOS = ['12b-64', 'held-10k'];
const CLIENTS = ['c', 'raw-libuv', 'undici'];

interface Cell {
  client: string;
  runs: unknown[];
  failures: string[];
  unavailable: string | null;
  errors: number;
  median: Record<string, number>;
  ratioToC: number | null;
}

interface Results {
  machine: { cpuModel: string; cores: number; node: string; libcurl: string; date: string };
  settings: { quick: boolean; runs: number };
  scenarios: Array<{ name: string; kind: string; cells: Cell[] }>;
  targets: Array<{ name: string; pass: boolean; value: number | null }>;
}

let out: string;
let results: Results;
let printed: string;

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'multisock-bench-test-'));
  const { stdout } = await run(
    process.execPath,
    [
      MAIN,
      '--quick',
      '--scenario',
      SCENARIOS.join(','),
      '--client',
      CLIENTS.join(','),
      '--held',
      '500',
      '--out',
      out,
    ],
    { timeout: 80_000, maxBuffer: 16 * 1024 * 1024 },
  );
  printed = stdout;
  results = JSON.parse(await readFile(join(out, 'bench-results.json'), 'utf8')) as Results;
}, 90_000);

afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe('pnpm bench --quick', () => {
  it('records the machine, the date and the settings', () => {
    expect(results.machine.cores).toBeGreaterThan(0);
    expect(results.machine.cpuModel).not.toBe('');
    expect(results.machine.node).toBe(process.version);
    // The libcurl multisock loads (CURL_CONFIG picks another one), and the C program links it too.
    expect(results.machine.libcurl).toBe(`libcurl ${libcurl.version}`);
    const cRuns = results.scenarios.flatMap((s) =>
      s.cells.filter((c) => c.client === 'c').flatMap((c) => c.runs),
    );
    expect(cRuns.length).toBeGreaterThan(0);
    for (const run of cRuns) expect(run).toMatchObject({ libcurl: libcurl.version });
    expect(Number.isNaN(Date.parse(results.machine.date))).toBe(false);
    expect(results.settings).toMatchObject({ quick: true, runs: 1 });
  });

  it('measured every requested cell with positive figures and no failed transfer', () => {
    expect(results.scenarios.map((s) => s.name)).toEqual(SCENARIOS);
    for (const scenario of results.scenarios) {
      expect(scenario.cells.map((c) => c.client).sort()).toEqual([...CLIENTS].sort());
      for (const cell of scenario.cells) {
        const where = `${scenario.name}/${cell.client}`;
        expect(cell.unavailable, where).toBeNull();
        expect(cell.failures, where).toEqual([]);
        expect(cell.runs.length, where).toBe(1);
        expect(cell.errors, where).toBe(0);
        const metric = scenario.kind === 'held' ? 'rssPerTransferKiB' : 'reqPerSec';
        expect(cell.median[metric], where).toBeGreaterThan(0);
        expect(cell.ratioToC, where).toBeGreaterThan(0);
      }
    }
  });

  it('judges the targets that involve the measured clients', () => {
    const names = results.targets.map((t) => t.name);
    expect(names).toContain('raw-libuv >= 0.9x C (12b-64)');
    expect(names).toContain('raw-libuv held RSS/transfer <= 1.15x C (held-10k)');
    for (const t of results.targets) expect(t.value).toBeGreaterThan(0);
  });

  it('prints the table and writes the chart', async () => {
    expect(printed).toMatch(/\| 12b-64 \| C: libcurl multi-socket \+ epoll \| [\d,]+ \|/);
    expect(printed).toMatch(/PASS|SHORT/);
    const svg = await readFile(join(out, 'bench-results.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('undici 7 Pool.request');
  });
});
