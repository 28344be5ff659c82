#!/usr/bin/env node
// Builds the native addon of the package in the current directory with node-gyp, against the
// running Node's own headers: pnpm does not pass npm's `nodedir` on, and node-gyp would otherwise
// try to download headers, which this kind of machine cannot do.
//
// With no arguments: configure once, then an incremental build (so `install` and `build` can both
// call it cheaply). Any arguments are passed to node-gyp as they are (`rebuild`, `clean`, ...).
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

function run(args) {
  const result = spawnSync(
    process.execPath,
    [nodeGyp, ...args, `--nodedir=${nodeDir()}`, '--jobs=max', '--loglevel=warn'],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  if (result.status !== 0) process.exit(result.status ?? 1);
}

const args = process.argv.slice(2);
if (args.length > 0) {
  run(args);
} else {
  if (!existsSync(join('build', 'Makefile')) && !existsSync(join('build', 'config.gypi'))) run(['configure']);
  run(['build']);
}
