import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CertificateSet } from './certificates.js';
import { type IsolatedProcess, spawnIsolated } from './isolated.js';
import { patternBytes } from './pattern.js';
import { freePorts } from './ports.js';

/** Where Debian's nginx package puts the binary (scripts/setup.sh installs it). */
const NGINX_CANDIDATES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'];

/** The nginx binary, or null when none is installed. */
export function findNginx(): string | null {
  for (const path of NGINX_CANDIDATES) if (existsSync(path)) return path;
  const which = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' });
  const found = which.status === 0 ? which.stdout.trim() : '';
  return found === '' ? null : found;
}

/** What startNginx takes. */
export interface NginxOptions {
  /** Certificates for the TLS listener (server.pem / server.key). */
  certs: CertificateSet;
  /** Requests one connection serves before nginx closes it; over HTTP/2 it then sends GOAWAY
   * (keepalive_requests, default 1000 as in nginx). */
  keepaliveRequests?: number;
  /** Streams one HTTP/2 connection may have open (http2_max_concurrent_streams, default 128). */
  maxConcurrentStreams?: number;
  /** Bytes per second of /slow/ (limit_rate, default 256 KiB/s). */
  limitRate?: number;
  /** Size of www/large.bin (default 32 MiB). */
  largeBytes?: number;
}

/** One line of nginx's access log, as the format in the config writes it. */
export interface NginxLogEntry {
  /** nginx's serial number of the connection ($connection). */
  connection: number;
  /** Requests made on that connection so far, this one included ($connection_requests). */
  connectionRequests: number;
  port: number;
  protocol: string;
  method: string;
  uri: string;
  status: number;
  bodyBytes: number;
}

/** A running nginx, as startNginx resolves it. */
export interface NginxServer {
  /** `http://127.0.0.1:P`: HTTP/1.1. */
  readonly http: string;
  /** `https://127.0.0.1:P`: TLS, h2 and http/1.1 through ALPN. */
  readonly https: string;
  /** `http://127.0.0.1:P`: HTTP/2 with prior knowledge (h2c). */
  readonly h2c: string;
  /** The document root: small.txt, text.txt (compressible), large.bin and the others. */
  readonly root: string;
  /** The process to stop: nginx's master, or the unshare holding its PID namespace. */
  readonly pid: number;
  readonly keepaliveRequests: number;
  readonly maxConcurrentStreams: number;
  readonly limitRate: number;
  /** The files under `root` by URL path ('/small.txt'...) with their bytes. */
  readonly files: ReadonlyMap<string, Buffer>;
  /** Every request logged so far. nginx writes a line when a request ends. */
  log(): Promise<NginxLogEntry[]>;
  /** Stops nginx and every process of it (see spawnIsolated), removes its folder. Idempotent. */
  close(): Promise<void>;
}

