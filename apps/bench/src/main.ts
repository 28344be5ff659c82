// pnpm bench: every scenario, every client, medians of several runs, one table, one JSON, one
// SVG chart. See README.md for what each scenario means.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type CertificateSet, makeCertificates } from '@multisock/testkit/servers';
import {
  type AnyResult,
  addRatios,
  targets as computeTargets,
  type ScenarioSummary,
  summarizeCell,
} from './aggregate.js';
import { runGateway } from './gateway-runner.js';
import { machineFacts } from './machine.js';
import { hardFileLimit } from './process.js';
import { fullReport } from './report.js';
import { type Outcome, runCell } from './runner.js';
import { SCENARIOS, type Scenario } from './scenarios.js';
import { startServer } from './server-control.js';
import { chart } from './svg.js';
import { runTool } from './tool-runner.js';
import { CLIENT_IDS, type ClientId } from './types.js';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

const USAGE = `usage: node dist/main.js [--quick] [--scenario NAME[,NAME]] [--client NAME[,NAME]]
                         [--runs N] [--duration-ms N] [--held N] [--out DIR]

  --quick        a short smoke run: 1 run per cell, 300 ms per run, 1,000 held transfers
  --scenario     only these scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}
  --client       only these clients: ${CLIENT_IDS.join(', ')}
  --runs         runs per cell (default 3; the table shows medians)
  --duration-ms  how long each throughput run issues requests (default 1500)
  --held         transfers held open at once in held-10k (default 10000)
  --out          where bench-results.json and bench-results.svg go (default apps/bench)`;

interface Settings {
  quick: boolean;
  scenarios: Scenario[];
  clients: Set<ClientId>;
  runs: number;
  durationMs: number;
  heldCount: number;
  outDir: string;
}

function list(values: string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`--${name} must be a positive integer, got ${JSON.stringify(text)}`);
  return n;
}

function parse(argv: string[]): Settings | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      scenario: { type: 'string', multiple: true },
      client: { type: 'string', multiple: true },
      runs: { type: 'string' },
      'duration-ms': { type: 'string' },
      held: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return null;
  const quick = values.quick ?? false;
  const names = list(values.scenario);
  for (const name of names) {
    if (!SCENARIOS.some((s) => s.name === name)) {
      throw new RangeError(
        `--scenario: unknown scenario ${JSON.stringify(name)} (one of ${SCENARIOS.map((s) => s.name).join(', ')})`,
      );
    }
  }
  const clients = list(values.client);
  for (const name of clients) {
    if (!(CLIENT_IDS as readonly string[]).includes(name)) {
      throw new RangeError(
        `--client: unknown client ${JSON.stringify(name)} (one of ${CLIENT_IDS.join(', ')})`,
      );
    }
  }
  return {
    quick,
    scenarios: names.length > 0 ? SCENARIOS.filter((s) => names.includes(s.name)) : [...SCENARIOS],
    clients: new Set((clients.length > 0 ? clients : CLIENT_IDS) as ClientId[]),
    runs: positiveInt('runs', values.runs, quick ? 1 : 3),
    durationMs: positiveInt('duration-ms', values['duration-ms'], quick ? 300 : 1500),
    heldCount: positiveInt('held', values.held, quick ? 1000 : 10_000),
    outDir: values.out ?? PACKAGE_DIR,
  };
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Compiles c/multi-epoll.c with the flags curl-config gives (one flag per call), from the
 * curl-config the core was built with (CURL_CONFIG), so that C and multisock link one libcurl. */
