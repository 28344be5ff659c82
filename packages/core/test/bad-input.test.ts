import { CurlError, CurlMultiError, Easy, Multi, SOCKET_TIMEOUT } from '@multisock/core';
import { afterEach, describe, expect, it } from 'vitest';
import { fdsBackTo, openFds, probeDriver, startServer } from './helpers.js';

const baseline = openFds();
afterEach(async () => {
  expect(await fdsBackTo(baseline)).toBeLessThanOrEqual(baseline);
});

function easyError(fn: () => unknown, code: number, text: RegExp) {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CurlError);
    expect((error as CurlError).code).toBe(code);
    expect((error as CurlError).message).toMatch(text);
    return;
  }
  throw new Error('expected a CurlError');
}

function multiError(fn: () => unknown, code: number, text: RegExp) {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CurlMultiError);
    expect((error as CurlMultiError).code).toBe(code);
    expect((error as CurlMultiError).message).toMatch(text);
    return;
  }
  throw new Error('expected a CurlMultiError');
}

// Option names and values that TypeScript would reject are still reachable from JavaScript.
type Loose = { setopt(name: string, value: unknown): void; getinfo(name: string): unknown };
const loose = (handle: Easy | Multi) => handle as unknown as Loose;

describe('Easy.setopt bad input', () => {
  const easy = new Easy();
  it('unknown option name', () =>
    easyError(
      () => loose(easy).setopt('NO_SUCH_OPTION', 1),
      48,
      /unknown option 'NO_SUCH_OPTION'.*CURLE_UNKNOWN_OPTION/,
    ));
  it('a name that is not a string', () => {
    expect(() => loose(easy).setopt(42 as unknown as string, 1)).toThrow(TypeError);
  });
  it('a string for a long option', () =>
    easyError(
      () => loose(easy).setopt('TIMEOUT_MS', '10'),
      43,
      /TIMEOUT_MS.*expected an integer, got a string/,
    ));
  it('NaN', () => easyError(() => easy.setopt('TIMEOUT_MS', Number.NaN), 43, /got NaN/));
  it('Infinity', () =>
    easyError(() => easy.setopt('TIMEOUT_MS', Number.POSITIVE_INFINITY), 43, /expected an integer/));
  it('a fraction', () => easyError(() => easy.setopt('MAXREDIRS', 1.5), 43, /expected an integer/));
  it('a huge number', () => easyError(() => easy.setopt('TIMEOUT_MS', 2 ** 64), 43, /expected an integer/));
  it('a negative number libcurl refuses', () =>
    easyError(() => easy.setopt('MAXREDIRS', -2), 43, /setopt\(MAXREDIRS\)/));
  it('a string with a NUL byte', () => easyError(() => easy.setopt('URL', 'http://a\0b/'), 43, /NUL byte/));
  it('a number for a string option', () =>
    easyError(() => loose(easy).setopt('URL', 1), 43, /expected a string/));
  it('an slist that is not an array', () =>
    easyError(() => loose(easy).setopt('HTTPHEADER', 'X: y'), 43, /array of strings/));
  it('an slist with a number in it', () =>
    easyError(() => loose(easy).setopt('HTTPHEADER', ['X: y', 3]), 43, /expected a string/));
  it('an slist with a NUL byte', () =>
    easyError(() => easy.setopt('HTTPHEADER', ['X: a\0b']), 43, /NUL byte/));
  it('NaN for an off_t option', () =>
    easyError(() => easy.setopt('MAXFILESIZE_LARGE', Number.NaN), 43, /safe integer or a bigint/));
  it('a bigint beyond 64 bits', () =>
    easyError(() => easy.setopt('MAXFILESIZE_LARGE', 2n ** 70n), 43, /64-bit integer/));
  it('a number for a blob option', () =>
    easyError(() => loose(easy).setopt('CAINFO_BLOB', 5), 43, /Buffer, Uint8Array or string/));
  it('a non-function for a callback', () =>
    easyError(() => loose(easy).setopt('WRITEFUNCTION', 'x'), 43, /function or null/));
  it('a callback JavaScript cannot provide', () =>
    easyError(() => loose(easy).setopt('SSL_CTX_FUNCTION', () => 0), 43, /not available from JavaScript/));
  it('a C data pointer option', () => easyError(() => loose(easy).setopt('WRITEDATA', {}), 43, /C pointers/));
  it('the error buffer, which multisock owns', () =>
    easyError(() => loose(easy).setopt('ERRORBUFFER', Buffer.alloc(256)), 43, /owns the error buffer/));
  it('unknown info name', () => easyError(() => loose(easy).getinfo('NO_SUCH_INFO'), 48, /unknown info/));
  it('an info that is a C pointer', () =>
    easyError(() => loose(easy).getinfo('TLS_SSL_PTR'), 43, /C pointer/));
  it('pause with bits that are not CURLPAUSE_*', () => easyError(() => easy.pause(2), 43, /pause: bits/));
  it('leaves the handle usable after all of that', () => {
    easy.setopt('URL', 'http://127.0.0.1/');
    expect(easy.getinfo('RESPONSE_CODE')).toBe(0);
  });
});

