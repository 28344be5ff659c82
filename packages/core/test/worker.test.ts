import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { fdsBackTo, openFds, startServer } from './helpers.js';

const fixture = new URL('./fixtures/worker.mjs', import.meta.url);

function run(workerData: unknown) {
  const worker = new Worker(fixture, { workerData });
  const messages: unknown[] = [];
  worker.on('message', (m) => messages.push(m));
  const exited = new Promise<number>((resolve, reject) => {
    worker.on('exit', resolve);
    worker.on('error', reject);
  });
  return { worker, messages, exited };
}

describe('worker threads', () => {
  it('a worker runs its own Multi with its own state', async () => {
    const server = await startServer();
    const baseline = openFds();
    const a = run({ url: `${server.url}/`, count: 20 });
    const b = run({ url: `${server.url}/`, count: 20 });
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
    expect(a.messages).toEqual([{ done: 20, bodies: 20 * 12 }]);
    expect(b.messages).toEqual([{ done: 20, bodies: 20 * 12 }]);
    expect(await fdsBackTo(baseline)).toBeLessThanOrEqual(baseline);
    await server.close();
  });

  it('terminating a worker with transfers in flight neither crashes nor leaks an fd', async () => {
    const server = await startServer((_req, res) => setTimeout(() => res.end('late'), 5000).unref());
    const baseline = openFds();
    const w = run({ url: `${server.url}/`, count: 8, hold: true });
    while (w.messages.length === 0) await new Promise((r) => setTimeout(r, 5));
    expect(w.messages[0]).toEqual({ inFlight: 8 });
    await w.worker.terminate();
    expect(await fdsBackTo(baseline)).toBeLessThanOrEqual(baseline);
    await server.close();
  });
});
