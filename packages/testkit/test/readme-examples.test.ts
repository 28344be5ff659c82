// README examples are tests. Every fenced ```ts, ```typescript or ```js block of every README.md in
// the repository either runs here, or is marked as a fragment.
//
// The marker: an HTML comment `<!-- fragment: why -->` (the reason is required) on the line right
// before the opening fence. A fragment is a signature, a loop body, or code that continues another
// block; it is not run. Anything else is a whole program: its types are stripped (TypeScript's
// transpileModule, as Node 20 runs no TypeScript), the addresses the READMEs use
// (127.0.0.1:8080, :9001, :9002, example.com) are rewritten to real servers started here, and it
// runs with node against the built packages from its README's own package folder, so that package
// and its dependencies resolve as they do for a user. It must exit 0, and what it prints must
// match `printed` below (a block that prints has an entry there).
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type TestServer } from '../src/index.js';
import { type Block, extractBlocks } from './readme-blocks.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const readmes = ['README.md', ...['packages', 'apps'].flatMap((dir) => listReadmes(dir))];

function listReadmes(dir: string): string[] {
  return readdirSync(join(root, dir))
    .sort()
    .map((name) => `${dir}/${name}/README.md`)
    .filter((f) => existsSync(join(root, f)));
}

const blocks = readmes.flatMap((f) => extractBlocks(f, readFileSync(join(root, f), 'utf8')));
const programs = blocks.filter((b) => b.fragment === null);

/** What each program prints (stdout, whole, one character per byte), after the addresses are
 * rewritten. */
const printed: Record<string, RegExp> = {
  'README.md#2': /^200 hello world\n\n$/,
  'packages/core/README.md#1': /^200 hello world\n\n$/,
  'packages/core/README.md#2':
    /^200 application\/json \{\n {2}method: 'POST',\n[\s\S]*?bodyLength: 7,[\s\S]*?\}\n[\s\S]{100000}$/,
  'packages/libuv-bindings/README.md#1': /^status 0 readable true hello\n$/,
  'packages/adapter-libuv/README.md#1': /^200 hello\n\n$/,
  'packages/adapter-epoll/README.md#1': /^200 12\n$/,
  'packages/adapter-epoll/README.md#2': /^\{ msg: 'DONE', easy: Easy \{[^}]*\}, result: 0 \}\n$/,
  'packages/undici/README.md#2': /^200 8 hello \/\n\nhello \/stream\n$/,
  'apps/reactor/README.md#1':
    /^200 12 \d+(\.\d+)? http:\/\/127\.0\.0\.1:\d+\/small\n200 100000 \d+(\.\d+)? http:\/\/127\.0\.0\.1:\d+\/bytes\/100000\n$/,
  'apps/reactor/README.md#3': /^200 hello world\n\n$/,
};

/** The package folder a README's program runs from: its own package (its name resolves to
 * itself through `exports`), or, for the READMEs whose examples import an adapter their package
 * does not depend on, adapter-libuv (which depends on the core and libuv-bindings). Each program
 * imports only its own package and those. */
function folderOf(b: Block): string {
  const runFrom: Record<string, string> = {
    'README.md': 'packages/adapter-libuv',
    'packages/core/README.md': 'packages/adapter-libuv',
    'apps/reactor/README.md#3': 'packages/adapter-libuv',
  };
  return join(root, runFrom[b.id] ?? runFrom[b.file] ?? dirname(b.file));
}

function run(file: string, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [file],
      { cwd, timeout: 15_000, encoding: 'latin1' },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}

describe('README examples', () => {
  let server: TestServer;
  let users: TestServer;
  let orders: TestServer;
  beforeAll(async () => {
    [server, users, orders] = await Promise.all([startHttpServer(), startHttpServer(), startHttpServer()]);
  });
  afterAll(async () => {
    await Promise.all([server?.close(), users?.close(), orders?.close()]);
  });

  /** The READMEs' addresses, to the servers here: `/` is /small, `/api` /echo, `/big` 100 kB. */
  function rewrite(code: string): string {
    return code
      .replace(/http:\/\/(127\.0\.0\.1:8080|example\.com)\/api/g, `${server.url}/echo`)
      .replace(/http:\/\/(127\.0\.0\.1:8080|example\.com)\/big/g, `${server.url}/bytes/100000`)
      .replace(/http:\/\/(127\.0\.0\.1:8080|example\.com)\/(?=['`])/g, `${server.url}/small`)
      .replace(/http:\/\/127\.0\.0\.1:9001/g, users.url)
      .replace(/http:\/\/127\.0\.0\.1:9002/g, orders.url)
      .replace(/\bport: 8080\b/g, 'port: 0');
  }

  it('finds the blocks, and each fragment gives its reason', () => {
    expect(programs.length).toBeGreaterThanOrEqual(10);
    expect(blocks.filter((b) => b.fragment === '').map((b) => b.id)).toEqual([]);
    // Every program that prints says what; every entry names a program.
    const printing = programs.filter((b) => /console\.log|process\.stdout/.test(b.code)).map((b) => b.id);
    expect(printing.filter((id) => !(id in printed))).toEqual([]);
    expect(Object.keys(printed).filter((id) => !programs.some((b) => b.id === id))).toEqual([]);
  });

  it.concurrent.each(programs.map((b) => [b.id, b] as const))(
    '%s runs',
    { timeout: 30_000 },
    async (_id, b) => {
      const js = ts.transpileModule(rewrite(b.code), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      }).outputText;
      const folder = folderOf(b);
      const file = join(folder, `.readme-example-${b.id.replace(/\W+/g, '-')}.mjs`);
      writeFileSync(file, js);
      try {
        const { code, stdout, stderr } = await run(file, folder);
        expect({ code, stderr: code === 0 ? '' : stderr }, `${b.file}:${b.line}`).toEqual({
          code: 0,
          stderr: '',
        });
        const expected = printed[b.id];
        if (expected) expect(stdout).toMatch(expected);
        else expect(stdout).toBe('');
      } finally {
        rmSync(file, { force: true });
      }
    },
  );
});

it('a marker names the block after it only', () => {
  const md = [
    '<!-- fragment: a signature -->',
    '```ts',
    'declare const x: number;',
    '```',
    '',
    '```js',
    'console.log(1);',
    '```',
    '```sh',
    'ls',
    '```',
  ].join('\n');
  const found = extractBlocks('X.md', md);
  expect(found.map((b) => [b.id, b.lang, b.fragment, b.line])).toEqual([
    ['X.md#1', 'ts', 'a signature', 2],
    ['X.md#2', 'js', null, 6],
  ]);
});
