// Every exported name of every package, and every member of an exported class (its own and the
// ones it inherits from the addon's typed native half), carries a doc comment in the .d.ts the
// package ships: what an editor shows and what `pnpm docs` (TypeDoc) renders. Members inherited
// from Node's or the language's own types (Error's `name`, EventEmitter's) are theirs to document.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const entries = [
  'packages/core',
  'packages/libuv-bindings',
  'packages/adapter-core',
  'packages/adapter-libuv',
  'packages/adapter-epoll',
  'packages/adapter-kqueue',
  'packages/undici',
  'packages/testkit',
  'apps/gateway',
  'apps/reactor',
].map((dir) => join(root, dir, 'dist', 'index.d.ts'));

/** `Name` or `Class.member` for each exported name or class member of `entry` with no doc comment. */
function undocumented(entry: string): string[] {
  const program = ts.createProgram([entry], { noEmit: true, skipLibCheck: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  if (!source) throw new Error(`${entry} is not in the program`);
  const foreign = (symbol: ts.Symbol) =>
    (symbol.declarations ?? []).some((d) => {
      const file = d.getSourceFile();
      return (
        program.isSourceFileDefaultLibrary(file) || /[/\\]node_modules[/\\]@types[/\\]/.test(file.fileName)
      );
    });
  const documented = (symbol: ts.Symbol) =>
    ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim() !== '' ||
    symbol.getJsDocTags(checker).length > 0;
  const missing: string[] = [];
  const moduleSymbol = checker.getSymbolAtLocation(source);
  if (!moduleSymbol) return ['(no exports)'];
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const name = exported.getName();
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    if (!documented(symbol)) missing.push(name);
    if (!(symbol.flags & ts.SymbolFlags.Class) || !symbol.valueDeclaration) continue;
    const instance = checker.getDeclaredTypeOfSymbol(symbol);
    // What a base from Node's or the language's types declares (Error's name, message, stack).
    const foreignNames = new Set<string>();
    const walk = (type: ts.Type) => {
      for (const base of type.isClassOrInterface() ? (checker.getBaseTypes(type) ?? []) : []) {
        for (const p of checker.getPropertiesOfType(base)) if (foreign(p)) foreignNames.add(p.getName());
        walk(base);
      }
    };
    walk(instance);
    const statics = checker.getTypeOfSymbolAtLocation(symbol, symbol.valueDeclaration);
    for (const [prefix, type] of [
      ['', instance],
      ['static ', statics],
    ] as const) {
      for (const member of checker.getPropertiesOfType(type)) {
        const memberName = member.getName();
        if (memberName.startsWith('#') || memberName === 'prototype' || foreign(member)) continue;
        if (prefix === '' && foreignNames.has(memberName)) continue;
        if (!documented(member)) missing.push(`${name}.${prefix}${memberName}`);
      }
    }
  }
  return missing;
}

it('every exported name and class member is documented in the shipped .d.ts', { timeout: 30_000 }, () => {
  const missing: string[] = [];
  for (const entry of entries) {
    if (!existsSync(entry)) throw new Error(`${entry} is missing: build first (pnpm run build)`);
    for (const name of undocumented(entry)) missing.push(`${entry.slice(root.length + 1)}: ${name}`);
  }
  expect(missing).toEqual([]);
});
