import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { CertificateSet } from './certificates.js';
import { type IsolatedProcess, spawnIsolated } from './isolated.js';
import { freePorts, waitForPort } from './ports.js';

/** Where Debian's h2o package puts the binary (scripts/setup.sh installs it). */
const H2O = '/usr/bin/h2o';

/** The h2o binary, or null when it is not installed. */
export function findH2o(): string | null {
  return existsSync(H2O) ? H2O : null;
}

/** What startH2o takes. */
export interface H2oOptions {
  certs: CertificateSet;
  /** Files to serve, by URL path ('/a.bin') with their bytes. */
  files: ReadonlyMap<string, Buffer>;
}

/** A running h2o, as startH2o resolves it. */
export interface H2oServer {
  /** `https://127.0.0.1:P`: TLS with h2 and http/1.1 (ALPN). h2o allows 100 streams per
   * connection and closes a connection idle for 10 s (its defaults). */
  readonly https: string;
  /** `http://127.0.0.1:P`: HTTP/1.1 and h2c with prior knowledge. */
  readonly http: string;
  /** Connections accepted so far, from h2o's access log (one line per request). */
  connections(): Promise<number>;
  /** Stops h2o and every process it forked, removes its folder. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts h2o 2.2 from Debian on 127.0.0.1, two ports chosen now, config, pid and logs in a
 * temporary folder. h2o forks helper processes that it never reaps: it runs in a PID namespace
 * of its own (see spawnIsolated), so closing it ends all of them.
 */
export async function startH2o(options: H2oOptions): Promise<H2oServer> {
  const binary = findH2o();
  if (binary === null) throw new Error('startH2o: h2o is not installed (scripts/setup.sh installs it)');
  const dir = await mkdtemp(join(tmpdir(), 'multisock-h2o-'));
  let server: IsolatedProcess | null = null;
  try {
    await mkdir(join(dir, 'www'));
    for (const [path, bytes] of options.files) await writeFile(join(dir, 'www', path), bytes);
    for (let attempt = 1; ; attempt++) {
      const [tlsPort, plainPort] = (await freePorts(2)) as [number, number];
      // h2o running as root switches to 'nobody' unless told otherwise.
      const user = process.getuid?.() === 0 ? `user: ${userInfo().username}\n` : '';
      const conf = `${user}pid-file: ${join(dir, 'h2o.pid')}
error-log: ${join(dir, 'error.log')}
num-threads: 1
listen:
  host: 127.0.0.1
  port: ${tlsPort}
  ssl:
    certificate-file: ${options.certs.serverCertPath}
    key-file: ${options.certs.serverKeyPath}
    ocsp-update-interval: 0
listen:
  host: 127.0.0.1
  port: ${plainPort}
hosts:
  default:
    paths:
      /:
        file.dir: ${join(dir, 'www')}
    access-log:
      path: ${join(dir, 'access.log')}
      format: "%{connection-id}x %s %U"
`;
      await writeFile(join(dir, 'h2o.conf'), conf);
      const started = spawnIsolated(binary, ['-c', join(dir, 'h2o.conf')]);
      server = started;
      let stderr = '';
      started.child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      try {
        await waitForPort(tlsPort, 10_000, started.alive);
        await waitForPort(plainPort, 10_000, started.alive);
      } catch (error) {
        await started.stop();
        if (attempt < 5 && /in use/i.test(stderr)) continue;
        throw new Error(`startH2o: ${(error as Error).message}: ${stderr.trim()}`);
      }
      let closing: Promise<void> | null = null;
      return {
        https: `https://127.0.0.1:${tlsPort}`,
        http: `http://127.0.0.1:${plainPort}`,
        async connections() {
          const log = await readFile(join(dir, 'access.log'), 'utf8').catch(() => '');
          return new Set(
            log
              .split('\n')
              .filter((l) => l !== '')
              .map((l) => l.split(' ')[0]),
          ).size;
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
  } catch (error) {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
