// A reactor the application runs blocks in its own loop and never returns to Node's: whatever
// frees received bodies must not need Node's event loop. 300 bodies of 1 MiB go through a
// synchronous runOnce loop, taken and dropped, and the process's memory stays flat.
import { Easy, Multi } from '@multisock/core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EpollReactor } from '../src/index.js';
import { startServer, type TestServer } from './server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

it('a blocking EpollReactor receiving 1 MiB bodies keeps memory flat', { timeout: 60_000 }, () => {
  const MiB = 1024 * 1024;
  const reactor = new EpollReactor();
  const multi = new Multi();
  reactor.attach(multi);
  const easies = Array.from({ length: 4 }, () => {
    const easy = new Easy();
    easy.setopt('URL', `${server.url}/bytes/${MiB}`);
    return easy;
  });
  try {
    for (const easy of easies) multi.addHandle(easy);
    const rssBefore = process.memoryUsage().rss;
    let peak = 0;
    let done = 0;
    let bytes = 0;
    // Never awaits: the loop runs as a blocking reactor does, in one JavaScript task.
    while (done < 300) {
      reactor.runOnce(1000);
      for (let msg = multi.infoRead(); msg !== null; msg = multi.infoRead()) {
        expect(msg.result).toBe(0);
        bytes += msg.easy.takeBody().length;
        multi.removeHandle(msg.easy);
        done++;
        if (done + easies.length <= 300) multi.addHandle(msg.easy);
      }
      peak = Math.max(peak, process.memoryUsage().rss - rssBefore);
    }
    expect(bytes).toBe(300 * MiB);
    // 300 MiB went through; a loop that kept them (external buffers waiting for a finalizer
    // Node runs only from its event loop) grew by about that much.
    expect(peak).toBeLessThan(120 * MiB);
  } finally {
    multi.close();
    reactor.close();
    for (const easy of easies) easy.close();
  }
});
