// A build of the addon is for one libcurl: the one curl-config names (CURL_CONFIG, else the
// system's). Its headers, tables, linked library and generated types must all be that one, also
// after a build for another libcurl in the same tree.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { libcurl } from '@multisock/core';
import { afterAll, describe, expect, it } from 'vitest';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const repo = join(pkg, '..', '..');
const agreement = join(pkg, 'test', 'fixtures', 'agreement.mjs');

/** The absolute path of a curl-config, as the build records it. */
function whichCurlConfig(curlConfig: string | undefined): string {
  if (curlConfig) return curlConfig;
  return execFileSync('sh', ['-c', 'command -v curl-config'], { encoding: 'utf8' }).trim();
}

function curlConfigVersion(curlConfig: string | undefined): string {
  return execFileSync(whichCurlConfig(curlConfig), ['--version'], { encoding: 'utf8' })
    .trim()
    .replace(/^libcurl /, '');
}

describe('the libcurl of a build', () => {
  it('the addon was built for, and loads, the libcurl curl-config names', () => {
    const record = JSON.parse(readFileSync(join(pkg, 'build', 'libcurl.json'), 'utf8'));
    expect(record.curlConfig).toBe(whichCurlConfig(process.env.CURL_CONFIG));
    expect(record.version).toBe(curlConfigVersion(process.env.CURL_CONFIG));
    expect(libcurl.version).toBe(record.version);
  });

  describe('switching libcurl in one tree', () => {
    // The suite runs on the system's libcurl and again with CURL_CONFIG set to libcurl 8
    // (scripts/libcurl8.sh): here each run builds a copy for its own, then for the other one.
    const current = process.env.CURL_CONFIG || undefined;
    const libcurl8 = join(repo, '.libcurl8', 'curl-config');
    const other = current ? undefined : libcurl8;
    const tree = mkdtempSync(join(tmpdir(), 'multisock-core-build-'));
    afterAll(() => rmSync(tree, { recursive: true, force: true }));

    /** A copy of the package's sources and scripts, never built. */
    function copyPackage() {
      const dir = join(tree, 'packages', 'core');
      cpSync(join(repo, 'tsconfig.base.json'), join(tree, 'tsconfig.base.json'));
      symlinkSync(join(repo, 'node_modules'), join(tree, 'node_modules'));
      for (const entry of ['binding.gyp', 'package.json', 'tsconfig.json', 'scripts', 'native', 'src']) {
        cpSync(join(pkg, entry), join(dir, entry), {
          recursive: true,
          filter: (source) => !/[/\\]native[/\\]generated$/.test(source),
        });
      }
      symlinkSync(join(pkg, 'node_modules'), join(dir, 'node_modules'));
      return dir;
    }

    /** The package's own build script, as `pnpm --filter @multisock/core run build` runs it. */
    function build(dir: string, curlConfig: string | undefined) {
      const env = { ...process.env, PATH: `${join(repo, 'node_modules', '.bin')}:${process.env.PATH}` };
      if (curlConfig) env.CURL_CONFIG = curlConfig;
      else delete env.CURL_CONFIG;
      const script = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).scripts.build;
      const result = spawnSync('sh', ['-c', script], { cwd: dir, env, encoding: 'utf8' });
      expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
      return result.stdout;
    }

    /** What the build in `dir` loads and knows, from a process of its own. */
    function inspect(dir: string) {
      const result = spawnSync(process.execPath, [agreement, dir], { encoding: 'utf8' });
      expect(result.status, result.stderr).toBe(0);
      return JSON.parse(result.stdout);
    }

    function agreesWith(version: string) {
      return {
        version,
        typesVersion: version,
        missingOptions: [],
        extraOptions: [],
        unknownInfos: [],
        unknownMultiOptions: [],
        codeMismatches: [],
      };
    }

    it('rebuilds for the new libcurl, and only then', { timeout: 300_000 }, () => {
      if (other === libcurl8 && !existsSync(libcurl8)) {
        throw new Error(`${libcurl8} is missing: run bash scripts/libcurl8.sh fetch (scripts/setup.sh does)`);
      }
      const first = curlConfigVersion(current);
      const second = curlConfigVersion(other);
      expect(second).not.toBe(first);
      const dir = copyPackage();
      const addon = join(dir, 'build', 'Release', 'multisock_core.node');

      build(dir, current);
      expect(inspect(dir)).toEqual(agreesWith(first));

      // The same libcurl again: nothing is compiled or linked again.
      const before = statSync(addon).mtimeMs;
      build(dir, current);
      expect(statSync(addon).mtimeMs).toBe(before);

      build(dir, other);
      expect(inspect(dir)).toEqual(agreesWith(second));
      expect(JSON.parse(readFileSync(join(dir, 'build', 'libcurl.json'), 'utf8'))).toMatchObject({
        curlConfig: whichCurlConfig(other),
        version: second,
      });
    });
  });

  it('a curl-config that cannot run fails the build with a clear message', () => {
    const result = spawnSync(process.execPath, [join(pkg, 'scripts', 'curl-config.mjs'), '--describe'], {
      env: { ...process.env, CURL_CONFIG: join(tmpdir(), 'no-such-dir', 'curl-config') },
      encoding: 'utf8',
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/CURL_CONFIG names \S+no-such-dir\/curl-config, which does not exist/);
    const relative = spawnSync(process.execPath, [join(pkg, 'scripts', 'build.mjs')], {
      env: { ...process.env, CURL_CONFIG: './curl-config' },
      encoding: 'utf8',
    });
    expect(relative.status).toBe(1);
    expect(relative.stderr).toContain(
      "CURL_CONFIG must be an absolute path or a command name, got './curl-config'",
    );
  });
});
