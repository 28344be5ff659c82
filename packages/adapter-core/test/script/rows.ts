// The contract's unit rows (docs/contract.md#conformance, its unit rows) on a native poller adapter, through the script
// driver: the same suite for every backend (as c-ares runs its event tests over each backend),
// with the backend's name in each test's name. The fds are FIFOs: opened O_RDWR one fd is both
// ends (readable once written to, writable while not full), so readiness is driven exactly.
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants as fsConstants,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CSelect, type NativeLoop, Poll } from '@multisock/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Script, TRACKED } from './index.js';

const TIMEOUT = -1;
const VALID = CSelect.IN | CSelect.OUT | CSelect.ERR;

/** The native reactor of an adapter's addon (poller_loop.h ReactorWrap). */
export interface NativeReactor {
  readonly loop: NativeLoop;
  runOnce(timeoutMs: number): number;
  close(): void;
}

export interface ScriptedBackend {
  /** 'epoll', 'emulated kqueue' */
  readonly name: string;
  /** The addon's nested table. */
  readonly nested: NativeLoop;
  newReactor(): NativeReactor;
}

/** FIFOs in a fresh temp dir. */
export class Fifos {
  readonly #dir = mkdtempSync(join(tmpdir(), 'multisock-fifo-'));
  readonly #open = new Set<number>();
  #n = 0;

  /** One fd, both ends of a new FIFO. */
  both(): number {
    const path = this.#path();
    return this.#fd(path, fsConstants.O_RDWR);
  }

