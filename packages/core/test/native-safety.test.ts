// Regressions of memory-safety and robustness bugs found in the native layer. Scenarios that
// crashed the process (segfault, abort) run in a child `node` on the built dist/, so a
// regression fails one test with its exit status instead of taking the test worker down.
import { spawn, spawnSync } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CurlError, Easy, Multi, Pause, Poll, SOCKET_TIMEOUT } from '@multisock/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeDriver, startServer } from './helpers.js';

const core = pathToFileURL(fileURLToPath(new URL('../dist/index.js', import.meta.url))).href;

// What every child script starts with: the core, an HTTP server on 127.0.0.1 and a driver that
// follows SOCKETFUNCTION/TIMERFUNCTION like test/helpers.ts's probeDriver.
const prelude = `
import http from 'node:http';
import net from 'node:net';
const { Easy, Multi, Poll, SOCKET_TIMEOUT } = await import(process.argv[1]);
async function serve(handler) {
  const server = http.createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: 'http://127.0.0.1:' + server.address().port + '/' };
}
function drive(multi, onSocket = () => 0) {
  const sockets = new Set();
  let timer;
  const act = (s) => { if (!multi.closed) multi.socketAction(s, 0); };
  multi.setopt('SOCKETFUNCTION', (easy, socket, what) => {
    if (what === Poll.REMOVE) sockets.delete(socket); else sockets.add(socket);
    return onSocket(easy, socket, what);
  });
  multi.setopt('TIMERFUNCTION', (_m, ms) => {
    clearTimeout(timer);
    if (ms >= 0) timer = setTimeout(() => act(SOCKET_TIMEOUT), ms);
  });
  const interval = setInterval(() => { for (const s of [...sockets]) act(s); }, 1);
  return () => { clearInterval(interval); clearTimeout(timer); };
}
`;

function runNode(script: string, input = '') {
  const result = spawnSync(
    process.execPath,
    ['--expose-gc', '--input-type=module', '-e', prelude + script, core],
    {
      encoding: 'utf8',
      input,
      timeout: 60_000,
    },
  );
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

// The same, without blocking this process: for servers that must answer from here.
function runNodeAsync(script: string, ...args: string[]) {
  const child = spawn(
    process.execPath,
    ['--expose-gc', '--input-type=module', '-e', prelude + script, core, ...args],
    {
      timeout: 60_000,
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (data: Buffer) => {
    stdout += data;
  });
  child.stderr.on('data', (data: Buffer) => {
    stderr += data;
  });
  return new Promise<{ status: number | null; signal: string | null; stdout: string; stderr: string }>(
    (resolve) => child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr })),
  );
}

let server: Awaited<ReturnType<typeof startServer>>;
let received: Buffer[] = [];
beforeAll(async () => {
  server = await startServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push(Buffer.concat(chunks));
      res.end('ok');
    });
  });
});
afterAll(() => server.close());

