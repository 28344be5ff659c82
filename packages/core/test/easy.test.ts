import { readFileSync } from 'node:fs';
import { Easy, libcurl, listOptions } from '@multisock/core';
import { describe, expect, it } from 'vitest';

describe('options from libcurl’s own table', () => {
  it('lists every option with its type', () => {
    const options = listOptions();
    expect(options.length).toBeGreaterThan(250);
    expect(options.find((o) => o.name === 'URL')).toMatchObject({ type: 'string' });
    expect(options.find((o) => o.name === 'HTTPHEADER')).toMatchObject({ type: 'slist' });
    expect(options.find((o) => o.name === 'MAXFILESIZE_LARGE')).toMatchObject({ type: 'off_t' });
  });

  it('every option of a settable type is in the generated TypeScript types', () => {
    if (!libcurl.version.startsWith('7.88.')) return; // the committed types come from 7.88.1
    const types = readFileSync(new URL('../src/generated/types.ts', import.meta.url), 'utf8');
    const settable = listOptions().filter((o) =>
      ['long', 'values', 'off_t', 'string', 'slist', 'blob'].includes(o.type),
    );
    const missing = settable.filter((o) => !types.includes(`  ${o.name}: `)).map((o) => o.name);
    expect(missing).toEqual([]);
  });

  it('sets every option of every type it accepts', () => {
    const easy = new Easy();
    easy.setopt('URL', 'http://127.0.0.1/');
    easy.setopt('URL', null);
    easy.setopt('FOLLOWLOCATION', true);
    easy.setopt('MAXREDIRS', 5);
    easy.setopt('MAXFILESIZE_LARGE', 10n ** 12n);
    easy.setopt('HTTPHEADER', ['X-A: 1', 'X-B: 2']);
    easy.setopt('HTTPHEADER', null);
    easy.setopt('CAINFO_BLOB', Buffer.from('not a certificate'));
    easy.setopt('POSTFIELDS', Buffer.from([0, 1, 2, 3]));
    easy.setopt('PRIVATE', { any: 'value' });
    expect(easy.getinfo('PRIVATE')).toEqual({ any: 'value' });
    easy.close();
  });

  it('duphandle copies options, lists and PRIVATE; reset clears them', () => {
    const easy = new Easy();
    const context = { id: 1 };
    easy.setopt('URL', 'http://127.0.0.1:9/x');
    easy.setopt('HTTPHEADER', ['X-Test: 1']);
    easy.setopt('PRIVATE', context);
    const copy = easy.duphandle();
    expect(copy).toBeInstanceOf(Easy);
    expect(copy.getinfo('PRIVATE')).toBe(context);
    easy.close(); // the copy owns its own lists
    expect(copy.getinfo('PRIVATE')).toBe(context);
    copy.reset();
    expect(copy.getinfo('PRIVATE')).toBe(null);
    copy.close();
  });

  it('reports the libcurl it links', () => {
    expect(libcurl.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(libcurl.protocols).toContain('http');
  });
});
