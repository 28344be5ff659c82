// Saving bodies: -o paired with URLs, -O, --output-dir, --create-dirs, --skip-existing, -C -,
// --fail, and a Ctrl-C in the middle of a download, against the testkit's uWS server.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { patternBytes, startHttpServer, type TestServer } from '@multisock/testkit/servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesIn, hiper, resultsOf, summaryOf, tempDir, until } from './helpers.js';

let server: TestServer;
let tmp: { dir: string; cleanup: () => Promise<void> };
let n = 0;
/** A fresh, empty folder per test. */
async function folder(): Promise<string> {
  const dir = join(tmp.dir, `t${n++}`);
  await mkdir(dir);
  return dir;
}

beforeAll(async () => {
  server = await startHttpServer({ countConnections: false });
  tmp = await tempDir();
});
afterAll(async () => {
  await server?.close();
  await tmp?.cleanup();
});

describe('hiper saves bodies', () => {
  it('-o FILE per URL in order, -O for the rest, byte for byte; a body without -o is not saved', async () => {
    const dir = await folder();
    const run = await hiper(
      [
        `${server.url}/bytes/100000`,
        `${server.url}/chunked/70000`,
        `${server.url}/bytes/3000`,
        '-o',
        join(dir, 'first.bin'),
        '-o',
        join(dir, 'second.bin'),
        '--json',
        '-q',
      ],
      {},
    );
    expect(run.code).toBe(0);
    expect((await readFile(join(dir, 'first.bin'))).equals(patternBytes(100_000))).toBe(true);
    expect((await readFile(join(dir, 'second.bin'))).equals(patternBytes(70_000))).toBe(true);
    expect(await filesIn(dir)).toEqual(['first.bin', 'second.bin']);
    expect(summaryOf(run)).toMatchObject({ requests: 3, ok: 3, savedFiles: 2, bytes: 173_000 });

    const named = await folder();
    const remote = await hiper(
      [`${server.url}/bytes/5000`, `${server.url}/chunked/6000`, '-O', '--output-dir', named, '-q'],
      {},
    );
    expect(remote.code).toBe(0);
    expect((await readFile(join(named, '5000'))).equals(patternBytes(5000))).toBe(true);
    expect((await readFile(join(named, '6000'))).equals(patternBytes(6000))).toBe(true);
    expect(remote.stdout).toMatch(/saved\s+2 files/);
  });

  it('a 96 MiB body streams to disk byte for byte, never held whole in memory', async () => {
    const dir = await folder();
    const size = 96 * 1024 * 1024;
    let peakKiB = 0;
    const run = await hiper([`${server.url}/bytes/${size}`, '-o', join(dir, 'big'), '--json', '-q'], {
      started: (child) => {
        const sample = setInterval(() => {
          try {
            const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
            peakKiB = Math.max(peakKiB, Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0));
          } catch {
            clearInterval(sample);
          }
        }, 20);
        child.once('exit', () => clearInterval(sample));
      },
    });
    expect(run.code).toBe(0);
    expect((await readFile(join(dir, 'big'))).equals(patternBytes(size))).toBe(true);
    // Node and libcurl take about 60-90 MiB here; a body held whole would add 96 more.
    if (peakKiB > 0) expect(peakKiB / 1024).toBeLessThan(140);
  });

  it('--create-dirs makes the folders; without it a missing folder fails that URL (CURLE_WRITE_ERROR)', async () => {
    const dir = await folder();
    const target = join(dir, 'a', 'b', 'c.bin');
    const missing = await hiper([`${server.url}/bytes/10`, '-o', target, '--json', '-q']);
    expect(missing.code).toBe(1);
    expect(summaryOf(missing).errors).toEqual({ CURLE_WRITE_ERROR: 1 });
    expect(summaryOf(missing).failedUrls[0]!.message).toMatch(/c\.bin\.part/);
    const made = await hiper([`${server.url}/bytes/10`, '-o', target, '--create-dirs', '-q']);
    expect(made.code).toBe(0);
    expect((await readFile(target)).equals(patternBytes(10))).toBe(true);
    expect(await filesIn(dir)).toEqual(['a', join('a', 'b'), join('a', 'b', 'c.bin')]);
  });

  it('--skip-existing leaves a file that is there alone and makes no request for it', async () => {
    const dir = await folder();
    await writeFile(join(dir, '100'), 'mine');
    const before = server.requests;
    const run = await hiper(
      [
        `${server.url}/bytes/100`,
        `${server.url}/bytes/200`,
        '-O',
        '--output-dir',
        dir,
        '--skip-existing',
        '--json',
        '-q',
      ],
      {},
    );
    expect(run.code).toBe(0);
    expect(server.requests - before).toBe(1);
    expect(await readFile(join(dir, '100'), 'utf8')).toBe('mine');
    expect((await readFile(join(dir, '200'))).equals(patternBytes(200))).toBe(true);
    expect(summaryOf(run)).toMatchObject({ requests: 2, skipped: 1, savedFiles: 1 });
  });

  it('--fail saves no error page and exits 1; without --fail the page is saved and the run exits 0', async () => {
    const dir = await folder();
    const failed = await hiper([
      `${server.url}/status/404`,
      '-o',
      join(dir, 'page'),
      '--fail',
      '--json',
      '-q',
    ]);
    expect(failed.code).toBe(1);
    expect(summaryOf(failed).errors).toEqual({ CURLE_HTTP_RETURNED_ERROR: 1 });
    expect(await filesIn(dir)).toEqual([]);
    const saved = await hiper([`${server.url}/status/404`, '-o', join(dir, 'page'), '-q']);
    expect(saved.code).toBe(0);
    expect(await readFile(join(dir, 'page'), 'utf8')).toBe('status 404\n');
  });

  it('-C - resumes FILE.part with a Range request; a server that ignores Range sends it whole', async () => {
    const dir = await folder();
    const whole = patternBytes(300_000);
    await writeFile(join(dir, 'f.bin.part'), whole.subarray(0, 123_456));
    const results = join(dir, '..', `results-${n}.jsonl`);
    const run = await hiper(
      [`${server.url}/bytes/300000`, '-o', join(dir, 'f.bin'), '-C', '-', '--results', results, '-q'],
      {},
    );
    expect(run.code).toBe(0);
    expect((await readFile(join(dir, 'f.bin'))).equals(whole)).toBe(true);
    expect(await filesIn(dir)).toEqual(['f.bin']);
    const [line] = resultsOf(await readFile(results, 'utf8'));
    expect(line).toMatchObject({ status: 206, resumedFrom: 123_456, bytes: 300_000 - 123_456, ok: true });

    // A complete file asked again: 416, nothing fetched, the file as it was.
    const again = await hiper([
      `${server.url}/bytes/300000`,
      '-o',
      join(dir, 'f.bin'),
      '-C',
      '-',
      '--json',
      '-q',
    ]);
    expect(again.code).toBe(0);
    expect(summaryOf(again).statuses).toEqual({ 416: 1 });
    expect((await readFile(join(dir, 'f.bin'))).equals(whole)).toBe(true);

    // /chunked ignores Range: the 200 body replaces the partial one.
    await writeFile(join(dir, 'g.part'), 'garbage that is not the start of the body');
    const ignored = await hiper([`${server.url}/chunked/50000`, '-o', join(dir, 'g'), '-C', '-', '-q']);
    expect(ignored.code).toBe(0);
    expect((await readFile(join(dir, 'g'))).equals(patternBytes(50_000))).toBe(true);
  });

  it('refuses what cannot work, before any request, naming the flag', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[`${server.url}/a`, '-o', 'x', '-o', 'y'], /--output: 2 files for 1 URL/],
      [[`${server.url}/a/x`, `${server.url}/b/x`, '-O'], /would both be saved to x/],
      [[`${server.url}/dir/`, '-O'], /--remote-name: .* has no file name/],
      [[`${server.url}/a`, '-o', 'x', '-z', '1s'], /-o\/-O save each URL once/],
      [[`${server.url}/a`, '-o', 'x', '-C', '100'], /--continue-at takes '-'/],
      [[`${server.url}/a`, '--skip-existing'], /--skip-existing needs -o or -O/],
      [[`${server.url}/a`, '-o', '-'], /--output -: bodies do not go to stdout/],
    ];
    const before = server.requests;
    for (const [args, reason] of cases) {
      const run = await hiper([...args, '-q']);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(reason);
    }
    expect(server.requests).toBe(before);
  });
});

