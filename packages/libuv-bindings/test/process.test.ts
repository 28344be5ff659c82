// Behaviour that only shows at process or thread level, run in a child `node` on the built
// dist/ (so `build` must have run): uncaught exceptions, ref/unref, env teardown.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const lib = pathToFileURL(fileURLToPath(new URL('../dist/index.js', import.meta.url))).href;
let dir = '';
let fifo = '';

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libuv-bindings-'));
  fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
});
afterAll(() => fs.rmSync(dir, { recursive: true }));

function runNode(script: string, timeoutMs = 20_000) {
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script, lib, fifo], {
    encoding: 'utf8',
    timeout: timeoutMs,
    // glibc fills freed memory with this byte: a use after free at teardown crashes instead of
    // passing by luck.
    env: { ...process.env, MALLOC_PERTURB_: '165' },
  });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

const prelude = `
import fs from 'node:fs';
const { Poll, Timer, PollEvent } = await import(process.argv[1]);
const openFifo = () => fs.openSync(process.argv[2], fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
`;

describe('callbacks behave like Node callbacks', () => {
  it("an exception thrown by a callback goes to process 'uncaughtException'", () => {
    const { status, stdout } = runNode(`${prelude}
      process.on('uncaughtException', (error) => console.log('caught', error.message));
      const timer = new Timer(() => { throw new Error('from timer'); });
      timer.start(0);
      const fd = openFifo();
      const poll = new Poll(fd, () => { poll.close(); fs.closeSync(fd); timer.close(); throw new Error('from poll'); });
      poll.start(PollEvent.WRITABLE);
    `);
    expect(stdout).toContain('caught from timer');
    expect(stdout).toContain('caught from poll');
    expect(status).toBe(0);
  });

  it('without a handler the exception ends the process with its stack, as usual', () => {
    const { status, stderr } = runNode(`${prelude}
      new Timer(() => { throw new Error('nobody catches this'); }).start(0);
    `);
    expect(status).toBe(1);
    expect(stderr).toContain('Error: nobody catches this');
  });

  it('a started handle keeps the process alive; unref() lets it exit', () => {
    const kept = runNode(`${prelude}
      new Timer(() => console.log('fired')).start(50);
    `);
    expect(kept.stdout).toBe('fired\n');
    const started = Date.now();
    const released = runNode(`${prelude}
      const timer = new Timer(() => console.log('fired'));
      timer.unref();
      timer.start(60_000);
      const poll = new Poll(openFifo(), () => console.log('readable'));
      poll.unref();
      poll.start(PollEvent.READABLE);
    `);
    expect(released.stdout).toBe('');
    expect(released.status).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('env teardown with handles open', () => {
  // Each worker opens its own fd on the FIFO and leaves started, armed, idle and unref'd
  // handles behind; Node aborts the whole process if a worker's loop still holds handles.
  const worker = `
    import fs from 'node:fs';
    import { parentPort, workerData } from 'node:worker_threads';
    const { Poll, Timer, PollEvent } = await import(workerData.lib);
    (() => {
      const fds = [0, 1, 2].map(() => fs.openSync(workerData.fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK));
      const busy = new Poll(fds[0], () => {});   // writable: fires on every loop turn
      busy.start(PollEvent.WRITABLE);
      const quiet = new Poll(fds[1], () => {});
      quiet.start(PollEvent.READABLE);
      quiet.unref();
      new Poll(fds[2], () => {});                 // idle
      new Timer(() => {}).start(60_000);
      new Timer(() => {});                        // idle
      const spin = new Timer(() => spin.start(0));
      spin.start(0);
      if (workerData.mode === 'natural') {
        busy.stop(); spin.stop();
        for (const t of [new Timer(() => {}), new Timer(() => {})]) { t.unref(); t.start(60_000); }
        setTimeout(() => parentPort.postMessage('ready'), 10);
        return; // the 60 s timer still holds the loop: 'natural' ends by terminate() as well
      }
      if (workerData.mode === 'exit-in-callback') {
        new Timer(() => process.exit(0)).start(20);
      }
      if (workerData.mode === 'terminate-while-busy') {
        new Timer(() => { parentPort.postMessage('ready'); for (;;); }).start(5);
        return;
      }
      setTimeout(() => parentPort.postMessage('ready'), 20);
    })();
  `;

  it('terminating workers with started, armed and idle handles does not crash', () => {
    const { status, signal, stdout, stderr } = runNode(
      `${prelude}
      import { Worker } from 'node:worker_threads';
      const code = ${JSON.stringify(worker)};
      const modes = ['terminate', 'terminate-while-busy', 'exit-in-callback', 'natural'];
      for (let round = 0; round < 3; round++) {
        await Promise.all(modes.map((mode) => new Promise((resolve, reject) => {
          const w = new Worker(code, { eval: true, execArgv: ['--input-type=module'], workerData: { lib: process.argv[1], fifo: process.argv[2], mode } });
          w.on('error', reject);
          w.on('message', () => w.terminate());
          w.on('exit', (code) => resolve(code));
        })));
      }
      console.log('done');
    `,
      60_000,
    );
    expect(stderr).toBe('');
    expect({ status, signal, stdout }).toEqual({ status: 0, signal: null, stdout: 'done\n' });
  });

  it('the main thread exits cleanly with idle, stopped and unref-ed handles open', () => {
    const { status, signal, stderr } = runNode(`${prelude}
      const fd = openFifo();
      new Poll(fd, () => {});
      const stopped = new Poll(fd, () => {});
      stopped.start(PollEvent.READABLE);
      stopped.stop();
      const unrefed = new Poll(openFifo(), () => {});
      unrefed.unref();
      unrefed.start(PollEvent.WRITABLE);
      new Timer(() => {});
      const timer = new Timer(() => {});
      timer.unref();
      timer.start(60_000);
      setTimeout(() => {}, 30); // let the busy Poll run a few turns first
    `);
    expect({ status, signal, stderr }).toEqual({ status: 0, signal: null, stderr: '' });
  });
});