describe('lifetimes', () => {
  it('a Multi whose only link is an added Easy stays alive for Easy.close(), and is collected after', () => {
    // Before: the Multi was collected while the Easy was added; close() then ran its
    // TIMERFUNCTION (timer -1 at removal) with an empty handle and segfaulted.
    const { status, signal, stdout, stderr } = runNode(`
      const easy = new Easy();
      easy.setopt('URL', 'http://127.0.0.1:9/');
      const calls = [];
      let collected = false;
      const registry = new FinalizationRegistry(() => { collected = true; });
      (() => {
        const multi = new Multi();
        registry.register(multi, 'multi');
        multi.setopt('TIMERFUNCTION', (m, ms) => { calls.push([m instanceof Multi, ms]); });
        multi.addHandle(easy);
      })();
      for (let i = 0; i < 3; i++) gc();
      console.log(easy.multi instanceof Multi);
      easy.close();
      for (let i = 0; i < 20 && !collected; i++) { gc(); await new Promise((r) => setTimeout(r, 5)); }
      console.log(JSON.stringify(calls), collected);
    `);
    expect(stderr).toBe('');
    expect({ status, signal, stdout }).toEqual({
      status: 0,
      signal: null,
      stdout: 'true\n[[true,0],[true,-1]] true\n',
    });
  });

  it('a worker stopped while a JS callback of a transfer runs takes only itself down', () => {
    // Before: node-addon-api turned the cut-short call into "FATAL ERROR: Error::Error
    // napi_define_properties", or a C++ exception crossed libcurl into std::terminate: either
    // way the whole process aborted.
    const { status, signal, stdout, stderr } = runNode(`
      import { Worker } from 'node:worker_threads';
      const { server, url } = await serve((_req, res) => {
        const chunk = Buffer.alloc(16384, 97);
        let n = 0;
        const more = () => { while (n++ < 400 && res.write(chunk)); if (n < 400) res.once('drain', more); else res.end(); };
        more();
      });
      const worker = (where) => \`
        import { parentPort, workerData } from 'node:worker_threads';
        \${${JSON.stringify(prelude)}.replace('process.argv[1]', 'workerData.core')}
        const spin = () => { const end = Date.now() + 2; while (Date.now() < end); };
        const multi = new Multi();
        drive(multi, () => { if ('\${where}' === 'socket') spin(); return 0; });
        for (let i = 0; i < 4; i++) {
          const easy = new Easy();
          easy.setopt('URL', workerData.url);
          if ('\${where}' === 'write') easy.setopt('WRITEFUNCTION', () => spin());
          if ('\${where}' === 'progress') easy.setopt('XFERINFOFUNCTION', () => { spin(); return 0; });
          if ('\${where}' === 'exit') easy.setopt('WRITEFUNCTION', () => process.exit(3));
          multi.perform(easy).catch(() => {});
        }
        parentPort.postMessage('started');
      \`;
      for (const where of ['write', 'progress', 'socket', 'exit']) {
        for (let round = 0; round < 6; round++) {
          const w = new Worker(worker(where), { eval: true, workerData: { core: process.argv[1], url } });
          const exited = new Promise((resolve) => w.on('exit', resolve));
          await new Promise((resolve) => { w.once('message', resolve); w.once('exit', resolve); });
          await new Promise((resolve) => setTimeout(resolve, 2 + round * 4));
          await w.terminate();
          await exited;
        }
      }
      server.closeAllConnections();
      server.close();
      console.log('survived');
    `);
    expect(stderr).toBe('');
    expect({ status, signal, stdout }).toEqual({ status: 0, signal: null, stdout: 'survived\n' });
  });
});

describe('objects the native layer trusts', () => {
  it('getters, native methods and addHandle take only real Easy and Multi objects, whatever their prototype', () => {
    // Before: napi_unwrap handed back the other class's object and it was read as this one
    // (an Easy's accessors on a libuv-bindings Timer segfaulted).
    const easy = new Easy();
    const multi = new Multi();
    for (const [proto, name, receiver] of [
      [Easy.prototype, 'closed', multi],
      [Easy.prototype, 'multi', multi],
      [Multi.prototype, 'closed', easy],
      [Multi.prototype, 'inCallback', easy],
    ] as const) {
      expect(() => Reflect.get(proto, name, receiver)).toThrow(new TypeError('Illegal invocation'));
    }
    const easyProto = Object.getPrototypeOf(Easy.prototype) as Record<
      string,
      (...args: unknown[]) => unknown
    >;
    const multiProto = Object.getPrototypeOf(Multi.prototype) as Record<
      string,
      (...args: unknown[]) => unknown
    >;
    for (const [proto, name, receiver] of [
      [easyProto, 'isClosed', multi],
      [easyProto, 'currentMulti', multi],
      [easyProto, 'takeInto', multi],
      [multiProto, 'isClosed', easy],
      [multiProto, 'loopStats', easy],
    ] as const) {
      expect(() => Reflect.apply(proto[name]!, receiver, [0])).toThrow(new TypeError('Illegal invocation'));
    }
    const disguised = Object.setPrototypeOf(new Multi(), Easy.prototype) as Easy;
    expect(() => multi.addHandle(disguised)).toThrow(
      expect.objectContaining({ code: 2, message: expect.stringContaining('expected an Easy') }),
    );
    (Object.setPrototypeOf(disguised, Multi.prototype) as Multi).close();
    multi.close();
    easy.close();
  });

  it('the handle duphandle() passes to the Easy constructor cannot be taken twice', () => {
    // Before: a second Easy on the same CURL*, freed twice (glibc abort).
    const { status, signal, stdout, stderr } = runNode(`
      const Native = Object.getPrototypeOf(Easy);
      let stolen;
      function Thief(...args) { stolen ??= args[0]; return Reflect.construct(Native, args, new.target); }
      Thief.prototype = Native.prototype;
      Object.setPrototypeOf(Easy, Thief);
      const original = new Easy();
      const copy = original.duphandle();
      Object.setPrototypeOf(Easy, Native);
      try { new Easy(stolen); console.log('taken twice'); } catch (error) { console.log(error.name, error.message); }
      copy.close(); original.close(); gc();
    `);
    expect(stderr).toBe('');
    expect({ status, signal, stdout }).toEqual({
      status: 0,
      signal: null,
      stdout: 'TypeError Easy: unexpected argument\n',
    });
  });
});

