// The packages install as a user gets them: each workspace package is packed with `pnpm pack`
// (which turns `workspace:` ranges into versions), the tarballs are installed with npm into a
// scratch project in the OS's temporary folder, outside the workspace, where the install scripts
// build every native part from source (the system's libcurl, the running Node's headers through
// @multisock/gyp). Then the core README's first program runs there against a local server, and
// so does `hiper --help`. Only the npm registry is reached, for the packages' own dependencies.
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type TestServer } from '../src/index.js';
import { extractBlocks } from './readme-blocks.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Every package a user can install: packages/*, and the hiper CLI. */
const packageDirs = [
  ...readdirSync(join(root, 'packages'))
    .sort()
    .map((name) => `packages/${name}`),
  'apps/hiper',
].filter((dir) => existsSync(join(root, dir, 'package.json')));

/** The native addons the install must have built on Linux (kqueue's target is `none` here). */
const addons = [
  '@multisock/core/build/Release/multisock_core.node',
  '@multisock/libuv-bindings/build/Release/libuv_bindings.node',
  '@multisock/adapter-libuv/build/Release/multisock_libuv.node',
  '@multisock/adapter-epoll/build/Release/multisock_epoll.node',
];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Run> {
  return new Promise((done) => {
    execFile(command, args, { cwd, env, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

/** The environment without what pnpm passes to its scripts (npm_config_*, npm_package_*, ...),
 * so npm in the scratch project runs as a user's would. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(npm|pnpm)_/i.test(key) || key === 'npm_config_nodedir') env[key] = value;
  }
  return env;
}

describe('packed packages', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'multisock-pack-'));
  const tarballs = join(scratch, 'tarballs');
  const project = join(scratch, 'project');
  let server: TestServer;

  beforeAll(async () => {
    server = await startHttpServer();
  });
  afterAll(async () => {
    await server?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('pack, install with npm outside the workspace, build the addons from source, run', {
    timeout: 600_000,
  }, async () => {
    mkdirSync(tarballs);
    for (const dir of packageDirs) {
      const packed = await run('pnpm', ['pack', '--pack-destination', tarballs], join(root, dir));
      expect(packed.code, `pnpm pack in ${dir}: ${packed.stderr}`).toBe(0);
    }
    const files = readdirSync(tarballs).filter((f) => f.endsWith('.tgz'));
    expect(files).toHaveLength(packageDirs.length);

    // What each package.json's `files` lists exists in its tarball, and no workspace: range is left.
    for (const dir of packageDirs) {
      const manifest = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
      const tgz = `${manifest.name.replace(/^@/, '').replace('/', '-')}-${manifest.version}.tgz`;
      const listed = await run('tar', ['tzf', join(tarballs, tgz)], scratch);
      expect(listed.code, listed.stderr).toBe(0);
      const entries = listed.stdout.split('\n').map((e) => e.replace(/^package\//, ''));
      for (const entry of (manifest.files ?? []) as string[]) {
        if (entry.startsWith('!')) continue;
        const pattern = new RegExp(`^${entry.replace(/\./g, '\\.').replace(/\*/g, '[^/]*')}(/|$)`);
        expect(
          entries.some((e) => pattern.test(e)),
          `${dir}: "files" lists ${entry}, not in the tarball`,
        ).toBe(true);
      }
      const packedManifest = await run('tar', ['xzOf', join(tarballs, tgz), 'package/package.json'], scratch);
      expect(packedManifest.stdout, `${dir}: a workspace: range in the packed package.json`).not.toContain(
        'workspace:',
      );
    }

    mkdirSync(project);
    writeFileSync(
      join(project, 'package.json'),
      `${JSON.stringify({ name: 'scratch', private: true, type: 'module' })}\n`,
    );
    // --legacy-peer-deps: the peers (vitest for testkit, undici for @multisock/undici) are not
    // needed to run what runs here.
    // At the lowest CPU priority: the native compiles use every core, and the suite's timing
    // checks run beside this test.
    const installed = await run(
      'nice',
      [
        '-n',
        '19',
        'npm',
        'install',
        '--no-audit',
        '--no-fund',
        '--legacy-peer-deps',
        '--foreground-scripts',
        ...files.map((f) => join(tarballs, f)),
      ],
      project,
      userEnv(),
    );
    expect(installed.code, `npm install:\n${installed.stdout}\n${installed.stderr}`).toBe(0);
    for (const addon of addons) {
      expect(existsSync(join(project, 'node_modules', addon)), `${addon} was not built`).toBe(true);
    }

    // The core README's first program, with its address on the local server.
    const core = readFileSync(join(root, 'packages/core/README.md'), 'utf8');
    const first = extractBlocks('packages/core/README.md', core).find((b) => b.fragment === null);
    expect(first, 'the core README has a program').toBeDefined();
    const code = first!.code.replace(/http:\/\/127\.0\.0\.1:8080\//g, `${server.url}/small`);
    const js = ts.transpileModule(code, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    writeFileSync(join(project, 'example.mjs'), js);
    const example = await run(process.execPath, ['example.mjs'], project);
    expect({ code: example.code, stderr: example.stderr }).toEqual({ code: 0, stderr: '' });
    expect(example.stdout).toBe('200 hello world\n\n');

    const help = await run(join(project, 'node_modules', '.bin', 'hiper'), ['--help'], project);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^usage: hiper /);
  });
});
