import { createHash } from 'node:crypto';
import { CurlError, Easy, Multi, Pause, READFUNC_PAUSE } from '@multisock/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fdsBackTo, openFds, probeDriver, startServer } from './helpers.js';

let server: Awaited<ReturnType<typeof startServer>>;
let baseline = 0;
beforeAll(async () => {
  server = await startServer((req, res) => {
    const hash = createHash('sha256');
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => {
      res.setHeader('X-Repeated', ['a', 'b']);
      res.end(JSON.stringify({ method: req.method, length, sha256: hash.digest('hex') }));
    });
  });
  baseline = openFds();
});
afterAll(() => server.close());
afterEach(async () => {
  expect(await fdsBackTo(baseline)).toBeLessThanOrEqual(baseline);
});

async function run(setup: (easy: Easy) => void): Promise<{ easy: Easy; error?: unknown }> {
  const multi = new Multi();
  const driver = probeDriver(multi);
  const easy = new Easy();
  easy.setopt('URL', `${server.url}/`);
  setup(easy);
  let error: unknown;
  try {
    await multi.perform(easy);
  } catch (e) {
    error = e;
  }
  driver.stop();
  multi.close();
  return { easy, error };
}

describe('JS callbacks', () => {
  it('READFUNCTION uploads a body in the pieces libcurl asks for', async () => {
    const payload = Buffer.alloc(200_000, 7);
    let offset = 0;
    const sizes: number[] = [];
    const { easy, error } = await run((e) => {
      e.setopt('UPLOAD', 1);
      e.setopt('INFILESIZE_LARGE', payload.length);
      e.setopt('READFUNCTION', (size) => {
        sizes.push(size);
        const chunk = payload.subarray(offset, offset + size);
        offset += chunk.length;
        return chunk;
      });
    });
    expect(error).toBeUndefined();
    expect(JSON.parse(easy.takeBody().toString())).toEqual({
      method: 'PUT',
      length: payload.length,
      sha256: createHash('sha256').update(payload).digest('hex'),
    });
    expect(sizes.every((s) => s > 0)).toBe(true);
    easy.close();
  });

  it('READFUNCTION may pause the upload and resume it later with pause(CONT)', async () => {
    const pieces = [Buffer.from('first '), Buffer.from('second')];
    let easyRef: Easy | undefined;
    let waiting = false;
    const { easy, error } = await run((e) => {
      easyRef = e;
      e.setopt('UPLOAD', 1);
      e.setopt('INFILESIZE_LARGE', 12);
      e.setopt('READFUNCTION', () => {
        if (pieces.length === 0) return null;
        if (!waiting) {
          waiting = true;
          // Never unpause from inside the callback (docs/contract.md#no-re-entry): later.
          setTimeout(() => easyRef?.pause(Pause.CONT), 20);
          return READFUNC_PAUSE;
        }
        waiting = false;
        return pieces.shift();
      });
    });
    expect(error).toBeUndefined();
    expect(JSON.parse(easy.takeBody().toString())).toMatchObject({ length: 12 });
    easy.close();
  });

  it('READFUNCTION returning more than asked for fails the transfer with a RangeError as cause', async () => {
    const { easy, error } = await run((e) => {
      e.setopt('UPLOAD', 1);
      e.setopt('INFILESIZE_LARGE', 10);
      e.setopt('READFUNCTION', (size) => Buffer.alloc(size + 1));
    });
    expect(error).toBeInstanceOf(CurlError);
    expect((error as CurlError).code).toBe(42);
    expect((error as CurlError).cause).toBeInstanceOf(RangeError);
    easy.close();
  });

  it('XFERINFOFUNCTION sees progress and aborts the transfer by returning non-zero', async () => {
    const seen: number[][] = [];
    const { easy, error } = await run((e) => {
      e.setopt('XFERINFOFUNCTION', (...args) => {
        seen.push(args);
        return 1;
      });
    });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[0]).toHaveLength(4);
    expect(error).toMatchObject({ code: 42, codeName: 'CURLE_ABORTED_BY_CALLBACK' });
    easy.close();
  });

  it('HEADERFUNCTION receives each header line; repeated headers are all there', async () => {
    const lines: string[] = [];
    const { easy, error } = await run((e) => {
      e.setopt('HEADERFUNCTION', (line) => {
        lines.push(line.toString());
      });
    });
    expect(error).toBeUndefined();
    expect(lines[0]).toMatch(/^HTTP\/1\.1 200/);
    expect(lines.filter((l) => /^x-repeated:/i.test(l))).toEqual(['X-Repeated: a\r\n', 'X-Repeated: b\r\n']);
    expect(lines.at(-1)).toBe('\r\n');
    // With HEADERFUNCTION set, nothing is collected natively.
    expect(easy.takeHeaders().length).toBe(0);
    easy.close();
  });

  it('WRITEFUNCTION returning a wrong count fails with CURLE_WRITE_ERROR', async () => {
    const { easy, error } = await run((e) => e.setopt('WRITEFUNCTION', () => 0));
    expect(error).toMatchObject({ code: 23 });
    easy.close();
  });
});
