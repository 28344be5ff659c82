// --fail, --retry (counted against the server's own count), Retry-After, backoff,
// --retry-max-time, transient faults from the raw fault server, exit statuses and bad arguments.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type FaultServer,
  startFaultServer,
  startHttpServer,
  type TestServer,
} from '@multisock/testkit/servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, hiper, resultsOf, summaryOf, tempDir } from './helpers.js';

let http: TestServer;
let tmp: { dir: string; cleanup: () => Promise<void> };
let id = 0;
/** A /flaky URL of its own: the server counts requests per URL. */
const flaky = (failures: number, status: number, query = '') =>
  `${http.url}/flaky/${failures}/${status}?id=${id++}${query}`;

beforeAll(async () => {
  http = await startHttpServer({ countConnections: false });
  tmp = await tempDir();
});
afterAll(async () => {
  await http?.close();
  await tmp?.cleanup();
});

describe('--fail', () => {
  it('makes a 4xx or 5xx a failure (exit 1, named); without it the status is a response (exit 0)', async () => {
    const urls = [`${http.url}/small`, `${http.url}/status/404`, `${http.url}/status/500`];
    const plain = await hiper([...urls, '--json', '-q']);
    expect(plain.code).toBe(0);
    expect(summaryOf(plain)).toMatchObject({ ok: 3, failed: 0, statuses: { 200: 1, 404: 1, 500: 1 } });
    const failing = await hiper([...urls, '--fail', '--json', '-q']);
    expect(failing.code).toBe(1);
    const s = summaryOf(failing);
    expect(s).toMatchObject({ ok: 1, failed: 2, errors: { CURLE_HTTP_RETURNED_ERROR: 2 } });
    expect(s.failedUrls.map((f) => [f.url, f.status]).sort()).toEqual([
      [`${http.url}/status/404`, 404],
      [`${http.url}/status/500`, 500],
    ]);
  });

  it('the summary lists the first failed URLs and says where the rest are', async () => {
    const results = join(tmp.dir, 'failed.jsonl');
    const urls = Array.from({ length: 12 }, (_, i) => `${http.url}/status/${400 + i}`);
    const run = await hiper([...urls, '--fail', '--results', results, '-q']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^failed:$/m);
    expect(
      run.stdout.match(/^ {2}http:\/\/\S+\/status\/4\d\d {2}4\d\d {2}CURLE_HTTP_RETURNED_ERROR/gm),
    ).toHaveLength(10);
    expect(run.stdout).toContain(`and 2 more (all in ${results})`);
    const lines = resultsOf(await readFile(results, 'utf8'));
    expect(lines.filter((l) => !l.ok)).toHaveLength(12);
    expect(lines[0]!.error).toMatchObject({ code: 22, name: 'CURLE_HTTP_RETURNED_ERROR' });
  });
});