describe('calls after close', () => {
  it('every Easy call but close throws, close is idempotent', () => {
    const easy = new Easy();
    easy.close();
    easy.close();
    expect(easy.closed).toBe(true);
    easyError(() => easy.setopt('URL', 'http://127.0.0.1/'), 43, /setopt: the Easy is closed/);
    easyError(() => easy.getinfo('RESPONSE_CODE'), 43, /getinfo: the Easy is closed/);
    easyError(() => easy.pause(0), 43, /pause: the Easy is closed/);
    easyError(() => easy.reset(), 43, /reset: the Easy is closed/);
    easyError(() => easy.duphandle(), 43, /duphandle: the Easy is closed/);
  });
  it('every Multi call but close throws CURLM_BAD_HANDLE, close is idempotent', async () => {
    const multi = new Multi();
    multi.close();
    multi.close();
    expect(multi.closed).toBe(true);
    multiError(() => multi.setopt('MAXCONNECTS', 1), 1, /setopt: the Multi is closed/);
    multiError(() => multi.addHandle(new Easy()), 1, /addHandle/);
    multiError(() => multi.removeHandle(new Easy()), 1, /removeHandle/);
    multiError(() => multi.socketAction(SOCKET_TIMEOUT, 0), 1, /socketAction/);
    multiError(() => multi.assign(3, {}), 1, /assign/);
    multiError(() => multi.infoRead(), 1, /infoRead/);
    await expect(multi.perform(new Easy())).rejects.toMatchObject({ code: 1 });
  });
  it('adding a closed Easy', () => {
    const multi = new Multi();
    const easy = new Easy();
    easy.close();
    multiError(() => multi.addHandle(easy), 2, /the Easy is closed/);
    multi.close();
  });
});

describe('Multi bad input', () => {
  it('unknown option, wrong value types, options JS cannot set', () => {
    const multi = new Multi();
    multiError(() => loose(multi).setopt('NO_SUCH', 1), 6, /unknown option 'NO_SUCH'.*CURLM_UNKNOWN_OPTION/);
    multiError(() => multi.setopt('MAXCONNECTS', Number.NaN), 10, /MAXCONNECTS.*integer/);
    multiError(() => loose(multi).setopt('MAXCONNECTS', 'many'), 10, /integer/);
    multiError(() => loose(multi).setopt('SOCKETFUNCTION', 42), 10, /function or null/);
    multiError(() => loose(multi).setopt('PUSHFUNCTION', () => 0), 10, /not available from JavaScript/);
    multiError(() => loose(multi).setopt('PIPELINING_SITE_BL', [1]), 10, /array of strings/);
    multi.close();
  });
  it('addHandle of something that is not an Easy', () => {
    const multi = new Multi();
    multiError(() => multi.addHandle({} as Easy), 2, /expected an Easy/);
    multiError(() => multi.addHandle(null as unknown as Easy), 2, /expected an Easy/);
    multi.close();
  });
  it('adding an Easy twice, or to two multis', () => {
    const a = new Multi();
    const b = new Multi();
    const easy = new Easy();
    easy.setopt('URL', 'http://127.0.0.1:1/');
    a.addHandle(easy);
    multiError(() => a.addHandle(easy), 7, /already added to this Multi/);
    multiError(() => b.addHandle(easy), 7, /added to another Multi/);
    multiError(() => b.removeHandle(easy), 2, /added to another Multi/);
    expect(easy.multi).toBe(a);
    a.removeHandle(easy);
    expect(easy.multi).toBe(null);
    b.addHandle(easy);
    expect(easy.multi).toBe(b);
    a.close();
    b.close();
    expect(easy.multi).toBe(null);
    easy.close();
  });
  it('removing an Easy never added is a no-op, as in libcurl (docs/contract.md#remove-handle)', () => {
    const multi = new Multi();
    const easy = new Easy();
    expect(() => multi.removeHandle(easy)).not.toThrow();
    expect(easy.multi).toBe(null);
    multi.close();
  });
  it('socketAction with a socket or mask that is not one', () => {
    const multi = new Multi();
    multiError(() => multi.socketAction(Number.NaN, 0), 5, /integer file descriptor/);
    multiError(() => multi.socketAction(-2, 0), 5, /integer file descriptor/);
    multiError(() => multi.socketAction(1.5, 0), 5, /integer file descriptor/);
    multiError(() => multi.socketAction(SOCKET_TIMEOUT, 8), 10, /CSelect/);
    multiError(() => multi.socketAction(SOCKET_TIMEOUT, '1' as unknown as number), 10, /CSelect/);
    multi.close();
  });
  it('assign to a socket libcurl does not know', () => {
    const multi = new Multi();
    multiError(() => multi.assign(12345, { mine: true }), 5, /assign\(12345\).*CURLM_BAD_SOCKET/);
    multiError(() => multi.assign(Number.NaN, {}), 5, /integer file descriptor/);
    multi.close();
  });
  it('socketAction on a socket libcurl does not know is ignored and loses nothing (docs/contract.md#stale-fds)', async () => {
    const server = await startServer();
    const multi = new Multi();
    const driver = probeDriver(multi);
    const easy = new Easy();
    easy.setopt('URL', `${server.url}/`);
    const done = multi.perform(easy);
    expect(multi.socketAction(54321, 1)).toBe(1);
    await done;
    expect(easy.takeBody().toString()).toBe('hello world\n');
    driver.stop();
    multi.close();
    easy.close();
    await server.close();
  });
});
