#!/usr/bin/env node
// Adds up the vitest JSON reports (test-results.json) of every package into the one line CI
// reads: "N passed, N failed". No other line it prints has that shape.
//   node scripts/test-summary.mjs                     the reports the packages hold now
//   node scripts/test-summary.mjs --save DIR --label L [--status N]
//                                                     moves them into DIR as one run, labelled L
//                                                     (N: the exit status of that run)
//   node scripts/test-summary.mjs --total DIR...      the line for every run saved in those DIRs
// A package with a test script but no report counts as one failure (its tests never ran), a
// test file that failed outside its tests (an import, a hook) as one, and a run that exited
// non-zero with no failure counted as one. Exits 1 when anything failed or nothing was tested.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

class UsageError extends Error {}

/** Every package and app with a test script, as "group/name". */
function testedPackages() {
  const names = [];
  for (const group of ['packages', 'apps']) {
    if (!existsSync(group)) continue;
    for (const name of readdirSync(group).sort()) {
      const manifest = join(group, name, 'package.json');
      if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).scripts?.test) {
        names.push(`${group}/${name}`);
      }
    }
  }
  return names;
}

/** One package's counts from its vitest report (null: no report). */
function countReport(name, report) {
  if (report === null) {
    return { name, passed: 0, failed: 1, skipped: 0, failures: ['no report: its tests did not run'] };
  }
  const failures = [];
  for (const file of report.testResults) {
    const where = relative(join(process.cwd(), name), file.name);
    const failedTests = file.assertionResults.filter((a) => a.status === 'failed');
    for (const test of failedTests) {
      const first = (test.failureMessages[0] ?? '').split('\n')[0];
      failures.push(`${where} > ${test.fullName}: ${first}`);
    }
    if (file.status === 'failed' && failedTests.length === 0) {
      failures.push(`${where}: ${file.message.split('\n')[0] || 'failed outside its tests'}`);
    }
  }
  return {
    name,
    passed: report.numPassedTests,
    failed: failures.length,
    skipped: report.numPendingTests + report.numTodoTests,
    failures,
  };
}

function readRun(reports, label, status) {
  const packages = testedPackages().map((name) => {
    const file = reports(name);
    return countReport(name, existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null);
  });
  const counted = packages.reduce((sum, p) => sum + p.failed, 0);
  const run = { label, status, packages, extraFailures: [] };
  if (status !== 0 && counted === 0) {
    run.extraFailures.push(`the run exited ${status} with no failed test (an unhandled error?)`);
  }
  return run;
}

const totals = (run) => ({
  passed: run.packages.reduce((sum, p) => sum + p.passed, 0),
  failed: run.packages.reduce((sum, p) => sum + p.failed, 0) + run.extraFailures.length,
  skipped: run.packages.reduce((sum, p) => sum + p.skipped, 0),
});

function printRun(run) {
  const prefix = run.label ? `${run.label}  ` : '';
  const width = Math.max(...run.packages.map((p) => p.name.length));
  for (const p of run.packages) {
    const flags = [`${String(p.passed).padStart(4)} ok`];
    if (p.failed) flags.push(`${p.failed} FAILED`);
    if (p.skipped) flags.push(`${p.skipped} skipped`);
    console.log(`${prefix}${p.name.padEnd(width)} ${flags.join('  ')}`);
    for (const failure of p.failures) console.log(`    FAILED ${failure}`);
  }
  for (const failure of run.extraFailures) console.log(`${prefix}FAILED ${failure}`);
  const t = totals(run);
  console.log(
    `${prefix}total: ${t.passed} ok, ${t.failed} FAILED${t.skipped ? `, ${t.skipped} skipped` : ''}${run.label ? ` (exit status ${run.status})` : ''}`,
  );
}

function printTotal(runs) {
  const sum = runs
    .map(totals)
    .reduce((a, b) => ({ passed: a.passed + b.passed, failed: a.failed + b.failed }), {
      passed: 0,
      failed: 0,
    });
  console.log(`${sum.passed} passed, ${sum.failed} failed`);
  return sum.failed === 0 && sum.passed > 0 ? 0 : 1;
}

function main() {
  const { values, positionals } = parseArgs({
    options: {
      save: { type: 'string' },
      label: { type: 'string' },
      status: { type: 'string' },
      total: { type: 'boolean' },
    },
    allowPositionals: true,
  });
  const status = values.status === undefined ? 0 : Number(values.status);
  if (!Number.isInteger(status))
    throw new UsageError(`--status wants an exit status, got '${values.status}'`);
  const packageReport = (name) => join(name, 'test-results.json');
  // Folders are named from where the command runs; packages from the repository's root.
  const save = values.save === undefined ? undefined : resolve(values.save);
  const dirs = positionals.map((dir) => resolve(dir));
  process.chdir(join(dirname(fileURLToPath(import.meta.url)), '..'));

  if (save !== undefined) {
    if (!values.label) throw new UsageError('--save wants a --label for the run');
    if (positionals.length > 0) throw new UsageError(`unexpected ${positionals.join(' ')}`);
    const run = readRun(packageReport, values.label, status);
    mkdirSync(save, { recursive: true });
    for (const name of testedPackages()) {
      const file = packageReport(name);
      if (existsSync(file)) renameSync(file, join(save, `${name.replace('/', '-')}.json`));
    }
    writeFileSync(join(save, 'run.json'), `${JSON.stringify(run, null, 1)}\n`);
    printRun(run);
    return totals(run).failed === 0 ? 0 : 1;
  }
  if (values.total) {
    if (dirs.length === 0) throw new UsageError('--total wants the folders of saved runs');
    const runs = dirs.map((dir) => {
      const file = join(dir, 'run.json');
      if (!existsSync(file)) throw new UsageError(`${dir} holds no saved run (no run.json)`);
      return JSON.parse(readFileSync(file, 'utf8'));
    });
    for (const run of runs) {
      const t = totals(run);
      console.log(
        `${run.label}: ${t.passed} ok, ${t.failed} FAILED${t.skipped ? `, ${t.skipped} skipped` : ''}`,
      );
    }
    return printTotal(runs);
  }
  if (values.label !== undefined || positionals.length > 0) {
    throw new UsageError('usage: test-summary.mjs [--save DIR --label L [--status N] | --total DIR...]');
  }
  const run = readRun(packageReport, '', status);
  printRun(run);
  return printTotal([run]);
}

try {
  process.exit(main());
} catch (error) {
  if (!(error instanceof UsageError || error.code?.startsWith('ERR_PARSE_ARGS'))) throw error;
  console.error(`test-summary: ${error.message}`);
  process.exit(2);
}