describe('--retry', () => {
  it('retries 5xx until the server answers 200, as often as the server counted', async () => {
    const url = flaky(2, 503);
    const results = join(tmp.dir, 'retry.jsonl');
    const before = http.requests;
    const run = await hiper([
      url,
      '--retry',
      '3',
      '--retry-delay',
      '0.05',
      '--fail',
      '--results',
      results,
      '--json',
      '-q',
    ]);
    expect(run.code).toBe(0);
    expect(http.requests - before).toBe(3);
    expect(summaryOf(run)).toMatchObject({ ok: 1, retries: 2, statuses: { 200: 1 } });
    expect(resultsOf(await readFile(results, 'utf8'))[0]).toMatchObject({
      status: 200,
      retries: 2,
      ok: true,
    });
  });

  it('stops after N retries and reports the last failure', async () => {
    const before = http.requests;
    const run = await hiper([flaky(5, 502), '--retry', '2', '--retry-delay', '0', '--fail', '--json', '-q']);
    expect(run.code).toBe(1);
    expect(http.requests - before).toBe(3);
    expect(summaryOf(run)).toMatchObject({ failed: 1, retries: 2, statuses: { 502: 1 } });
  });

  it('does not retry what another try cannot cure: a 404, a malformed response', async () => {
    const before = http.requests;
    const missing = await hiper([
      `${http.url}/status/404`,
      '--retry',
      '3',
      '--retry-delay',
      '0',
      '--json',
      '-q',
    ]);
    expect(http.requests - before).toBe(1);
    expect(summaryOf(missing).retries).toBe(0);
    const fault = await startFaultServer('malformed-status');
    try {
      const run = await hiper([`${fault.url}/`, '--retry', '3', '--retry-delay', '0', '--json', '-q']);
      expect(run.code).toBe(1);
      expect(fault.requests).toBe(1);
      // libcurl 7.88 names 'HTTP/1.1 abc' an unsupported protocol, later ones a weird reply.
      expect(Object.keys(summaryOf(run).errors)).toEqual([
        expect.stringMatching(/^CURLE_(WEIRD_SERVER_REPLY|UNSUPPORTED_PROTOCOL)$/),
      ]);
    } finally {
      await fault.close();
    }
  });

  it('honours Retry-After over --retry-delay (429)', async () => {
    const before = http.requests;
    const run = await hiper([
      flaky(1, 429, '&retry-after=1'),
      '--retry',
      '1',
      '--retry-delay',
      '0.01',
      '--json',
      '-q',
    ]);
    expect(http.requests - before).toBe(2);
    expect(summaryOf(run).statuses).toEqual({ 200: 1 });
    expect(summaryOf(run).latencyMs.max).toBeGreaterThanOrEqual(950);
  });

  it('backs off exponentially by default: 1 s, then 2 s', async () => {
    const run = await hiper([flaky(2, 503), '--retry', '2', '--json', '-q']);
    expect(summaryOf(run)).toMatchObject({ ok: 1, retries: 2 });
    expect(summaryOf(run).latencyMs.max).toBeGreaterThanOrEqual(2950);
    expect(summaryOf(run).latencyMs.max).toBeLessThan(5000);
  });

  it('--retry-max-time: no retry starts after it', async () => {
    const before = http.requests;
    const run = await hiper([
      flaky(100, 503),
      '--retry',
      '100',
      '--retry-delay',
      '0.2',
      '--retry-max-time',
      '1',
      '--json',
      '-q',
    ]);
    const made = http.requests - before;
    // Tries at about 0, 0.2, 0.4, 0.6, 0.8 and 1.0 s: the one after is past the limit.
    expect(made).toBeGreaterThanOrEqual(4);
    expect(made).toBeLessThanOrEqual(6);
    expect(summaryOf(run).retries).toBe(made - 1);
    expect(summaryOf(run).latencyMs.max).toBeLessThan(1500);
  });

  it.each([
    ['reset-after-headers', 'CURLE_RECV_ERROR|CURLE_PARTIAL_FILE', []],
    ['stall', 'CURLE_OPERATION_TIMEDOUT', ['-m', '200ms']],
    ['close-on-accept', 'CURLE_GOT_NOTHING', []],
  ] as const)(
    'retries transient faults (%s) as often as the fault server counted',
    async (kind, codes, extra) => {
      const fault: FaultServer = await startFaultServer(kind);
      try {
        const results = join(tmp.dir, `fault-${kind}.jsonl`);
        const run = await hiper([
          `${fault.url}/`,
          '--retry',
          '2',
          '--retry-delay',
          '0.02',
          '--results',
          results,
          ...extra,
          '--json',
          '-q',
        ]);
        expect(run.code).toBe(1);
        const [line] = resultsOf(await readFile(results, 'utf8'));
        expect(line!.retries).toBe(2);
        expect(line!.error!.name).toMatch(new RegExp(`^(${codes})$`));
        if (kind === 'close-on-accept') expect(fault.connections).toBe(3);
        else expect(fault.requests).toBe(3);
      } finally {
        await fault.close();
      }
    },
  );
});

describe('exit statuses', () => {
  it('0 when every request succeeded, 1 when one failed', async () => {
    expect((await hiper([`${http.url}/small`, '-q'])).code).toBe(0);
    const port = await closedPort();
    const mixed = await hiper([`${http.url}/small`, `http://127.0.0.1:${port}/`, '--json', '-q']);
    expect(mixed.code).toBe(1);
    expect(summaryOf(mixed)).toMatchObject({ ok: 1, failed: 1, errors: { CURLE_COULDNT_CONNECT: 1 } });
  });

  it.each([
    [['--retry', 'x'], /--retry must be a whole number/],
    [['--retry-delay', 'soon'], /--retry-delay must be a duration/],
    [['--retry-max-time', '0'], /--retry-max-time must be a duration/],
    [['--rate', '0'], /--rate must be requests per second/],
    [['--rate', '10/d'], /--rate must be requests per second/],
    [['-z', 'forever'], /--duration must be a duration/],
    [['--warmup=-1'], /--warmup must be a duration/],
    [['--grace', 'x'], /--grace must be a duration/],
    [['--limit-rate', '1q'], /--limit-rate must be bytes per second/],
    [['--max-redirs=-1'], /--max-redirs must be a whole number/],
    [['--connect-timeout', 'abc'], /--connect-timeout must be a duration/],
    [['--resolve', 'nohost'], /--resolve must look like HOST:PORT:ADDRESS/],
    [['--user', 'nocolon'], /--user must be USER:PASSWORD/],
    [['-w', '%{no_such_var}'], /--write-out: unknown variable %\{no_such_var\}/],
    [['--cacert', '/nonexistent.pem'], /cannot read --cacert/],
    [['--key', '/etc/hostname'], /--key .* is not a PEM file/],
    [['--parallel-max-host', '0'], /--parallel-max-host must be a positive integer/],
    [['-d', 'x', '-T', '/etc/hostname'], /--upload-file and -d\/--data-binary both give a body/],
    [['--data-binary', '@/nonexistent'], /cannot read --data-binary/],
    [['--results', '/nonexistent/dir/r.jsonl'], /cannot write --results/],
    [['--compressed', '--no-compressed'], /contradict/],
  ])('%j: exit 2 naming the flag, no request made', async (args, reason) => {
    const before = http.requests;
    const run = await hiper([`${http.url}/small`, ...args, '-q']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(reason);
    expect(run.stderr).toMatch(/^usage: hiper/m);
    expect(http.requests).toBe(before);
  });
});
