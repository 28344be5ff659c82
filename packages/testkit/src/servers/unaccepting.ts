import net from 'node:net';
import { Worker } from 'node:worker_threads';

/** A listener whose accept queue is full and never drained: a new connect() hangs in SYN-SENT. */
export interface UnacceptingServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

// The listening socket lives in a worker whose event loop is blocked in Atomics.wait, so nothing
// ever accepts. Two connections fill the queue (Linux holds backlog + 1); later SYNs are dropped.
const WORKER = `
const net = require('node:net');
const { parentPort, workerData } = require('node:worker_threads');
const server = net.createServer();
server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  parentPort.postMessage(server.address().port);
  Atomics.wait(workerData.gate, 0, 0);
  server.close();
  parentPort.close();
});
`;

/** Used for CONNECTTIMEOUT: connects to its url never complete, all on loopback. */
export async function startUnacceptingServer(): Promise<UnacceptingServer> {
  const gate = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(WORKER, { eval: true, workerData: { gate } });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    fillers.push(socket);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  }
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close() {
      closing ??= (async () => {
        for (const s of fillers) s.destroy();
        Atomics.store(gate, 0, 1);
        Atomics.notify(gate, 0);
        await new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      })();
      return closing;
    },
  };
}
