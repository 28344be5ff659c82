// Starts test/http-server.mjs in a child process and talks to it over IPC.
import { fork } from 'node:child_process';

export interface TestServer {
  readonly url: string;
  close(): Promise<void>;
}

export async function startServer(): Promise<TestServer> {
  const child = fork(new URL('./http-server.mjs', import.meta.url), { stdio: 'inherit' });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('message', (message) => resolve((message as { port: number }).port));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.send('close');
      }),
  };
}
