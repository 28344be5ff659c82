// The bench server, run in its own child process (pinned to its own core by the parent):
// uWebSockets.js for HTTP/1.1 and TLS, node:http2 for HTTP/2 (h2c with prior knowledge, and h2
// over TLS) in the same process. Prints one JSON line with the ports, then serves until stdin closes.
//
//   node dist/server.js '{"tls":{"key":"...","cert":"..."}}'
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { HttpResponse, TemplatedApp, us_listen_socket } from '@trufflesuite/uws-js-unofficial';
import uWS from '@trufflesuite/uws-js-unofficial';
import { BODY_12B, HELD_MS, ROUTES } from './routes.js';

export interface ServerPorts {
  http: number;
  https: number | null;
  h2c: number;
  /** HTTP/2 over TLS (ALPN h2), when certificates were given. */
  h2tls: number | null;
}

interface ServerConfig {
  tls?: { key: string; cert: string };
}

const bodies = new Map<string, Buffer>([
  [ROUTES.small, Buffer.from(BODY_12B)],
  [ROUTES.medium, Buffer.alloc(64 * 1024, 'm')],
  [ROUTES.large, Buffer.alloc(1024 * 1024, 'l')],
]);

/** Small JSON documents for the gateway scenario: /json/<name> answers {"name":..., "n":...}. */
function jsonFor(url: string): string | null {
  if (!url.startsWith('/json/')) return null;
  const name = url.slice('/json/'.length);
  return JSON.stringify({ name, n: name.length, items: [1, 2, 3] });
}

function routes(app: TemplatedApp): TemplatedApp {
  return app.get('/*', (res, req) => {
    const url = req.getUrl();
    const body = bodies.get(url);
    if (body) {
      res.end(body);
      return;
    }
    if (url === ROUTES.held) return hold(res);
    if (url.startsWith(`${ROUTES.files}/`)) {
      res.end(BODY_12B);
      return;
    }
    const json = jsonFor(url);
    if (json !== null) {
      res.writeHeader('content-type', 'application/json').end(json);
      return;
    }
    res.writeStatus('404 Not Found').end('not found');
  });
}

/** Answers after HELD_MS: the transfer stays open that long on both sides. */
function hold(res: HttpResponse): void {
  const timer = setTimeout(() => {
    res.cork(() => res.end(BODY_12B));
  }, HELD_MS);
  res.onAborted(() => clearTimeout(timer));
}

function listen(app: TemplatedApp): Promise<number> {
  return new Promise((resolve, reject) => {
    app.listen('127.0.0.1', 0, (token: us_listen_socket | false) => {
      if (!token) reject(new Error('uWebSockets.js could not listen on 127.0.0.1'));
      else resolve(uWS.us_socket_local_port(token as unknown as uWS.us_socket));
    });
  });
}

function listenH2(tls: ServerConfig['tls']): Promise<number> {
  const settings = { maxConcurrentStreams: 1000 };
  const server = tls
    ? http2.createSecureServer({ key: readFileSync(tls.key), cert: readFileSync(tls.cert), settings })
    : http2.createServer({ settings });
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    const body = bodies.get(path);
    if (body) {
      stream.respond({ ':status': 200, 'content-length': body.length });
      stream.end(body);
      return;
    }
    stream.respond({ ':status': 404 });
    stream.end('not found');
  });
  server.on('sessionError', () => {});
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as ServerConfig;
  const http = await listen(routes(uWS.App()));
  const https = config.tls
    ? await listen(routes(uWS.SSLApp({ key_file_name: config.tls.key, cert_file_name: config.tls.cert })))
    : null;
  const h2c = await listenH2(undefined);
  const h2tls = config.tls ? await listenH2(config.tls) : null;
  const ports: ServerPorts = { http, https, h2c, h2tls };
  process.stdout.write(`${JSON.stringify(ports)}\n`);
  // The parent holds our stdin; when it goes (or exits), so do we.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}

main().catch((error: unknown) => {
  process.stderr.write(`bench server: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
