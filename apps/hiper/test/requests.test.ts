// What goes on the wire: bodies (-d, --data-binary, -T), -u, -A, -e, -b, --compressed, -L and
// --max-redirs, proxies, --resolve, timeouts, --limit-rate, TLS (--cacert, -k, --cert/--key),
// --http1.1/--http2, --no-keepalive and --parallel-max-host. Each checked against what a real
// server (testkit's uWS and node:http2 servers) received.
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type CertificateSet,
  type EchoReply,
  type Http2TestServer,
  makeCertificates,
  patternBytes,
  startHttp2Server,
  startHttpServer,
  startTlsServer,
  startUnacceptingServer,
  type TestServer,
} from '@multisock/testkit/servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hiper, startForwardProxy, summaryOf, tempDir } from './helpers.js';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

let http: TestServer;
let tls: TestServer;
let h2c: Http2TestServer;
let h2mtls: Http2TestServer;
let certs: CertificateSet;
let tmp: { dir: string; cleanup: () => Promise<void> };
let n = 0;

beforeAll(async () => {
  certs = await makeCertificates();
  [http, tls, h2c, h2mtls] = await Promise.all([
    startHttpServer({ countConnections: false }),
    startTlsServer(certs, { countConnections: false }),
    startHttp2Server({ tls: false }),
    startHttp2Server({ tls: true, certs, requireClientCert: true }),
  ]);
  tmp = await tempDir();
});
afterAll(async () => {
  await Promise.all([http?.close(), tls?.close(), h2c?.close(), h2mtls?.close()]);
  await certs?.cleanup();
  await tmp?.cleanup();
});

/** Runs hiper against /echo with `args` and returns what the server saw. */
async function echo(args: string[], url = `${http.url}/echo`): Promise<EchoReply> {
  const out = join(tmp.dir, `echo-${n++}.json`);
  const run = await hiper([url, '-o', out, '-q', ...args]);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(await readFile(out, 'utf8')) as EchoReply;
}

