// The adapter against real libcurl and a real node:http server (in a child process, so a
// reactor blocking this thread in epoll_wait still gets answers). What libcurl asked for and
// what the loop did is read from the core's native trace.
import { closeSync, openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { CurlError, CurlMultiError, Easy, Multi, NativeTrace, Pause, Poll } from '@multisock/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Script } from '../../adapter-core/test/script/index.js';
import { type EpollAttachment, EpollError, EpollReactor, epoll } from '../src/index.js';
import { openFds } from './fds.js';
import { startServer, type TestServer } from './server.js';

/** Follows a multi's native trace: what libcurl watches (fd -> what) and the loop's actions. */
class Trace {
  readonly interest = new Map<number, number>();
  readonly actions: Array<[number, number]> = [];
  readonly sockets: Array<[number, number]> = [];

  constructor(readonly multi: Multi) {
    multi.traceNativeLoop(true);
  }

  read(): this {
    const t = this.multi.takeNativeTrace();
    for (let i = 0; i + NativeTrace.FIELDS <= t.length; i += NativeTrace.FIELDS) {
      const [kind, a, b, c] = [t[i]!, t[i + 1]!, t[i + 2]!, t[i + 3]!];
      if (kind === NativeTrace.SOCKET) {
        this.sockets.push([a, b]);
        if (b === Poll.REMOVE) this.interest.delete(a);
        else this.interest.set(a, b);
      } else if (kind === NativeTrace.ACTION && (c & NativeTrace.ACTION_FROM_JS) === 0) {
        this.actions.push([a, b]);
      }
    }
    return this;
  }
}

let server: TestServer;
let baseline: number;

beforeAll(async () => {
  server = await startServer();
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => {
  baseline = openFds().size;
});

afterEach(async () => {
  // Every socket, epoll set and uv handle of the test is gone (uv_close completes on a later
  // loop turn, and the server closes its ends asynchronously).
  const deadline = Date.now() + 2000;
  while (openFds().size > baseline && Date.now() < deadline) await sleep(10);
  expect(openFds().size).toBeLessThanOrEqual(baseline);
});

function get(path: string): Easy {
  const easy = new Easy();
  easy.setopt('URL', `${server.url}${path}`);
  easy.setopt('PROXY', '');
  return easy;
}

/** Every finished transfer the multi reports, as path -> [result, status, body]. */
function drain(multi: Multi): Map<Easy, [number, number, string]> {
  const done = new Map<Easy, [number, number, string]>();
  for (let message = multi.infoRead(); message !== null; message = multi.infoRead()) {
    const { easy, result } = message;
    done.set(easy, [result, easy.getinfo('RESPONSE_CODE') as number, easy.takeBody().toString()]);
    multi.removeHandle(easy);
  }
  return done;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe("epoll.attach (one epoll set nested in Node's loop)", () => {
  it('runs concurrent GETs to completion and leaves nothing registered', async () => {
    const multi = new Multi();
    const attachment = epoll.attach(multi);
    expect(epoll.name).toBe('epoll');
    const sizes = [0, 12, 1000, 100_000, 1_000_000, 12, 64_000, 5];
    const easies = sizes.map((n) => get(`/bytes/${n}`));
    const done = await Promise.all(easies.map((easy) => multi.perform(easy)));
    for (const [i, easy] of done.entries()) {
      expect(easy.getinfo('RESPONSE_CODE')).toBe(200);
      expect(easy.takeBody().length).toBe(sizes[i]);
    }
    // Idle cached connections are REMOVEd (docs/contract.md#idle-connections-close-silently): nothing is watched.
    expect(attachment.registrations).toBe(0);
    multi.close();
    expect(attachment.detached).toBe(true);
    expect(attachment.timerArmed).toBe(false);
    for (const easy of easies) easy.close();
  });

  it('reports what it watches while a transfer waits, and the timer libcurl asked for', async () => {
    const multi = new Multi();
    const trace = new Trace(multi);
    const attachment = epoll.attach(multi);
    expect(attachment.loop).toBe('epoll');
    const easy = get('/delay/300');
    const done = multi.perform(easy);
    expect(attachment.timerArmed).toBe(true); // add_handle always sets timer 0 (docs/contract.md#when-callbacks-fire)
    await until(() => attachment.registrations === 1, 'the connection to be watched');
    const [fd, what] = [...trace.read().interest][0]!;
    expect(fd).toBeGreaterThan(2);
    expect([Poll.IN, Poll.OUT, Poll.INOUT]).toContain(what);
    await done;
    expect(easy.takeBody().toString()).toBe('ok');
    multi.close();
    easy.close();
  });

  it('drops everything of a multi closed with transfers in flight', async () => {
    const multi = new Multi();
    const attachment = epoll.attach(multi);
    const easy = get('/delay/5000');
    const done = multi.perform(easy);
    await until(() => attachment.registrations > 0, 'the connection to be watched');
    multi.close();
    await expect(done).rejects.toBeInstanceOf(CurlMultiError);
    expect(attachment.registrations).toBe(0);
    expect(attachment.timerArmed).toBe(false);
    expect(attachment.detached).toBe(true);
    easy.close();
  });

  it('detach() leaves nothing registered and lets the multi be attached again', async () => {
    const multi = new Multi();
    const first = epoll.attach(multi);
    const waiting = get('/delay/5000');
    multi.addHandle(waiting);
    await until(() => first.registrations > 0, 'the connection to be watched');
    first.detach();
    first.detach(); // idempotent
    expect(first.registrations).toBe(0);
    expect(first.timerArmed).toBe(false);
    multi.removeHandle(waiting);
    waiting.close();

    const second = epoll.attach(multi);
    const easy = await multi.perform(get('/bytes/10'));
    expect(easy.takeBody().length).toBe(10);
    second.detach();
    multi.close();
    easy.close();
  });
});

describe('EpollReactor (a loop the application runs)', () => {
  it('run() completes GETs of several multis sharing one reactor, then returns', () => {
    const reactor = new EpollReactor();
    const multis = [new Multi(), new Multi(), new Multi()];
    const attachments = multis.map((multi) => reactor.attach(multi));
    const expected = new Map<Easy, number>();
    for (const [m, multi] of multis.entries()) {
      for (let i = 0; i < 4; i++) {
        const size = (m + 1) * 10 ** i;
        const easy = get(`/bytes/${size}`);
        expected.set(easy, size);
        multi.addHandle(easy);
      }
    }
    reactor.run();
    const done = new Map(multis.flatMap((multi) => [...drain(multi)]));
    expect(done.size).toBe(12);
    for (const [easy, size] of expected) {
      const [result, status, body] = done.get(easy)!;
      expect([result, status, body.length]).toEqual([0, 200, size]);
    }
    // run() returns only when nothing is left to wait for.
    for (const attachment of attachments) {
      expect(attachment.registrations).toBe(0);
      expect(attachment.timerArmed).toBe(false);
    }
    reactor.close();
    for (const multi of multis) multi.close();
    for (const easy of expected.keys()) easy.close();
  });

  it('runOnce() counts dispatched events and expired timers, and returns 0 when idle', () => {
    const reactor = new EpollReactor();
    const multi = new Multi();
    const attachment = reactor.attach(multi);
    expect(reactor.runOnce(-1)).toBe(0); // nothing registered, no timer: returns at once
    const start = performance.now();
    expect(reactor.runOnce(30)).toBe(0);
    expect(performance.now() - start).toBeGreaterThanOrEqual(29);

    const easy = get('/bytes/100');
    multi.addHandle(easy);
    expect(attachment.timerArmed).toBe(true);
    // The 0 timer from add_handle fires in the first turn: libcurl starts connecting.
    expect(reactor.runOnce(0)).toBe(1);
    let total = 0;
    let turns = 0;
    while (multi.infoRead() === null) {
      total += reactor.runOnce(1000);
      if (++turns > 100) throw new Error('the transfer did not finish');
    }
    // At least the answer's readability (7.88.1 also waits for writability before sending; 8.x
    // may send the request from the timer's action).
    expect(total).toBeGreaterThanOrEqual(1);
    expect(easy.takeBody().length).toBe(100);
    multi.removeHandle(easy);
    reactor.close();
    expect(attachment.detached).toBe(true);
    multi.close();
    easy.close();
  });

  it('stop() from inside a callback makes run() return after the current turn', () => {
    const reactor = new EpollReactor();
    const multi = new Multi();
    reactor.attach(multi);
    const chunks: string[] = [];
    const easy = get('/dribble');
    easy.setopt('WRITEFUNCTION', (data) => {
      chunks.push(data.toString());
      reactor.stop();
      return data.length;
    });
    multi.addHandle(easy);
    reactor.run();
    expect(chunks).toEqual(['first']);
    expect(multi.infoRead()).toBeNull(); // the rest comes 300 ms later
    reactor.run();
    expect(chunks.join('')).toBe('firstsecond');
    expect(multi.infoRead()).toMatchObject({ msg: 'DONE', easy, result: 0 });
    reactor.close();
    multi.close();
    easy.close();
  });

  it('drops an event for an fd re-announced earlier in the same batch', async () => {
    // Two responses arrive together, so one epoll_wait reports both sockets. Handling the
    // first one pauses and resumes the other transfer (curl_easy_pause works inside callbacks,
    // docs/contract.md#no-re-entry): libcurl sends REMOVE then IN for the second socket (docs/contract.md#when-callbacks-fire), which
    // gets a new registration and a new tag. The event already in the batch carries the old
    // tag and must not reach curl_multi_socket_action (docs/contract.md#conformance row 5).
    const reactor = new EpollReactor();
    const multi = new Multi();
    const trace = new Trace(multi);
    const attachment = reactor.attach(multi);
    const a = get('/gate/2');
    const b = get('/gate/2');
    const bodies = new Map<Easy, string>([
      [a, ''],
      [b, ''],
    ]);
    let reannounced: number | undefined;
    for (const [self, other] of [
      [a, b],
      [b, a],
    ] as const) {
      self.setopt('WRITEFUNCTION', (data) => {
        bodies.set(self, bodies.get(self) + data.toString());
        if (reannounced === undefined) {
          trace.read();
          const before = new Set(trace.interest.keys());
          other.pause(Pause.ALL);
          const paused = new Set(trace.read().interest.keys());
          other.pause(Pause.CONT);
          reannounced = [...before].find((fd) => !paused.has(fd)) ?? -1;
          expect(trace.read().interest.get(reannounced)).toBe(Poll.IN);
        }
        return data.length;
      });
    }
    let arrived = false;
    void server.gateWaiting().then(() => {
      arrived = true;
    });
    multi.addHandle(a);
    multi.addHandle(b);
    // Turn the loop until both requests are at the server (which holds the answers) and libcurl
    // waits for both answers; then stop turning it and let the answers arrive together.
    const bothWaitingForAnswers = () =>
      trace.read().interest.size === 2 && [...trace.interest.values()].every((w) => w === Poll.IN);
    const deadline = Date.now() + 5000;
    while (!arrived || !bothWaitingForAnswers()) {
      if (Date.now() > deadline) {
        const state = JSON.stringify({
          arrived,
          interest: [...trace.interest],
          bodies: [...bodies.values()],
        });
        throw new Error(`the two transfers never both waited for their answers: ${state}`);
      }
      reactor.runOnce(5);
      await sleep(1);
    }
    expect(attachment.registrations).toBe(2);
    await server.releaseGate();
    await sleep(20);
    trace.read();
    trace.actions.length = 0;
    reactor.runOnce(0);
    trace.read();
    expect(reannounced).toBeGreaterThan(2);
    const sockets = trace.actions.map(([fd]) => fd).filter((fd) => fd !== -1);
    expect(sockets).toHaveLength(1);
    expect(sockets).not.toContain(reannounced);
    reactor.run();
    expect([...bodies.values()]).toEqual(['released', 'released']);
    expect([...drain(multi).values()].map(([result]) => result)).toEqual([0, 0]);
    reactor.close();
    multi.close();
    a.close();
    b.close();
  });

  it('a multi closed while attached is dropped; the others go on', () => {
    const reactor = new EpollReactor();
    const closing = new Multi();
    const staying = new Multi();
    const closingAttachment = reactor.attach(closing);
    reactor.attach(staying);
    const slow = get('/delay/5000');
    const fast = get('/bytes/3');
    closing.addHandle(slow);
    staying.addHandle(fast);
    fast.setopt('WRITEFUNCTION', (data) => {
      // Inside a callback of `staying`, in the middle of a batch: closing another multi is
      // allowed, and its registrations must vanish before the rest of the batch is looked at.
      closing.close();
      return data.length;
    });
    reactor.run();
    expect(closingAttachment.detached).toBe(true);
    expect(closingAttachment.registrations).toBe(0);
    expect(drain(staying).get(fast)?.[0]).toBe(0);
    reactor.close();
    staying.close();
    slow.close();
    fast.close();
  });
});

describe('a failed epoll_ctl', () => {
  it('fails every transfer with 42 and the EpollError as cause; nothing stays registered', async () => {
    // The transfer's socket number is made to name a regular file (dup2 over it: the socket's
    // registration goes with the socket), which epoll refuses with EPERM: the next epoll_ctl
    // for that fd, when pausing and resuming changes what libcurl watches, fails for real.
    const multi = new Multi();
    const trace = new Trace(multi);
    const attachment = epoll.attach(multi);
    const easy = get('/delay/3000');
    const done = multi.perform(easy);
    await until(() => trace.read().interest.size === 1, 'the connection to be watched');
    const [fd] = [...trace.interest.keys()] as [number];
    const file = openSync('/proc/self/status', 'r');
    let thrown: unknown;
    try {
      expect(Script.dup2(file, fd)).toBe(0);
      // The failure surfaces in the call that made libcurl change its interest, too.
      easy.pause(Pause.ALL);
      easy.pause(Pause.CONT);
    } catch (e) {
      thrown = e;
    } finally {
      closeSync(file);
    }
    expect(thrown).toBeInstanceOf(CurlMultiError);
    expect((thrown as CurlMultiError).cause).toBeInstanceOf(EpollError);
    const error = await done.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CurlError);
    expect((error as CurlError).code).toBe(42); // CURLE_ABORTED_BY_CALLBACK
    const cause = (error as CurlError).cause;
    expect(cause).toBeInstanceOf(EpollError);
    expect(cause).toMatchObject({ code: 'EPERM', errno: 1 });
    expect((cause as EpollError).syscall).toMatch(/^epoll_ctl\((ADD|MOD|DEL)\)$/);
    expect((cause as EpollError).message).toMatch(new RegExp(`failed with EPERM: .*fd ${fd}$`));
    expect(attachment.registrations).toBe(0);
    multi.close();
    easy.close();
  });
});

describe('bad input', () => {
  let reactor: EpollReactor;
  let multi: Multi;
  let attachment: EpollAttachment | undefined;

  beforeEach(() => {
    reactor = new EpollReactor();
    multi = new Multi();
    attachment = undefined;
  });

  afterEach(() => {
    attachment?.detach();
    reactor.close();
    multi.close();
  });

  it('refuses to attach a multi twice, to any epoll attachment or reactor', () => {
    attachment = reactor.attach(multi);
    const other = new EpollReactor();
    try {
      expect(() => reactor.attach(multi)).toThrow(/already attached/);
      expect(() => other.attach(multi)).toThrow(/already attached/);
      expect(() => epoll.attach(multi)).toThrow(/already attached/);
      attachment.detach();
      attachment = other.attach(multi);
      expect(() => epoll.attach(multi)).toThrow(/already attached/);
      attachment.detach();
      attachment = epoll.attach(multi);
      expect(() => epoll.attach(multi)).toThrow(/already attached/);
      expect(() => reactor.attach(multi)).toThrow(/already attached/);
    } finally {
      other.close();
    }
  });

  it('refuses a closed multi', () => {
    const closed = new Multi();
    closed.close();
    expect(() => epoll.attach(closed)).toThrow(CurlMultiError);
    expect(() => reactor.attach(closed)).toThrow(/closed/);
  });

  it('refuses bad timeouts and a closed reactor', () => {
    expect(() => reactor.runOnce(-2)).toThrow(RangeError);
    expect(() => reactor.runOnce(1.5)).toThrow(RangeError);
    expect(() => reactor.runOnce(Number.NaN)).toThrow(RangeError);
    expect(() => reactor.runOnce('5' as unknown as number)).toThrow(TypeError);
    expect(() => new EpollReactor({ maxEvents: 0 })).toThrow(RangeError);
    const closed = new EpollReactor();
    closed.close();
    closed.close();
    expect(closed.closed).toBe(true);
    expect(() => closed.runOnce(0)).toThrow('EpollReactor.runOnce: the reactor is closed');
    expect(() => closed.run()).toThrow(/closed/);
    expect(() => closed.attach(multi)).toThrow(/closed/);
  });

  it('refuses run(), runOnce() and close() from inside a callback; the transfer fails with the reason', async () => {
    attachment = reactor.attach(multi);
    for (const call of [() => reactor.run(), () => reactor.runOnce(0), () => reactor.close()]) {
      const easy = get('/bytes/10');
      easy.setopt('WRITEFUNCTION', () => {
        call();
        return 0;
      });
      const done = multi.perform(easy);
      reactor.run();
      const error = await done.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CurlError);
      expect((error as CurlError).code).toBe(23); // CURLE_WRITE_ERROR: the callback threw
      expect(String((error as CurlError).cause)).toMatch(/from inside/);
      easy.close();
    }
    expect(reactor.closed).toBe(false);
  });
});
