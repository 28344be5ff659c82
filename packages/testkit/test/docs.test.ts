// The repository stands on its own: every citation of docs/contract.md (in code, comments, test
// titles and READMEs) names a section that exists, relative Markdown links resolve, and nothing
// points outside the repository.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const self = fileURLToPath(import.meta.url);
const root = resolve(dirname(self), '../../..');
// This file is left out: its patterns would match themselves.
const files = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' })
  .split('\n')
  .filter(
    (f) => f !== '' && !f.endsWith('pnpm-lock.yaml') && !f.startsWith('.ci/') && join(root, f) !== self,
  );
const text = (f: string) => readFileSync(join(root, f), 'utf8');

/** GitHub's anchor for a heading: lower case, punctuation dropped (but - and _), spaces to -. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  return new Set([...markdown.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)));
}

it('every docs/contract.md#anchor cited anywhere is a section of docs/contract.md', () => {
  const anchors = anchorsOf(text('docs/contract.md'));
  const missing: string[] = [];
  let citations = 0;
  for (const file of files) {
    for (const m of text(file).matchAll(/contract\.md#([\w-]+)/g)) {
      citations++;
      if (!anchors.has(m[1]!)) missing.push(`${file}: #${m[1]}`);
    }
  }
  expect(citations).toBeGreaterThan(50);
  expect(missing).toEqual([]);
});

it('no citation of a document outside the repository is left', () => {
  const stale = files.flatMap((file) =>
    text(file)
      .split('\n')
      .map((line, i) => ({ line, i }))
      .filter(({ line }) =>
        /\.\.\/shared\/|CONTRACT\.md|CONTRACT statement|\bstatements? \d+\b|CONTRACT \(b\)|CONTRACT \d/.test(
          line,
        ),
      )
      .map(({ i, line }) => `${file}:${i + 1}: ${line.trim()}`),
  );
  expect(stale).toEqual([]);
});

it('relative links in Markdown files resolve to files in the repository', () => {
  const broken: string[] = [];
  for (const file of files.filter((f) => f.endsWith('.md'))) {
    for (const m of text(file).matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/i.test(target) || target.startsWith('#')) continue;
      const [path, anchor] = target.split('#');
      const full = resolve(root, dirname(file), path!);
      if (!existsSync(full)) broken.push(`${file}: ${target}`);
      else if (anchor && full.endsWith('.md') && !anchorsOf(readFileSync(full, 'utf8')).has(anchor)) {
        broken.push(`${file}: ${target} (no such section)`);
      }
    }
  }
  expect(broken).toEqual([]);
});
