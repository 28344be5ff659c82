// HTTP/2 responses received whole must end at once. libcurl 7.88.0 to 8.0.1 could leave one
// unfinished until the timeout when driven by curl_multi_socket_action (see H2_STALL_BUFFER in
// the core's easy-options.ts): gzip'd bodies over h2c against nginx hung 13 of 80 times.
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Client, type HttpVersion } from '@multisock/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CertificateSet, makeCertificates, type NginxServer, startNginx } from '../src/index.js';
import { builtAdapters } from './support/adapters.js';

const adapters = await builtAdapters({ reactor: true });

/** Text that gzip shrinks by a quarter only, so the compressed body spans several DATA frames:
 * base64 of a SHA-256 chain, the same on every run. */
function base64Text(length: number): Buffer {
  const parts: Buffer[] = [];
  let block = createHash('sha256').update('h2-stall').digest();
  for (let n = 0; n * 32 < length; n++) {
    parts.push(block);
    block = createHash('sha256').update(block).digest();
  }
  return Buffer.from(Buffer.concat(parts).toString('base64').slice(0, length));
}

// Sizes whose gzip'd bodies hung most often on 7.88.1 with libcurl's 16 KiB receive buffer.
const SIZES = [24_000, 32_000, 48_000, 65_536];
const files = new Map(SIZES.map((n) => [`/t${n}.txt`, base64Text(n)]));

let certs: CertificateSet;
let nginx: NginxServer;

beforeAll(async () => {
  certs = await makeCertificates();
  nginx = await startNginx({ certs, largeBytes: 1024 });
  for (const [path, bytes] of files) await writeFile(join(nginx.root, path), bytes);
});

afterAll(async () => {
  await nginx?.close();
  await certs?.cleanup();
});

describe.each(adapters)('HTTP/2 responses end when received, over $name', ({ name, adapter }) => {
  const cases: Array<[string, HttpVersion, () => string]> = [
    ['h2c', 'h2c', () => nginx.h2c],
    ['h2 over TLS', '2', () => nginx.https],
  ];
  it.each(cases)(
    `${name}: gzip'd bodies over %s, one request after another, none waits for the timeout`,
    async (_, httpVersion, base) => {
      const client = new Client({ loop: adapter, httpVersion, ca: certs.caCert, timeout: 2000 });
      const stalled: string[] = [];
      try {
        for (const [path, bytes] of files) {
          for (let i = 0; i < 5; i++) {
            // Decoded by libcurl, and raw (the gzip bytes as sent, decoded here).
            for (const decompress of [true, false]) {
              const started = performance.now();
              try {
                const res = await client.request(`${base()}/gzip${path}`, {
                  decompress,
                  headers: decompress ? undefined : { 'accept-encoding': 'gzip' },
                });
                expect(res.httpVersion).toBe('2');
                expect(res.headers.get('content-encoding')).toBe('gzip');
                expect((decompress ? res.body : gunzipSync(res.body)).equals(bytes)).toBe(true);
                if (performance.now() - started > 1000)
                  stalled.push(`${path} took ${performance.now() - started} ms`);
              } catch (error) {
                stalled.push(`${path}${decompress ? '' : ' raw'}: ${(error as Error).message}`);
              }
            }
          }
        }
      } finally {
        await client.close();
      }
      expect(stalled).toEqual([]);
    },
    240_000,
  );

  it(`${name}: identity bodies of every size end at once over h2c`, async () => {
    const client = new Client({ loop: adapter, httpVersion: 'h2c', timeout: 2000 });
    try {
      for (const path of ['/pattern.bin', '/text.txt', ...files.keys()]) {
        const res = await client.request(`${nginx.h2c}${path}`);
        expect(res.body.equals(nginx.files.get(path) ?? files.get(path)!)).toBe(true);
      }
    } finally {
      await client.close();
    }
  });
});