/** Text nginx compresses well: 256 KiB of numbered lines. */
function compressibleText(bytes: number): Buffer {
  const lines: string[] = [];
  let length = 0;
  for (let i = 0; length < bytes; i++) {
    const line = `line ${i} of the interop text, sha ${createHash('sha1').update(String(i)).digest('hex')}\n`;
    lines.push(line);
    length += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

/** The redirect chain /redirect/N -> ... -> /redirect/0 (200) and the loop /loop/a <-> /loop/b. */
const REDIRECT_CHAIN = 5;

function locations(limitRate: number): string {
  const chain: string[] = [];
  for (let n = REDIRECT_CHAIN; n > 0; n--) {
    // 301, 302, 303, 307, 308 in turn: a GET follows each the same way.
    const status = [301, 302, 303, 307, 308][n % 5];
    chain.push(`location = /redirect/${n} { return ${status} /redirect/${n - 1}; }`);
  }
  return `
    location / { }
    ${chain.join('\n    ')}
    location = /redirect/0 { default_type text/plain; return 200 "redirect chain done\\n"; }
    location = /redirect/absolute { return 302 $scheme://$http_host/small.txt; }
    location = /loop/a { return 302 /loop/b; }
    location = /loop/b { return 302 /loop/a; }
    location = /status/404 { default_type text/plain; return 404 "nothing here\\n"; }
    location = /status/204 { return 204; }
    # gzip: compressed whenever the request accepts it; chunked over HTTP/1.1 (no length).
    location /gzip/ {
      alias ROOT/;
      gzip on;
      gzip_types *;
      gzip_min_length 0;
      gzip_vary on;
    }
    # An identity body without Content-Length: chunked over HTTP/1.1 (sub_filter drops the length).
    location /chunked/ {
      alias ROOT/;
      sub_filter_types *;
      sub_filter 'no-such-text' 'x';
    }
    location /slow/ {
      alias ROOT/;
      limit_rate ${limitRate};
    }`;
}

function config(
  dir: string,
  ports: number[],
  o: Required<Omit<NginxOptions, 'certs'>>,
  certs: CertificateSet,
): string {
  const root = join(dir, 'www');
  const locs = locations(o.limitRate).replaceAll('ROOT', root);
  // A master running as root hands requests to workers of 'user'; they must read the folder.
  const user = process.getuid?.() === 0 ? `user ${userInfo().username};` : '';
  const tmp = (name: string) => `${name}_temp_path ${join(dir, 'tmp', name)};`;
  return `
daemon off;
master_process on;
worker_processes 1;
${user}
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  types { text/plain txt; application/octet-stream bin; text/html html; application/json json; }
  default_type application/octet-stream;
  log_format interop '$connection $connection_requests $server_port $server_protocol $request_method $request_uri $status $body_bytes_sent';
  access_log ${join(dir, 'access.log')} interop;
  ${tmp('client_body')} ${tmp('proxy')} ${tmp('fastcgi')} ${tmp('uwsgi')} ${tmp('scgi')}
  sendfile on;
  keepalive_requests ${o.keepaliveRequests};
  keepalive_timeout 60s;
  http2_max_concurrent_streams ${o.maxConcurrentStreams};
  server {
    listen 127.0.0.1:${ports[0]};
    root ${root};
    ${locs}
  }
  server {
    listen 127.0.0.1:${ports[1]} ssl http2;
    ssl_certificate ${certs.serverCertPath};
    ssl_certificate_key ${certs.serverKeyPath};
    root ${root};
    ${locs}
  }
  server {
    listen 127.0.0.1:${ports[2]} http2;
    root ${root};
    ${locs}
  }
}
`;
}

/**
 * Starts nginx from Debian on 127.0.0.1 with its own config, pid, logs and temp folders in a
 * fresh temporary folder, on three ports chosen now: HTTP/1.1, TLS (h2 and HTTP/1.1) and h2c.
 * Never the system service. Runs in a PID namespace of its own when it can (see spawnIsolated),
 * so no worker outlives its master. Throws when nginx is not installed (scripts/setup.sh installs it).
 */
export async function startNginx(options: NginxOptions): Promise<NginxServer> {
  const binary = findNginx();
  if (binary === null) throw new Error('startNginx: nginx is not installed (scripts/setup.sh installs it)');
  if (typeof options?.certs?.serverCertPath !== 'string') {
    throw new TypeError('startNginx: options.certs must come from makeCertificates()');
  }
  const o = {
    keepaliveRequests: options.keepaliveRequests ?? 1000,
    maxConcurrentStreams: options.maxConcurrentStreams ?? 128,
    limitRate: options.limitRate ?? 256 * 1024,
    largeBytes: options.largeBytes ?? 32 * 1024 * 1024,
  };
  for (const [name, value] of Object.entries(o)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`startNginx: ${name} must be a positive integer, got ${value}`);
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'multisock-nginx-'));
  let server: IsolatedProcess | null = null;
  try {
    const files = new Map<string, Buffer>([
      ['/small.txt', Buffer.from('hello from nginx\n')],
      ['/text.txt', compressibleText(256 * 1024)],
      ['/pattern.bin', patternBytes(1024 * 1024)],
      ['/large.bin', patternBytes(o.largeBytes)],
      ['/empty.txt', Buffer.alloc(0)],
    ]);
    await mkdir(join(dir, 'www'), { recursive: true });
    for (const name of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
      await mkdir(join(dir, 'tmp', name), { recursive: true });
    }
    for (const [path, bytes] of files) await writeFile(join(dir, 'www', path), bytes);

    for (let attempt = 1; ; attempt++) {
      const ports = await freePorts(3);
      const conf = join(dir, 'nginx.conf');
      await writeFile(conf, config(dir, ports, o, options.certs));
      await rm(join(dir, 'nginx.pid'), { force: true });
      // -e: the early error log (before the config is read) goes there, not to /var/log.
      const started = spawnIsolated(binary, ['-c', conf, '-p', dir, '-e', join(dir, 'startup.log')]);
      server = started;
      let stderr = '';
      started.child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      // The pid file is written once every listen socket is bound.
      const deadline = Date.now() + 10_000;
      while (!existsSync(join(dir, 'nginx.pid')) && started.alive() && Date.now() < deadline) {
        await sleep(10);
      }
      if (started.alive() && existsSync(join(dir, 'nginx.pid'))) {
        let closing: Promise<void> | null = null;
        const url = (scheme: string, port: number) => `${scheme}://127.0.0.1:${port}`;
        return {
          http: url('http', ports[0]!),
          https: url('https', ports[1]!),
          h2c: url('http', ports[2]!),
          root: join(dir, 'www'),
          pid: started.child.pid!,
          ...o,
          files,
          async log() {
            const text = await readFile(join(dir, 'access.log'), 'utf8').catch(() => '');
            return text
              .split('\n')
              .filter((line) => line !== '')
              .map((line) => {
                const [connection, requests, port, protocol, method, uri, status, bytes] = line.split(' ');
                return {
                  connection: Number(connection),
                  connectionRequests: Number(requests),
                  port: Number(port),
                  protocol: protocol!,
                  method: method!,
                  uri: uri!,
                  status: Number(status),
                  bodyBytes: Number(bytes),
                };
              });
          },
          close() {
            closing ??= (async () => {
              await started.stop();
              await rm(dir, { recursive: true, force: true });
            })();
            return closing;
          },
        };
      }
      await started.stop();
      const why = `${stderr}${await readFile(join(dir, 'startup.log'), 'utf8').catch(() => '')}`;
      // Another process may have taken a port between freePorts() and nginx's bind: try again.
      if (attempt < 5 && /Address already in use/.test(why)) continue;
      throw new Error(`startNginx: nginx did not start: ${why.trim() || `exit ${started.child.exitCode}`}`);
    }
  } catch (error) {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