  /** Separate ends of a new FIFO (the read end first: a non-blocking write open needs one). */
  ends(): { reader: number; writer: number } {
    const path = this.#path();
    const reader = this.#fd(path, fsConstants.O_RDONLY);
    return { reader, writer: this.#fd(path, fsConstants.O_WRONLY) };
  }

  close(fd: number): void {
    if (this.#open.delete(fd)) closeSync(fd);
  }

  dispose(): void {
    for (const fd of this.#open) closeSync(fd);
    this.#open.clear();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #path(): string {
    const path = join(this.#dir, `fifo${this.#n++}`);
    execFileSync('mkfifo', [path]);
    return path;
  }

  #fd(path: string, mode: number): number {
    const fd = openSync(path, mode | fsConstants.O_NONBLOCK);
    this.#open.add(fd);
    return fd;
  }
}

export const drain = (fd: number) => {
  try {
    readSync(fd, Buffer.alloc(65536));
  } catch {
    // EAGAIN: nothing left
  }
};

/** Every action's bits are CSELECT bits (docs/contract.md#conformance row 11: POLL_REMOVE == CSELECT_ERR). */
function checkBits(actions: Array<[number, number]>): Array<[number, number]> {
  for (const [fd, bits] of actions) {
    if (fd === TIMEOUT) expect(bits).toBe(0);
    else expect(bits & ~VALID).toBe(0);
  }
  return actions;
}

export function describeScriptedRows(backend: ScriptedBackend): void {
  describe(`scripted unit rows, reactor (${backend.name})`, () => {
    let fifos: Fifos;
    let reactor: NativeReactor;
    let script: Script;
    const actions = () => checkBits(script.actions());

    beforeEach(() => {
      fifos = new Fifos();
      reactor = backend.newReactor();
      script = new Script(reactor.loop);
    });

    afterEach(() => {
      script.detach();
      reactor.close();
      fifos.dispose();
    });

    it('REMOVE of an fd never registered is a no-op that returns 0 (row 3)', () => {
      const fd = fifos.both();
      expect(script.socket(fd, Poll.REMOVE)).toBe(0);
      expect(script.socket(123_456, Poll.REMOVE)).toBe(0);
      expect(script.registrations).toBe(0);
      expect(script.lastError).toBeNull();
      writeSync(fd, 'x');
      expect(reactor.runOnce(0)).toBe(0);
      expect(actions()).toEqual([]);
    });

    it('OUT then IN, and IN -> INOUT -> IN: one registration; what replaces the interest (rows 1, 2)', () => {
      const fd = fifos.both(); // always writable; readable once written to
      expect(script.socket(fd, Poll.OUT)).toBe(0);
      expect(script.socket(fd, Poll.IN, 0)).toBe(0);
      expect(script.registrations).toBe(1);
      expect(reactor.runOnce(0)).toBe(0); // no lingering write interest
      writeSync(fd, 'x');
      expect(reactor.runOnce(0)).toBe(1);
      expect(actions()).toEqual([[fd, CSelect.IN]]);
      expect(script.socket(fd, Poll.INOUT, 0)).toBe(0);
      expect(script.registrations).toBe(1);
      reactor.runOnce(0);
      expect(actions()).toEqual([[fd, CSelect.IN | CSelect.OUT]]);
      expect(script.socket(fd, Poll.IN, 0)).toBe(0);
      expect(script.registrations).toBe(1);
      reactor.runOnce(0);
      expect(actions()).toEqual([[fd, CSelect.IN]]);
      drain(fd);
      expect(reactor.runOnce(0)).toBe(0);
    });

    it('REMOVE then a fresh announcement of the same fd: one registration, the new interest (row 4)', () => {
      const fd = fifos.both();
      script.socket(fd, Poll.IN);
      expect(script.socket(fd, Poll.REMOVE)).toBe(0);
      expect(script.registrations).toBe(0);
      expect(script.socket(fd, Poll.OUT)).toBe(0);
      expect(script.registrations).toBe(1);
      writeSync(fd, 'x');
      reactor.runOnce(0);
      expect(actions()).toEqual([[fd, CSelect.OUT]]);
    });

    it('drops a stale event of a batch whose fd was REMOVEd and re-announced earlier in it (row 5)', () => {
      // Two fds of one FIFO: one write makes both readable, so one wait returns both.
      const path = fifos.both();
      const a = path;
      const b = fifos.both();
      writeSync(a, 'x');
      writeSync(b, 'x');
      script.socket(a, Poll.IN);
      script.socket(b, Poll.IN);
      let first: number | undefined;
      script.onAction = (fd) => {
        if (first !== undefined) return;
        first = fd;
        // Inside this action (as inside curl_multi_socket_action) libcurl drops the other fd and
        // announces it again: a new registration, which the event already fetched is not for.
        const other = fd === a ? b : a;
        expect(script.socket(other, Poll.REMOVE)).toBe(0);
        expect(script.socket(other, Poll.IN)).toBe(0);
      };
      expect(reactor.runOnce(0)).toBe(1);
      expect(actions()).toEqual([[first, CSelect.IN]]);
      script.onAction = null;
      // The new registration is reported on the next wait.
      expect(reactor.runOnce(0)).toBe(2);
      expect(
        actions()
          .map(([fd]) => fd)
          .sort(),
      ).toEqual([a, b].sort());
    });

    it('a delete the kernel answers with EBADF (fd closed) or ENOENT (number reused) is done (row 6)', () => {
      const fd = fifos.both();
      script.socket(fd, Poll.INOUT);
      fifos.close(fd); // the kernel drops its registration
      expect(script.socket(fd, Poll.REMOVE)).toBe(0);
      expect(script.registrations).toBe(0);
      expect(script.lastError).toBeNull();

      const again = fifos.both();
      script.socket(again, Poll.IN);
      fifos.close(again);
      const reused = fifos.both(); // the lowest free number: the same one, another file
      expect(reused).toBe(again);
      expect(script.socket(reused, Poll.REMOVE)).toBe(0);
      expect(script.registrations).toBe(0);
      expect(script.lastError).toBeNull();
    });

    it('a fresh announcement of a listed fd whose file was closed registers the new file (docs/contract.md#fd-reuse)', () => {
      const fd = fifos.both();
      script.socket(fd, Poll.IN);
      fifos.close(fd); // closed without a REMOVE (7.88.1 can, after a failed callback)
      const reused = fifos.both();
      expect(reused).toBe(fd);
      expect(script.socket(reused, Poll.IN)).toBe(0);
      expect(script.registrations).toBe(1);
      writeSync(reused, 'x');
      reactor.runOnce(0);
      expect(actions()).toEqual([[reused, CSelect.IN]]);
    });

    it('NONE keeps the registration and watches nothing (row 8)', () => {
      const fd = fifos.both();
      writeSync(fd, 'x');
      script.socket(fd, Poll.INOUT);
      expect(script.socket(fd, Poll.NONE, 0)).toBe(0);
      expect(script.registrations).toBe(1);
      expect(reactor.runOnce(0)).toBe(0);
      expect(actions()).toEqual([]);
      expect(script.socket(fd, Poll.IN, 0)).toBe(0);
      expect(script.registrations).toBe(1);
      reactor.runOnce(0);
      expect(actions()).toEqual([[fd, CSelect.IN]]);
    });

    it('readiness IN and OUT of one fd is ONE action with IN|OUT (row 9)', () => {
      const fd = fifos.both();
      writeSync(fd, 'x');
      script.socket(fd, Poll.INOUT);
      expect(reactor.runOnce(0)).toBe(1);
      expect(actions()).toEqual([[fd, CSelect.IN | CSelect.OUT]]);
    });

    it('the peer gone is reported with the watched direction, in CSELECT bits (rows 10, 11)', () => {
      const { reader, writer } = fifos.ends();
      script.socket(writer, Poll.OUT);
      reactor.runOnce(0);
      expect(actions()).toEqual([[writer, CSelect.OUT]]);
      fifos.close(reader); // epoll: EPOLLERR; kqueue: EV_EOF on the WRITE filter
      reactor.runOnce(0);
      const [[fd, bits]] = actions() as [[number, number]];
      expect(fd).toBe(writer);
      expect(bits & CSelect.OUT).toBe(CSelect.OUT);
    });

    it('a socket libcurl closes (closed()) leaves nothing registered', () => {
      const fd = fifos.both();
      script.socket(fd, Poll.IN, 1 | TRACKED);
      script.socket(fd, Poll.REMOVE, TRACKED);
      script.closed(fd);
      script.socket(fd, Poll.OUT, 1 | TRACKED);
      script.closed(fd); // closed while still watched: dropped too
      expect(script.registrations).toBe(0);
      writeSync(fd, 'x');
      expect(reactor.runOnce(0)).toBe(0);
    });

    it('refuses a what that is no CURL_POLL_* value, and a closed fd, with the reason', () => {
      const fd = fifos.both();
      expect(script.socket(fd, 7)).toBe(-22); // EINVAL
      expect(script.lastError).toMatch(/what=7/);
      fifos.close(fd);
      expect(script.socket(fd, Poll.IN)).toBeLessThan(0);
      expect(script.lastError).toMatch(/fd \d+/);
      expect(script.registrations).toBe(0);
    });

    it('timer(200) then timer(50): one timer at 50 ms; fired means consumed (rows 12, 15)', () => {
      const start = performance.now();
      script.timer(200);
      script.timer(50);
      expect(script.timerArmed).toBe(true);
      expect(reactor.runOnce(-1)).toBe(1);
      const waited = performance.now() - start;
      expect(waited).toBeGreaterThanOrEqual(49);
      expect(waited).toBeLessThan(190);
      expect(actions()).toEqual([[TIMEOUT, 0]]);
      expect(script.timerArmed).toBe(false);
      // Nothing registered and no timer: returns at once instead of blocking forever.
      expect(reactor.runOnce(-1)).toBe(0);
    });

    it('timer(0) fires on the next runOnce, never inside the callback; three adds, one timer (rows 13, 16)', () => {
      script.timer(0);
      script.timer(0);
      script.timer(0);
      expect(script.take()).toEqual([]); // nothing synchronous, nothing refused
      expect(reactor.runOnce(1000)).toBe(1);
      expect(actions()).toEqual([[TIMEOUT, 0]]);
    });

    it('timer(-1) stops the timer (row 14)', () => {
      script.timer(20);
      script.timer(-1);
      expect(script.timerArmed).toBe(false);
      expect(reactor.runOnce(60)).toBe(0);
      expect(actions()).toEqual([]);
    });

    it('a timer armed from inside its own action waits for the next turn', () => {
      script.timer(0);
      let rearmed = 0;
      script.onAction = (fd) => {
        if (fd === TIMEOUT && rearmed++ === 0) script.timer(0);
      };
      expect(reactor.runOnce(0)).toBe(1);
      expect(reactor.runOnce(0)).toBe(1);
      expect(reactor.runOnce(0)).toBe(0);
    });

    it('flushes each multi once per turn, after its actions', () => {
      const fd = fifos.both();
      writeSync(fd, 'x');
      script.socket(fd, Poll.IN);
      script.timer(0);
      reactor.runOnce(0);
      expect(script.take().map((r) => r.kind)).toEqual(['action', 'action', 'flush']);
    });

    it('another multi announcing a listed fd fresh takes it over; each multi counts its own', () => {
      const other = new Script(reactor.loop);
      try {
        const fd = fifos.both();
        writeSync(fd, 'x');
        script.socket(fd, Poll.IN);
        other.socket(fd, Poll.IN); // its socket is gone without a REMOVE, the number reused
        expect([script.registrations, other.registrations]).toEqual([0, 1]);
        reactor.runOnce(0);
        expect(actions()).toEqual([]);
        expect(other.actions()).toEqual([[fd, CSelect.IN]]);
        expect(script.socket(fd, Poll.REMOVE)).toBe(0); // not its own any more: a no-op
        expect(other.registrations).toBe(1);
      } finally {
        other.detach();
      }
    });

    it('detach and close leave nothing registered and dispatch nothing more (row 20)', () => {
      const fd = fifos.both();
      writeSync(fd, 'x');
      const other = new Script(reactor.loop);
      other.socket(fd, Poll.IN);
      other.timer(0);
      other.detach();
      script.socket(fd, Poll.IN);
      script.timer(0);
      reactor.close();
      expect(script.registrations).toBe(0);
      expect(other.take()).toEqual([]);
      expect(() => reactor.runOnce(0)).toThrow(/closed/);
      expect(script.take()).toEqual([]);
    });
  });

  describe(`scripted unit rows, nested in Node's loop (${backend.name})`, () => {
    let fifos: Fifos;
    let script: Script;

    beforeEach(() => {
      fifos = new Fifos();
      script = new Script(backend.nested);
    });

    afterEach(() => {
      script.detach();
      fifos.dispose();
    });

    const until = async (condition: () => boolean, what: string) => {
      const deadline = Date.now() + 2000;
      while (!condition()) {
        if (Date.now() > deadline) throw new Error(`${what}: not after 2 s`);
        await sleep(1);
      }
    };

    it('timer(0) fires on a later loop turn, then the multi is flushed (row 13)', async () => {
      script.timer(0);
      expect(script.take()).toEqual([]);
      expect(script.timerArmed).toBe(true);
      const records: string[] = [];
      await until(() => {
        records.push(...script.take().map((r) => (r.kind === 'action' ? `action ${r.fd}` : r.kind)));
        return records.includes(`action ${TIMEOUT}`);
      }, 'the timer');
      // (The turn hook flushes every turn; the timer's own action is followed by one at once.)
      const fired = records.indexOf(`action ${TIMEOUT}`);
      expect(records[fired + 1] ?? 'flush').toBe('flush');
      expect(script.timerArmed).toBe(false);
    });

    it('readiness reaches the action through one uv_poll on the set; REMOVE stops it', async () => {
      const fd = fifos.both();
      script.socket(fd, Poll.IN);
      writeSync(fd, 'x');
      const seen: Array<[number, number]> = [];
      await until(() => {
        seen.push(...checkBits(script.actions()));
        return seen.length > 0;
      }, 'the readiness');
      expect(seen[0]).toEqual([fd, CSelect.IN]);
      script.socket(fd, Poll.REMOVE);
      script.take();
      await sleep(20);
      expect(script.actions()).toEqual([]);
    });

    it('the stale event of a batch is dropped here too (row 5)', async () => {
      const a = fifos.both();
      const b = fifos.both();
      writeSync(a, 'x');
      writeSync(b, 'x');
      script.socket(a, Poll.IN);
      script.socket(b, Poll.IN);
      let first: number | undefined;
      const seen: Array<[number, number]> = [];
      script.onAction = (fd) => {
        if (first !== undefined) return;
        first = fd;
        const other = fd === a ? b : a;
        script.socket(other, Poll.REMOVE);
        script.socket(other, Poll.IN);
      };
      // The first batch: both fds ready, one action; the re-announced fd comes a turn later.
      await until(() => {
        const records = script.take();
        const turn = records.findIndex((r) => r.kind === 'flush');
        for (const r of turn < 0 ? records : records.slice(0, turn))
          if (r.kind === 'action') seen.push([r.fd, r.bits]);
        return turn >= 0 && seen.length > 0;
      }, 'the first batch');
      expect(seen).toEqual([[first, CSelect.IN]]);
      script.onAction = null;
    });

    it('detach drops every registration and the timer', async () => {
      const fd = fifos.both();
      script.socket(fd, Poll.IN);
      script.timer(10);
      expect([script.registrations, script.timerArmed]).toEqual([1, true]);
      script.detach();
      writeSync(fd, 'x');
      await sleep(30);
      expect(script.take()).toEqual([]);
    });
  });
}
