// Starts test/http-server.mjs in a child process and talks to it over IPC.
import { type ChildProcess, fork } from 'node:child_process';

export interface TestServer {
  readonly url: string;
  /** Resolves when the server reports that every held /gate response was written. */
  gateReleased(): Promise<void>;
  close(): Promise<void>;
}

export async function startServer(): Promise<TestServer> {
  const child: ChildProcess = fork(new URL('./http-server.mjs', import.meta.url), { stdio: 'inherit' });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('message', (message) => resolve((message as { port: number }).port));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    gateReleased: () =>
      new Promise<void>((resolve) => {
        const onMessage = (message: unknown) => {
          if ((message as { gate?: string }).gate !== 'released') return;
          child.off('message', onMessage);
          resolve();
        };
        child.on('message', onMessage);
      }),
    close: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.send('close');
      }),
  };
}
