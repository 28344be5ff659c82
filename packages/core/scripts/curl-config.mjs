#!/usr/bin/env node
// Compiler and linker flags for libcurl, from curl-config. CURL_CONFIG names another curl-config
// (a libcurl 8.x tree, say). Debian's curl-config prints no -I for its multiarch include
// directory, so --include-dir searches the compiler's own paths when curl-config gives none.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const curlConfig = process.env.CURL_CONFIG || 'curl-config';

function ask(flag) {
  try {
    return execFileSync(curlConfig, [flag], { encoding: 'utf8' }).trim();
  } catch {
    console.error(
      `${curlConfig} ${flag} failed: install libcurl4-openssl-dev (scripts/setup.sh does) or set CURL_CONFIG`,
    );
    process.exit(1);
  }
}

export function curlIncludeDir() {
  for (const flag of ask('--cflags').split(/\s+/)) {
    if (flag.startsWith('-I') && existsSync(join(flag.slice(2), 'curl', 'curl.h'))) return flag.slice(2);
  }
  const prefix = ask('--prefix');
  const candidates = [join(prefix, 'include')];
  try {
    const triplet = execFileSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).trim();
    if (triplet) candidates.unshift(join(prefix, 'include', triplet));
  } catch {}
  candidates.push('/usr/local/include', '/usr/include');
  const found = candidates.find((dir) => existsSync(join(dir, 'curl', 'curl.h')));
  if (!found) throw new Error(`curl/curl.h not found under ${candidates.join(', ')}`);
  return found;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const flag = process.argv[2];
  if (flag === '--cflags') console.log(ask('--cflags'));
  else if (flag === '--libs') console.log(ask('--libs'));
  else if (flag === '--include-dir') console.log(curlIncludeDir());
  else {
    console.error('usage: curl-config.mjs --cflags | --libs | --include-dir');
    process.exit(2);
  }
}
