import { Worker } from 'node:worker_threads';
import type { ServerCounts } from './demo-server.js';

export interface DemoServerThread {
  readonly url: string;
  /** Stops the server and resolves with what it counted (idempotent). */
  close(): Promise<ServerCounts>;
}

type WorkerMessage = { type: 'listening'; url: string } | { type: 'closed'; counts: ServerCounts };

/**
 * The demo server in a worker thread of its own, so that on a machine with two cores the server
 * and hiper's client each get one (uWebSockets.js loads in workers).
 */
export function startDemoServerThread(): Promise<DemoServerThread> {
  const worker = new Worker(new URL('./demo-server-worker.js', import.meta.url));
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    worker.once('error', onError);
    worker.once('message', (message: WorkerMessage) => {
      if (message.type !== 'listening') {
        reject(new Error(`the demo server thread said ${message.type} first`));
        return;
      }
      worker.off('error', onError);
      let closing: Promise<ServerCounts> | null = null;
      resolve({
        url: message.url,
        close() {
          closing ??= new Promise<ServerCounts>((done, fail) => {
            worker.once('error', fail);
            worker.once('message', (reply: WorkerMessage) => {
              if (reply.type === 'closed') done(reply.counts);
            });
            worker.postMessage('close');
          });
          return closing;
        },
      });
    });
  });
}
