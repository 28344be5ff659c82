// The embedded demo server's thread: starts the server, reports its URL, and on 'close' stops
// it and reports what it counted.
import { parentPort } from 'node:worker_threads';
import { startDemoServer } from './demo-server.js';

if (!parentPort) throw new Error('demo-server-worker.js runs as a worker thread');
const port = parentPort;
const server = await startDemoServer();
port.postMessage({ type: 'listening', url: server.url });
port.once('message', () => {
  server.close();
  port.postMessage({ type: 'closed', counts: server.counts });
  port.close();
});
