// Starts the bench server (dist/server.js) in its own child process on the server core.
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import type { CertificateSet } from '@multisock/testkit/servers';
import { firstJsonLine, SERVER_CORE, spawnPinned } from './process.js';
import type { ServerPorts } from './server.js';

export interface RunningServer {
  ports: ServerPorts;
  pid: number;
  close(): Promise<void>;
}

const SERVER_SCRIPT = fileURLToPath(new URL('./server.js', import.meta.url));

export async function startServer(certs: CertificateSet | null): Promise<RunningServer> {
  const config = certs ? { tls: { key: certs.serverKeyPath, cert: certs.serverCertPath } } : {};
  const child = spawnPinned(SERVER_CORE, process.execPath, [SERVER_SCRIPT, JSON.stringify(config)], {
    stdin: 'pipe',
  });
  const ports = await firstJsonLine<ServerPorts>(child, 'the bench server');
  const server: RunningServer = {
    ports,
    pid: child.pid ?? -1,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin?.end();
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
  try {
    await checkNativeUws(ports.http);
  } catch (error) {
    await server.close();
    throw error;
  }
  return server;
}

/** uWebSockets.js silently falls back to a slow JS server when its binary does not load: the
 * native one adds a `uWebSockets: 20` header to every answer. */
function checkNativeUws(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/12b', agent: false }, (res) => {
        res.resume();
        if (res.headers.uwebsockets === '20') resolve();
        else
          reject(
            new Error('the bench server is not the native uWebSockets.js (no "uWebSockets: 20" header)'),
          );
      })
      .on('error', reject);
  });
}
