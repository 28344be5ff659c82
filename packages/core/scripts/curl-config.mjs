#!/usr/bin/env node
// Compiler and linker flags for libcurl, from curl-config. CURL_CONFIG names another curl-config
// (a libcurl 8.x tree, say). Debian's curl-config prints no -I for its multiarch include
// directory, so --include-dir searches the compiler's own paths when curl-config gives none.
// describeLibcurl() is what a build records: which curl-config, headers and library it used.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

/** curl-config cannot be run, says something unusable, or disagrees with its own headers. */
export class CurlConfigError extends Error {
  name = 'CurlConfigError';
}

/** CURL_CONFIG if set (an absolute path, or a command name looked up in PATH), else curl-config. */
export function curlConfigCommand() {
  const named = process.env.CURL_CONFIG;
  if (!named) return 'curl-config';
  if (!named.includes('/')) return named;
  // A relative path would mean something else in every package's directory.
  if (!isAbsolute(named)) {
    throw new CurlConfigError(`CURL_CONFIG must be an absolute path or a command name, got '${named}'`);
  }
  if (!existsSync(named)) throw new CurlConfigError(`CURL_CONFIG names ${named}, which does not exist`);
  return named;
}

function ask(flag) {
  const command = curlConfigCommand();
  try {
    return execFileSync(command, [flag], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (error) {
    const why = error.code === 'ENOENT' ? 'not found' : `failed (${error.message.split('\n')[0]})`;
    throw new CurlConfigError(
      `${command} ${flag} ${why}: install libcurl4-openssl-dev (scripts/setup.sh does) or set CURL_CONFIG`,
    );
  }
}

function gccMultiarch() {
  try {
    return execFileSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

export function curlIncludeDir() {
  for (const flag of ask('--cflags').split(/\s+/)) {
    if (flag.startsWith('-I') && existsSync(join(flag.slice(2), 'curl', 'curl.h'))) return flag.slice(2);
  }
  const prefix = ask('--prefix');
  const candidates = [join(prefix, 'include')];
  const triplet = gccMultiarch();
  if (triplet) candidates.unshift(join(prefix, 'include', triplet));
  candidates.push('/usr/local/include', '/usr/include');
  const found = candidates.find((dir) => existsSync(join(dir, 'curl', 'curl.h')));
  if (!found) throw new CurlConfigError(`curl/curl.h not found under ${candidates.join(', ')}`);
  return found;
}

/** The version the headers declare (LIBCURL_VERSION in curl/curlver.h). */
export function headerVersion(includeDir) {
  const text = readFileSync(join(includeDir, 'curl', 'curlver.h'), 'utf8');
  const match = /^#define LIBCURL_VERSION "([^"]+)"/m.exec(text);
  if (!match) throw new CurlConfigError(`no LIBCURL_VERSION in ${join(includeDir, 'curl', 'curlver.h')}`);
  return match[1];
}

/** The libcurl.so the linker takes for these flags: the first -L directory holding one, else the
 * compiler's own search path. */
function linkedLibrary(libs) {
  const dirs = libs
    .split(/\s+/)
    .filter((flag) => flag.startsWith('-L'))
    .map((flag) => flag.slice(2));
  for (const dir of dirs) {
    const file = join(dir, 'libcurl.so');
    if (existsSync(file)) return realpathSync(file);
  }
  try {
    const file = execFileSync('gcc', ['-print-file-name=libcurl.so'], { encoding: 'utf8' }).trim();
    if (isAbsolute(file) && existsSync(file)) return realpathSync(file);
  } catch {}
  return null;
}

/**
 * Everything about the libcurl a build compiles and links against. Two builds with equal
 * descriptions use the same headers and the same library; any difference means a new build.
 */
export function describeLibcurl() {
  const command = curlConfigCommand();
  let curlConfig = command;
  if (!isAbsolute(command)) {
    try {
      curlConfig = execFileSync('sh', ['-c', 'command -v "$0"', command], { encoding: 'utf8' }).trim();
    } catch {
      throw new CurlConfigError(
        `${command} not found: install libcurl4-openssl-dev (scripts/setup.sh does) or set CURL_CONFIG`,
      );
    }
  }
  const cflags = ask('--cflags');
  const libs = ask('--libs');
  const prefix = ask('--prefix');
  const reported = ask('--version').replace(/^libcurl\s+/, '');
  const includeDir = curlIncludeDir();
  const headers = headerVersion(includeDir);
  if (reported !== headers) {
    throw new CurlConfigError(
      `${curlConfig} says libcurl ${reported}, but the headers it points at (${includeDir}) are ${headers}`,
    );
  }
  return {
    curlConfig: resolve(curlConfig),
    version: headers,
    prefix,
    cflags,
    libs,
    includeDir,
    library: linkedLibrary(libs),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const flag = process.argv[2];
  try {
    if (flag === '--cflags') console.log(ask('--cflags'));
    else if (flag === '--libs') console.log(ask('--libs'));
    else if (flag === '--include-dir') console.log(curlIncludeDir());
    else if (flag === '--describe') console.log(JSON.stringify(describeLibcurl(), null, 1));
    else {
      console.error('usage: curl-config.mjs --cflags | --libs | --include-dir | --describe');
      process.exit(2);
    }
  } catch (error) {
    if (!(error instanceof CurlConfigError)) throw error;
    console.error(`curl-config: ${error.message}`);
    process.exit(1);
  }
}
