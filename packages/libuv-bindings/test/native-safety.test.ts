// Regressions of memory-safety bugs in the native layer. The worker scenario runs in a child
// `node` on the built dist/ (so `build` must have run): it used to abort the whole process.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Poll, Timer } from '../src/index.js';

const lib = pathToFileURL(fileURLToPath(new URL('../dist/index.js', import.meta.url))).href;
let dir = '';
let fifo = '';

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libuv-bindings-'));
  fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
});
afterAll(() => fs.rmSync(dir, { recursive: true }));

describe('worker.terminate() inside a callback', () => {
  it('closes the handles a cut-short callback could no longer stop, so libuv does not abort', () => {
    // The Timer callback starts a Poll (libuv applies it at its next epoll_ctl), then the fd
    // is closed, as libcurl closes a socket once the adapter's JS, terminated, could not stop
    // its Poll at REMOVE. Before: libuv's next epoll_ctl got EBADF and aborted the process.
    const worker = `
      import fs from 'node:fs';
      import { parentPort, workerData } from 'node:worker_threads';
      const { Poll, Timer, PollEvent } = await import(workerData.lib);
      new Timer(() => {
        const fd = fs.openSync(workerData.fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
        new Poll(fd, () => {}).start(PollEvent.READABLE);
        fs.closeSync(fd);
        parentPort.postMessage('spinning');
        for (;;);
      }).start(1);
    `;
    const result = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `
        import { Worker } from 'node:worker_threads';
        const code = ${JSON.stringify(worker)};
        for (let round = 0; round < 5; round++) {
          await new Promise((resolve, reject) => {
            const w = new Worker(code, { eval: true, execArgv: ['--input-type=module'], workerData: { lib: process.argv[1], fifo: process.argv[2] } });
            w.on('error', reject);
            w.on('message', () => w.terminate());
            w.on('exit', resolve);
          });
        }
        console.log('done');
      `,
        lib,
        fifo,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(result.stderr).toBe('');
    expect({ status: result.status, signal: result.signal, stdout: result.stdout }).toEqual({
      status: 0,
      signal: null,
      stdout: 'done\n',
    });
  });
});

describe('receivers', () => {
  it('an accessor read on an object of another class throws instead of reading it as its own', () => {
    // Before: napi_unwrap handed back the other object, read as a Poll or a Timer.
    const timer = new Timer(() => {});
    const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    const poll = new Poll(fd, () => {});
    for (const [proto, name, receiver] of [
      [Poll.prototype, 'fd', timer],
      [Poll.prototype, 'active', timer],
      [Timer.prototype, 'closed', poll],
      [Timer.prototype, 'active', poll],
    ] as const) {
      expect(() => Reflect.get(proto, name, receiver)).toThrow(new TypeError('Illegal invocation'));
    }
    expect(poll.fd).toBe(fd);
    poll.close();
    timer.close();
    fs.closeSync(fd);
  });
});