describe('memory libcurl keeps pointing at', () => {
  it('POSTFIELDS cannot be replaced during the upload that reads it; the body arrives intact', () => {
    // Before: libcurl freed the body it was sending (segfault, or freed memory sent away).
    const { status, signal, stdout, stderr } = runNode(`
      const { server, url } = await serve((req, res) => {
        let length = 0, other = 0;
        req.on('data', (c) => { length += c.length; for (const b of c) if (b !== 97) other++; });
        req.on('end', () => res.end(JSON.stringify({ length, other })));
      });
      const multi = new Multi();
      const stop = drive(multi);
      const easy = new Easy();
      easy.setopt('URL', url);
      easy.setopt('POSTFIELDS', Buffer.alloc(4 << 20, 97));
      let refused;
      easy.setopt('XFERINFOFUNCTION', (_dt, _dn, _ut, ulnow) => {
        if (refused === undefined && ulnow > 0) {
          try { easy.setopt('POSTFIELDS', 'x'); refused = 'no'; } catch (error) { refused = error.code; }
          gc();
        }
        return 0;
      });
      await multi.perform(easy);
      console.log(refused, easy.takeBody().toString());
      stop(); multi.close(); easy.close(); server.close();
    `);
    expect(stderr).toBe('');
    expect({ status, signal, stdout }).toEqual({
      status: 0,
      signal: null,
      stdout: `43 {"length":${4 << 20},"other":0}\n`,
    });
  });

  it('a list replaced during a transfer stays valid until it ends (SMTP walks MAIL_RCPT)', async () => {
    // Before: the old list was freed at once while libcurl still walked it: segfault. The SMTP
    // server lives here: libcurl waits for the answer to QUIT with the child's loop blocked.
    const commands: string[] = [];
    const smtp = net.createServer((socket) => {
      socket.write('220 hi\r\n');
      let buffer = '';
      socket.on('data', (data) => {
        buffer += data;
        for (let i = buffer.indexOf('\r\n'); i >= 0; i = buffer.indexOf('\r\n')) {
          const line = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          commands.push(line);
          if (line.startsWith('EHLO')) socket.write('250 ok\r\n');
          else if (line.startsWith('VRFY')) setTimeout(() => socket.write(`250 ${line.slice(5)}\r\n`), 20);
          else if (line.startsWith('QUIT')) socket.end('221 bye\r\n');
          else socket.write('500 what\r\n');
        }
      });
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    const { status, signal, stdout, stderr } = await runNodeAsync(
      `
      const multi = new Multi();
      const easy = new Easy();
      easy.setopt('URL', 'smtp://127.0.0.1:' + process.argv[2]);
      easy.setopt('MAIL_RCPT', ['<b@example.com>', '<c@example.com>', '<d@example.com>']);
      let swapped = false;
      const stop = drive(multi);
      // Replaced once the first VRFY is sent: libcurl holds a pointer into the list until the
      // answer comes.
      easy.setopt('DEBUGFUNCTION', (type, data) => {
        if (!swapped && type === 2 && data.toString().startsWith('VRFY')) {
          swapped = true;
          easy.setopt('MAIL_RCPT', ['<z@example.com>']);
          gc();
        }
      });
      easy.setopt('VERBOSE', 1);
      await multi.perform(easy);
      stop(); multi.close(); easy.close();
      console.log(swapped);
    `,
      String((smtp.address() as AddressInfo).port),
    );
    smtp.close();
    expect(stderr).toBe('');
    expect({ status, signal, stdout }).toEqual({ status: 0, signal: null, stdout: 'true\n' });
    expect(commands.filter((c) => c.startsWith('VRFY'))).toEqual([
      'VRFY b@example.com',
      'VRFY c@example.com',
      'VRFY d@example.com',
    ]);
  });

  it('POSTFIELDSIZE cannot point libcurl past its copy of the POSTFIELDS body', async () => {
    // Before: -1 made libcurl strlen() a copy with no terminating NUL (heap over-read).
    const easy = new Easy();
    easy.setopt('URL', `${server.url}/`);
    easy.setopt('POSTFIELDS', Buffer.from('abcd'));
    for (const [name, size] of [
      ['POSTFIELDSIZE', -1],
      ['POSTFIELDSIZE_LARGE', -1],
      ['POSTFIELDSIZE', 5],
    ] as const) {
      expect(() => easy.setopt(name, size)).toThrow(
        expect.objectContaining({ code: 43, message: expect.stringContaining("POSTFIELDS body's 4 bytes") }),
      );
    }
    const copy = easy.duphandle();
    expect(() => copy.setopt('POSTFIELDSIZE', -1)).toThrow(CurlError);
    copy.close();
    easy.setopt('POSTFIELDSIZE', 2); // a prefix is fine
    const multi = new Multi();
    const driver = probeDriver(multi);
    received = [];
    await multi.perform(easy);
    expect(received.map((b) => b.toString())).toEqual(['ab']);
    easy.setopt('POSTFIELDS', null);
    easy.setopt('POSTFIELDSIZE', -1); // no body set: libcurl's meaning again
    driver.stop();
    multi.close();
    easy.close();
  });
});

describe('uploads', () => {
  it("an upload without READFUNCTION sends an empty body, not the process's stdin", () => {
    // Before: libcurl's default read callback fread() stdin, blocking the loop and sending it.
    const { status, stdout, stderr } = runNode(
      `
      const { server, url } = await serve((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => res.end(Buffer.concat(chunks)));
      });
      const multi = new Multi();
      const stop = drive(multi);
      const easy = new Easy();
      easy.setopt('URL', url);
      easy.setopt('UPLOAD', 1);
      await multi.perform(easy);
      console.log(JSON.stringify(easy.takeBody().toString()));
      easy.setopt('READFUNCTION', () => null);
      easy.setopt('READFUNCTION', null); // cleared: still not stdin
      await multi.perform(easy);
      console.log(JSON.stringify(easy.takeBody().toString()));
      stop(); multi.close(); easy.close(); server.close();
    `,
      'secret from stdin\n',
    );
    expect(stderr).toBe('');
    expect({ status, stdout }).toEqual({ status: 0, stdout: '""\n""\n' });
  });

  it("a READFUNCTION returning a byte count fails the transfer instead of sending libcurl's buffer", async () => {
    // Before: libcurl sent that many bytes of its uninitialised upload buffer.
    const multi = new Multi();
    const driver = probeDriver(multi);
    const easy = new Easy();
    easy.setopt('URL', `${server.url}/`);
    easy.setopt('UPLOAD', 1);
    easy.setopt('INFILESIZE', 4096);
    easy.setopt('READFUNCTION', () => 4096);
    received = [];
    await expect(multi.perform(easy)).rejects.toMatchObject({
      code: 42,
      cause: expect.objectContaining({
        name: 'TypeError',
        message: expect.stringContaining('READFUNC_PAUSE'),
      }),
    });
    expect(received.every((b) => b.length === 0)).toBe(true);
    driver.stop();
    multi.close();
    easy.close();
  });
});

describe('re-entrancy', () => {
  it('pause() inside a socket or timer callback throws CURLE_RECURSIVE_API_CALL; the transfer goes on', async () => {
    // Before: on 7.88.1 a pause that dropped the socket freed the hash entry singlesocket()
    // then wrote to (a use after free valgrind shows).
    const multi = new Multi();
    const driver = probeDriver(multi);
    const errors: unknown[] = [];
    const attempt = (easy: Easy) => {
      try {
        easy.pause(Pause.ALL);
        errors.push('paused');
      } catch (error) {
        errors.push((error as CurlError).code);
      }
    };
    const easy = new Easy();
    easy.setopt('URL', `${server.url}/`);
    const onSocket = (e: Easy | null, socket: number, what: number) => {
      if (what === Poll.REMOVE) driver.sockets.delete(socket);
      else driver.sockets.set(socket, what);
      if (e && what !== Poll.REMOVE) attempt(e);
      return 0;
    };
    multi.setopt('SOCKETFUNCTION', onSocket);
    let timer: NodeJS.Timeout | undefined;
    multi.setopt('TIMERFUNCTION', (_m, ms) => {
      attempt(easy);
      clearTimeout(timer);
      if (ms >= 0) timer = setTimeout(() => multi.socketAction(SOCKET_TIMEOUT, 0), ms);
      return 0;
    });
    // A pause that went through would hold the transfer forever: fail fast instead.
    let deadline: NodeJS.Timeout | undefined;
    await Promise.race([
      multi.perform(easy),
      new Promise((_, reject) => {
        deadline = setTimeout(() => reject(new Error('the transfer stayed paused')), 5000);
      }),
    ]);
    clearTimeout(deadline);
    clearTimeout(timer);
    expect(easy.takeBody().toString()).toBe('ok');
    expect(errors.length).toBeGreaterThan(1);
    expect(new Set(errors)).toEqual(new Set([93]));
    driver.stop();
    multi.close();
    easy.close();
  });
});
