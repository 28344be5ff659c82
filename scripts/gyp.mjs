#!/usr/bin/env node
// Runs node-gyp for the package in the current directory against the running Node's own
// headers. pnpm does not pass npm's `nodedir` on, and node-gyp would otherwise try to download
// headers, which this kind of machine cannot do.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const nodeGyp = join(dirname(require.resolve('node-gyp/package.json')), 'bin', 'node-gyp.js');

function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = dirname(dirname(process.execPath));
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) return prefix;
  throw new Error(
    `no Node headers under ${prefix}/include/node; set npm_config_nodedir to a Node source or headers tree`,
  );
}

const args = process.argv.slice(2);
const result = spawnSync(
  process.execPath,
  [nodeGyp, ...(args.length ? args : ['rebuild']), `--nodedir=${nodeDir()}`, '--jobs=max'],
  {
    stdio: 'inherit',
  },
);
process.exit(result.status ?? 1);
