#!/usr/bin/env node
// Builds the addon against the libcurl that curl-config names (CURL_CONFIG, or the system's), so
// that the tables, the compiled code, the linked library and the generated types all come from
// that one libcurl.
//
// node-gyp bakes curl-config's flags into build/ when it configures, and configures only once: a
// build after CURL_CONFIG changed used to compile and link with the old flags against tables
// generated from the new headers. So build/libcurl.json records the libcurl a configuration is
// for, and any difference (curl-config, flags, prefix, include directory, header version,
// library file) throws build/ away and configures again. An unchanged libcurl rebuilds nothing.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CurlConfigError, describeLibcurl } from './curl-config.mjs';
import { generateTables } from './gen-tables.mjs';
import { generateTypes } from './gen-types.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const build = join(root, 'build');
const recordFile = join(build, 'libcurl.json');
// node-gyp against the running Node's headers: @multisock/gyp, a dependency of this package.
const gyp = createRequire(import.meta.url).resolve('@multisock/gyp');

/** The addon loads another libcurl than the one whose headers it was compiled against. */
class LibcurlMismatchError extends Error {
  name = 'LibcurlMismatchError';
}

function readRecord() {
  try {
    return JSON.parse(readFileSync(recordFile, 'utf8'));
  } catch {
    return null;
  }
}

const describe = (l) =>
  `libcurl ${l.version} (${l.curlConfig}, headers ${l.includeDir}, library ${l.library})`;

function runGyp(args) {
  const result = spawnSync(process.execPath, [gyp, ...args], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

function main() {
  const libcurl = describeLibcurl();
  const previous = readRecord();
  const configured = previous !== null && JSON.stringify(previous) === JSON.stringify(libcurl);
  if (!configured && existsSync(build)) {
    console.log(
      previous
        ? `build: was ${describe(previous)}, now ${describe(libcurl)}: building again from scratch`
        : `build: build/ records no libcurl: building again from scratch for ${describe(libcurl)}`,
    );
    rmSync(build, { recursive: true, force: true });
  }
  generateTables(libcurl.includeDir);
  if (!configured) {
    runGyp(['configure']);
    writeFileSync(recordFile, `${JSON.stringify(libcurl, null, 1)}\n`);
  }
  runGyp([]);

  const addon = createRequire(import.meta.url)(join(build, 'Release', 'multisock_core.node'));
  if (addon.libcurl.version !== libcurl.version) {
    throw new LibcurlMismatchError(
      `the addon was compiled against the headers of libcurl ${libcurl.version} (${libcurl.includeDir}) ` +
        `but loads libcurl ${addon.libcurl.version}: the dynamic loader did not take ${libcurl.library} ` +
        `(is LD_LIBRARY_PATH set, or does ${libcurl.curlConfig} --libs lack an rpath?)`,
    );
  }
  const counts = generateTypes(addon);
  console.log(
    `build: ${describe(libcurl)}; types for ${counts.easy} easy options, ${counts.infos} infos, ${counts.multi} multi options`,
  );
}

try {
  main();
} catch (error) {
  if (!(error instanceof CurlConfigError || error instanceof LibcurlMismatchError)) throw error;
  console.error(`build: ${error.message}`);
  process.exit(1);
}