function compileC(outDir: string): string | null {
  const flag = (f: string) => {
    try {
      return execFileSync(process.env.CURL_CONFIG || 'curl-config', [f], { encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  };
  const output = join(outDir, 'multi-epoll');
  const args = ['-O2', '-Wall', '-Wextra', '-o', output, join(PACKAGE_DIR, 'c', 'multi-epoll.c')];
  const cflags = flag('--cflags');
  const libs = flag('--libs') || '-lcurl';
  try {
    execFileSync(
      'cc',
      [...args, ...cflags.split(/\s+/).filter(Boolean), ...libs.split(/\s+/).filter(Boolean)],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    return output;
  } catch (error) {
    log(
      `bench: the C program did not compile: ${(error as { stderr?: Buffer }).stderr?.toString() ?? String(error)}`,
    );
    return null;
  }
}

/**
 * libcurl 7.88.0 and 7.88.1 fail every request that reuses an HTTP/2 prior-knowledge (h2c)
 * connection with CURLE_HTTP2 (curl issue 10634, fixed in 8.0.0): with them the HTTP/2 scenario
 * runs h2 over TLS (ALPN), still 100 streams on one connection.
 */
function h2OverTls(): boolean {
  try {
    const vernum = Number.parseInt(
      execFileSync('curl-config', ['--vernum'], { encoding: 'utf8' }).trim(),
      16,
    );
    return vernum >= 0x075800 && vernum < 0x075900;
  } catch {
    return false;
  }
}

function describeRun(outcome: Outcome): string {
  if (outcome.kind !== 'result') return `${outcome.kind}: ${outcome.reason}`;
  const r = outcome.result;
  const errors = r.errors > 0 ? `, ${r.errors} bad answers` : '';
  if (r.mode === 'held')
    return `${r.rssPerTransferKiB.toFixed(1)} KiB/transfer, ${r.cpuMs.toFixed(0)} ms CPU${errors}`;
  return `${Math.round(r.reqPerSec).toLocaleString('en-US')} req/s${errors}`;
}

async function main(): Promise<number> {
  const settings = parse(process.argv.slice(2));
  if (settings === null) {
    console.log(USAGE);
    return 0;
  }
  const machine = machineFacts();
  const work = mkdtempSync(join(tmpdir(), 'multisock-bench-'));
  const started = Date.now();
  try {
    const needsC = settings.clients.has('c');
    const cProgram = needsC ? compileC(work) : null;
    const h2Tls = h2OverTls();
    const needsTls = settings.scenarios.some((s) => s.protocol === 'https' || (s.protocol === 'h2' && h2Tls));
    const certs: CertificateSet | null = needsTls ? await makeCertificates(work) : null;
    // Each side needs one fd per held transfer, plus a margin for everything else.
    const heldCount = Math.min(settings.heldCount, hardFileLimit() - 256);
    if (heldCount < settings.heldCount) log(`bench: the open-file limit allows ${heldCount} held transfers`);

    const summaries: ScenarioSummary[] = [];
    for (const scenario of settings.scenarios) {
      const clients = scenario.clients.filter((c) => settings.clients.has(c));
      if (clients.length === 0) continue;
      log(`bench: ${scenario.name}: ${scenario.title}`);
      const server = await startServer(certs);
      const runs = new Map<ClientId, AnyResult[]>(clients.map((c) => [c, []]));
      const failures = new Map<ClientId, string[]>(clients.map((c) => [c, []]));
      const unavailable = new Map<ClientId, string>();
      try {
        // Runs interleaved (every client once, then again) so drift hits every client alike.
        for (let run = 1; run <= settings.runs; run++) {
          for (const client of clients) {
            if (unavailable.has(client)) continue;
            const ctx = {
              ports: server.ports,
              caPath: certs?.caCertPath ?? null,
              cProgram,
              durationMs: settings.durationMs,
              heldCount,
              h2OverTls: h2Tls,
            };
            const outcome =
              scenario.kind === 'gateway'
                ? await runGateway(client, server.ports, {
                    connections: scenario.inflight,
                    warmupS: settings.quick ? 0.3 : 1,
                    durationS: settings.quick ? 1 : 3,
                  })
                : scenario.kind === 'tool'
                  ? await runTool(scenario, client, { ...ctx, work })
                  : await runCell(scenario, client, ctx);
            log(`  run ${run} ${client.padEnd(12)} ${describeRun(outcome)}`);
            if (outcome.kind === 'result') runs.get(client)!.push(outcome.result);
            else if (outcome.kind === 'unavailable') unavailable.set(client, outcome.reason);
            else failures.get(client)!.push(outcome.reason);
          }
        }
      } finally {
        await server.close();
      }
      const summary: ScenarioSummary = {
        name: scenario.name,
        title:
          scenario.protocol === 'h2'
            ? `${scenario.title} (${h2Tls ? 'h2 over TLS: libcurl 7.88 cannot reuse h2c connections, curl #10634' : 'h2c, prior knowledge'})`
            : scenario.title,
        kind: scenario.kind,
        inflight: scenario.kind === 'held' ? heldCount : scenario.inflight,
        cells: clients.map((c) =>
          summarizeCell(scenario, c, runs.get(c)!, failures.get(c)!, unavailable.get(c) ?? null),
        ),
      };
      addRatios(summary);
      summaries.push(summary);
    }

    const targets = computeTargets(summaries);
    const report = fullReport(machine, summaries, targets, settings.runs);
    console.log(report);
    const seconds = (Date.now() - started) / 1000;
    const json = {
      machine,
      settings: {
        quick: settings.quick,
        runs: settings.runs,
        durationMs: settings.durationMs,
        heldCount,
        scenarios: settings.scenarios.map((s) => s.name),
        clients: [...settings.clients],
      },
      seconds,
      scenarios: summaries,
      targets,
    };
    mkdirSync(settings.outDir, { recursive: true });
    writeFileSync(join(settings.outDir, 'bench-results.json'), `${JSON.stringify(json, null, 2)}\n`);
    writeFileSync(join(settings.outDir, 'bench-results.svg'), chart(machine, summaries, settings.runs));
    log(
      `bench: done in ${seconds.toFixed(0)} s; wrote bench-results.json and bench-results.svg to ${settings.outDir}`,
    );
    return 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