describe('hiper stopped in the middle of downloads', () => {
  it('Ctrl-C: exit 130, the summary and results written, no file under a final name, no temporary file', async () => {
    const dir = await folder();
    const results = join(dir, '..', `stop-${n}.jsonl`);
    const big = 20 * 1024 * 1024;
    const run = await hiper(
      [
        `${server.url}/bytes/1000`,
        `${server.url}/bytes/${big}`,
        `${server.url}/chunked/${big + 1}`,
        '-O',
        '--output-dir',
        dir,
        '--limit-rate',
        '2M',
        '--grace',
        '200ms',
        '--results',
        results,
        '--json',
        '-q',
      ],
      {
        started: (child) => {
          // Once a body is being written (FILE.part is there), Ctrl-C.
          until(async () => (await filesIn(dir)).some((f) => f.endsWith('.part'))).then(
            () => setTimeout(() => child.kill('SIGINT'), 300),
            () => child.kill('SIGKILL'),
          );
        },
      },
    );
    expect(run.code).toBe(130);
    const summary = summaryOf(run);
    expect(summary.stoppedBy).toBe('SIGINT');
    expect(summary.cancelled).toBe(2);
    expect(summary.savedFiles).toBe(1);
    // The small file is whole; the interrupted ones are nowhere, not even as .part.
    expect(await filesIn(dir)).toEqual(['1000']);
    expect((await readFile(join(dir, '1000'))).equals(patternBytes(1000))).toBe(true);
    const lines = resultsOf(await readFile(results, 'utf8'));
    expect(lines).toHaveLength(3);
    expect(lines.filter((l) => l.cancelled).map((l) => l.output)).toEqual(
      expect.arrayContaining([join(dir, String(big))]),
    );
  });

  it('SIGTERM with -C -: exit 143, FILE.part kept, and the next run resumes it byte for byte', async () => {
    const dir = await folder();
    const size = 12 * 1024 * 1024;
    const target = join(dir, 'resume.bin');
    const first = await hiper(
      [
        `${server.url}/bytes/${size}`,
        '-o',
        target,
        '-C',
        '-',
        '--limit-rate',
        '2M',
        '--grace',
        '0',
        '--json',
        '-q',
      ],
      {
        started: (child) => {
          until(() => existsSync(`${target}.part`)).then(
            () => setTimeout(() => child.kill('SIGTERM'), 500),
            () => child.kill('SIGKILL'),
          );
        },
      },
    );
    expect(first.code).toBe(143);
    expect(existsSync(target)).toBe(false);
    const partial = await readFile(`${target}.part`);
    expect(partial.length).toBeGreaterThan(0);
    expect(partial.length).toBeLessThan(size);
    expect(partial.equals(patternBytes(partial.length))).toBe(true);

    const second = await hiper([
      `${server.url}/bytes/${size}`,
      '-o',
      target,
      '-C',
      '-',
      '-w',
      '%{http_code} %{size_download}',
      '-q',
    ]);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(`206 ${size - partial.length}`);
    expect((await readFile(target)).equals(patternBytes(size))).toBe(true);
    expect(await filesIn(dir)).toEqual(['resume.bin']);
  });
});
