// What a transfer collects natively belongs to that transfer: a reused Easy starts each one with
// empty body and header buffers, whether or not the last one's were taken, and large bodies are
// byte-exact whichever way they are collected.
import { libuv } from '@multisock/adapter-libuv';
import { Easy, Multi } from '@multisock/core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { patternBytes, startHttpServer, type TestServer } from '../src/index.js';

let server: TestServer;
beforeAll(async () => {
  server = await startHttpServer();
});
afterAll(() => server.close());

it('a reused Easy that never takes its body or headers holds only the last transfer’s', async () => {
  const multi = new Multi();
  libuv.attach(multi);
  const easy = new Easy();
  easy.setopt('URL', `${server.url}/bytes/10240`);
  try {
    for (let i = 0; i < 50; i++) await multi.perform(easy);
    const headers = easy.takeHeaders().toString('latin1');
    expect(headers.match(/^HTTP\/1\.1 200/gm)?.length).toBe(1);
    expect(easy.takeBody().equals(patternBytes(10240))).toBe(true);
    // Taken once: empty until the next transfer.
    expect(easy.takeBody().length).toBe(0);
    expect(easy.takeHeaders().length).toBe(0);
  } finally {
    easy.close();
    multi.close();
  }
});

it('bodies around the sizes where collection changes arrive byte-exact, with and without a length', async () => {
  const multi = new Multi();
  libuv.attach(multi);
  const easy = new Easy();
  try {
    // Below and above the direct-to-Buffer threshold (32 KiB), a decoded-size growth path
    // (chunked: no Content-Length), and past the 64 KiB scratch memory.
    for (const n of [0, 1, 32 * 1024 - 1, 32 * 1024, 32 * 1024 + 1, 64 * 1024, 200_000, 3 * 1024 * 1024]) {
      for (const route of ['bytes', 'chunked']) {
        easy.setopt('URL', `${server.url}/${route}/${n}`);
        await multi.perform(easy);
        const body = easy.takeBody();
        expect(body.length, `${route}/${n}`).toBe(n);
        expect(body.equals(patternBytes(n)), `${route}/${n}`).toBe(true);
      }
    }
  } finally {
    easy.close();
    multi.close();
  }
});
