// Starts test/http-server.mjs in a child process and talks to it over IPC.
import { type ChildProcess, fork } from 'node:child_process';

export interface TestServer {
  readonly url: string;
  /** Resolves when the server reports the held /gate requests all arrived. */
  gateWaiting(): Promise<void>;
  /** Answers the held /gate requests; resolves once every response was written. */
  releaseGate(): Promise<void>;
  close(): Promise<void>;
}

export async function startServer(): Promise<TestServer> {
  const child: ChildProcess = fork(new URL('./http-server.mjs', import.meta.url), { stdio: 'inherit' });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('message', (message) => resolve((message as { port: number }).port));
  });
  const message = (gate: string) =>
    new Promise<void>((resolve) => {
      const onMessage = (m: unknown) => {
        if ((m as { gate?: string }).gate !== gate) return;
        child.off('message', onMessage);
        resolve();
      };
      child.on('message', onMessage);
    });
  return {
    url: `http://127.0.0.1:${port}`,
    gateWaiting: () => message('waiting'),
    releaseGate: () => {
      const released = message('released');
      child.send('release');
      return released;
    },
    close: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.send('close');
      }),
  };
}
