// hiper's exit status for bad --header values, and its connection count when transfers fail.
import { execFile } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Summary } from '../src/stats/summary.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

function hiper(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

describe('hiper --header', () => {
  it.each([
    ['bad name: v', /--header name "bad name" is not an HTTP token/],
    ['Ü: x', /--header name "Ü" is not an HTTP token/],
    ['X-A: a\rb', /--header X-A: the value holds CR, LF or NUL/],
    ['no colon', /--header must look like 'Name: value'/],
    ['Transfer-Encoding: chunked', /Transfer-Encoding/],
    ['Content-Length: 5', /Content-Length/],
  ])('%j exits 2 with the reason and the usage, before any request', async (header, reason) => {
    // A port nothing listens on: a request would fail with exit status 1, not 2.
    const run = await hiper(['http://127.0.0.1:9/', '-H', header, '-q']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(reason);
    expect(run.stderr).toMatch(/^usage: hiper/m);
  });
});

describe('hiper connections', () => {
  let server: net.Server;
  let port: number;
  let accepted = 0;
  beforeAll(async () => {
    // Reads each request and closes: every transfer opens a connection and fails (GOT_NOTHING).
    server = net.createServer((socket) => {
      accepted++;
      socket.on('error', () => {});
      socket.once('data', () => socket.end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('counts the connections of failed transfers in "connections opened"', async () => {
    const run = await hiper([`http://127.0.0.1:${port}/`, '-n', '6', '-c', '2', '--json', '-q']);
    expect(run.code).toBe(1);
    const summary = JSON.parse(run.stdout) as Summary;
    expect(summary).toMatchObject({ requests: 6, failed: 6, errors: { CURLE_GOT_NOTHING: 6 } });
    expect(accepted).toBe(6);
    expect(summary.connectionsOpened).toBe(6);

    const table = await hiper([`http://127.0.0.1:${port}/`, '-n', '3', '-q']);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/connections\s+3 opened/);
  });
});