describe('request bodies', () => {
  it('-d pieces join with & as a form POST; -d @file drops newlines, --data-binary @file keeps them', async () => {
    const form = await echo(['-d', 'a=1', '--data-raw', '@b=2', '-d', 'c=3']);
    expect(form).toMatchObject({ method: 'POST', bodyLength: 12, bodySha256: sha256('a=1&@b=2&c=3') });
    expect(form.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const file = join(tmp.dir, 'body.txt');
    const text = 'line one\r\nline two\n';
    await writeFile(file, text);
    const stripped = await echo(['-d', `@${file}`]);
    expect(stripped.bodySha256).toBe(sha256('line oneline two'));
    const binary = patternBytes(100_000);
    await writeFile(file, binary);
    const exact = await echo([
      '--data-binary',
      `@${file}`,
      '-H',
      'Content-Type: application/octet-stream',
      '-X',
      'PUT',
    ]);
    expect(exact).toMatchObject({ method: 'PUT', bodyLength: 100_000, bodySha256: sha256(binary) });
    expect(exact.headers['content-type']).toBe('application/octet-stream');
  });

  it('-T streams a file as PUT; a URL ending in / gets the file name', async () => {
    const file = join(tmp.dir, 'upload.bin');
    const bytes = patternBytes(3 * 1024 * 1024 + 7);
    await writeFile(file, bytes);
    const put = await echo(['-T', file]);
    expect(put).toMatchObject({ method: 'PUT', bodyLength: bytes.length, bodySha256: sha256(bytes) });
    expect(put.headers['content-length']).toBe(String(bytes.length));
    // /echo/ + the name is a 404 on this server: the URL is what is checked.
    const out = join(tmp.dir, 'named.txt');
    const run = await hiper([`${http.url}/`, '-T', file, '-w', '%{url} %{http_code}', '-o', out, '-q']);
    expect(run.stdout).toBe(`${http.url}/upload.bin 405`);
  });
});

describe('request headers', () => {
  it('-u, -A, -e and -b DATA set their headers; -H replaces one of them', async () => {
    const seen = await echo([
      '-u',
      'ann:s3cret',
      '-A',
      'hiper-test/1',
      '-e',
      'http://from.example/',
      '-b',
      'a=1; b=2',
    ]);
    expect(seen.headers.authorization).toBe(`Basic ${Buffer.from('ann:s3cret').toString('base64')}`);
    expect(seen.headers['user-agent']).toBe('hiper-test/1');
    expect(seen.headers.referer).toBe('http://from.example/');
    expect(seen.headers.cookie).toBe('a=1; b=2');
    const replaced = await echo(['-A', 'hiper-test/1', '-H', 'User-Agent: mine']);
    expect(replaced.headers['user-agent']).toBe('mine');
  });

  it('-b FILE: libcurl reads the cookie file and sends what matches', async () => {
    const jar = join(tmp.dir, 'cookies.txt');
    await writeFile(
      jar,
      '127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tabc123\n127.0.0.1\tFALSE\t/other\tFALSE\t0\tnot\tsent\n',
    );
    const seen = await echo(['-b', jar]);
    expect(seen.headers.cookie).toBe('session=abc123');
  });

  it('asks for compressed bodies unless --no-compressed', async () => {
    expect((await echo([])).headers['accept-encoding']).toMatch(/gzip/);
    expect((await echo(['--no-compressed'])).headers['accept-encoding']).toBeUndefined();
  });
});

describe('redirects', () => {
  it('follows by default (-L), --no-location returns the 302, --max-redirs fails past its count', async () => {
    const followed = await hiper([
      `${http.url}/redirect/3`,
      '-L',
      '-w',
      '%{http_code} %{num_redirects} %{url_effective}',
      '-q',
    ]);
    expect(followed.stdout).toBe(`200 3 ${http.url}/redirect/0`);
    const not = await hiper([`${http.url}/redirect/3`, '--no-location', '-w', '%{http_code}', '-q']);
    expect(not.stdout).toBe('302');
    const over = await hiper([`${http.url}/redirect/3`, '--max-redirs', '2', '--json', '-q']);
    expect(over.code).toBe(1);
    expect(summaryOf(over).errors).toEqual({ CURLE_TOO_MANY_REDIRECTS: 1 });
  });
});

describe('connections', () => {
  it('--proxy sends every request through the proxy', async () => {
    const proxy = await startForwardProxy();
    try {
      const run = await hiper([
        `${http.url}/small`,
        '-n',
        '3',
        '-c',
        '1',
        '--proxy',
        proxy.url,
        '--json',
        '-q',
      ]);
      expect(run.code).toBe(0);
      expect(summaryOf(run).statuses).toEqual({ 200: 3 });
      expect(proxy.relayed).toEqual([`${http.url}/small`, `${http.url}/small`, `${http.url}/small`]);
    } finally {
      await proxy.close();
    }
  });

  it('--resolve connects a made-up name to 127.0.0.1', async () => {
    const run = await hiper([
      `http://hiper.invalid:${http.port}/small`,
      '--resolve',
      `hiper.invalid:${http.port}:127.0.0.1`,
      '-w',
      '%{http_code}',
      '-q',
    ]);
    expect(run.stdout).toBe('200');
    const without = await hiper([`http://hiper.invalid:${http.port}/small`, '--json', '-q']);
    expect(summaryOf(without).errors).toEqual({ CURLE_COULDNT_RESOLVE_HOST: 1 });
  });

  it('--connect-timeout gives up a connect that never completes; -m a request that never ends', async () => {
    const unaccepting = await startUnacceptingServer();
    try {
      const run = await hiper([`${unaccepting.url}/`, '--connect-timeout', '0.3', '--json', '-q']);
      expect(run.code).toBe(1);
      expect(summaryOf(run).errors).toEqual({ CURLE_OPERATION_TIMEDOUT: 1 });
      expect(summaryOf(run).latencyMs.max).toBeGreaterThanOrEqual(250);
      expect(summaryOf(run).latencyMs.max).toBeLessThan(2000);
    } finally {
      await unaccepting.close();
    }
    const slow = await hiper([`${http.url}/slow/5000`, '-m', '300ms', '--json', '-q']);
    expect(summaryOf(slow).errors).toEqual({ CURLE_OPERATION_TIMEDOUT: 1 });
  });

  it('--limit-rate slows a transfer down to about the speed asked', async () => {
    const fast = await hiper([`${http.url}/bytes/2097152`, '--json', '-q']);
    const slow = await hiper([`${http.url}/bytes/2097152`, '--limit-rate', '512k', '--json', '-q']);
    expect(summaryOf(slow).bytes).toBe(2097152);
    expect(summaryOf(fast).latencyMs.max).toBeLessThan(1000);
    // libcurl reads a burst before it first checks the rate: about 3 s rather than 4.
    expect(summaryOf(slow).latencyMs.max).toBeGreaterThan(1500);
  });

  it('--no-keepalive opens a connection per request; by default one is reused', async () => {
    const reused = await hiper([`${http.url}/small`, '-n', '10', '-c', '1', '--json', '-q']);
    expect(summaryOf(reused).connectionsOpened).toBe(1);
    const fresh = await hiper([`${http.url}/small`, '-n', '10', '-c', '1', '--no-keepalive', '--json', '-q']);
    expect(summaryOf(fresh)).toMatchObject({ ok: 10, connectionsOpened: 10 });
  });

  it('--parallel-max-host caps the connections to one host', async () => {
    const capped = await hiper([
      `${http.url}/slow/20`,
      '-n',
      '32',
      '-c',
      '16',
      '--parallel-max-host',
      '2',
      '--json',
      '-q',
    ]);
    expect(summaryOf(capped).ok).toBe(32);
    expect(summaryOf(capped).connectionsOpened).toBeLessThanOrEqual(2);
    const open = await hiper([`${http.url}/slow/20`, '-n', '32', '-c', '16', '--json', '-q']);
    expect(summaryOf(open).connectionsOpened).toBeGreaterThan(2);
  });
});

describe('TLS and HTTP versions', () => {
  it('verifies against --cacert, fails on an unknown CA, and -k skips the check', async () => {
    const unknown = await hiper([`${tls.url}/small`, '--json', '-q']);
    expect(unknown.code).toBe(1);
    expect(summaryOf(unknown).errors).toEqual({ CURLE_PEER_FAILED_VERIFICATION: 1 });
    const trusted = await hiper([
      `${tls.url}/small`,
      '--cacert',
      certs.caCertPath,
      '-w',
      '%{http_code}',
      '-q',
    ]);
    expect(trusted.stdout).toBe('200');
    const insecure = await hiper([`${tls.url}/small`, '-k', '-w', '%{http_code}', '-q']);
    expect(insecure.stdout).toBe('200');
  });

  it('--cert and --key present a client certificate to a server that requires one', async () => {
    const args = [`${h2mtls.url}/small`, '--http2', '--cacert', certs.caCertPath];
    const refused = await hiper([...args, '--json', '-q']);
    expect(refused.code).toBe(1);
    const run = await hiper([
      ...args,
      '--cert',
      certs.clientCertPath,
      '--key',
      certs.clientKeyPath,
      '-w',
      '%{http_code} %{http_version}',
      '-q',
    ]);
    expect(run.stdout).toBe('200 2');
  });

  it('--http2 speaks h2c to an http:// HTTP/2 server, --http1.1 HTTP/1.1', async () => {
    const two = await hiper([`${h2c.url}/small`, '--http2', '-w', '%{http_version}', '-q']);
    expect(two.stdout).toBe('2');
    const one = await hiper([`${http.url}/small`, '--http1.1', '-w', '%{http_version}', '-q']);
    expect(one.stdout).toBe('1.1');
    const both = await hiper([`${http.url}/small`, '--http1.1', '--http2', '-q']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--http1.1 and --http2 contradict/);
  });
});
