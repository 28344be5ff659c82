#!/usr/bin/env node
// clang-format over every C/C++ source of the workspace: --check fails on any difference,
// --write rewrites the files in place.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const mode = process.argv[2] ?? '--check';
const skip = new Set(['node_modules', 'build', 'dist', 'generated', '.git', '.turbo']);
const files = [];
function walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (skip.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (/\.(c|cc|cpp|h|hh|hpp)$/.test(entry.name)) files.push(path);
  }
}
for (const root of ['packages', 'apps']) walk(root);
if (files.length === 0) process.exit(0);
const args = mode === '--write' ? ['-i', ...files] : ['--dry-run', '--Werror', ...files];
const result = spawnSync('clang-format', args, { stdio: 'inherit' });
if (result.error) {
  console.error(`clang-format: ${result.error.message} (scripts/setup.sh installs it)`);
  process.exit(1);
}
process.exit(result.status ?? 1);
