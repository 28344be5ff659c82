import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, expect } from 'vitest';
import { openHandleCount } from '../src/index.js';

export { sleep };

export function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** Lets close callbacks (which run on a later loop turn) and finalizers run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Every test must leave no fd open and no uv handle of this module behind. */
export function checkLeaks(): void {
  let fds = 0;
  let handles = 0;
  beforeEach(async () => {
    await settle();
    fds = openFdCount();
    handles = openHandleCount();
  });
  afterEach(async () => {
    await settle();
    expect(openHandleCount()).toBe(handles);
    expect(openFdCount()).toBe(fds);
  });
}

/**
 * A FIFO opened O_RDWR|O_NONBLOCK: an fd Node itself does not watch, always writable while its
 * buffer has room, readable once written to.
 */
export class Fifo {
  readonly fd: number;
  readonly #dir: string;

  constructor() {
    this.#dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libuv-bindings-'));
    const file = path.join(this.#dir, 'fifo');
    execFileSync('mkfifo', [file]);
    this.fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  }

  write(data = 'x'): void {
    fs.writeSync(this.fd, data);
  }

  /** Reads everything buffered, so the fd is no longer readable. */
  drain(): string {
    const buf = Buffer.alloc(65536);
    let text = '';
    for (;;) {
      try {
        const n = fs.readSync(this.fd, buf);
        text += buf.toString('latin1', 0, n);
        if (n === 0) return text;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return text;
        throw error;
      }
    }
  }

  close(): void {
    fs.closeSync(this.fd);
    fs.rmSync(this.#dir, { recursive: true });
  }
}

/** Collects (status, events) pairs from a Poll callback and lets a test wait for the next. */
export class EventLog {
  readonly events: Array<[number, number]> = [];
  #waiters: Array<() => void> = [];

  readonly callback = (status: number, events: number): void => {
    this.events.push([status, events]);
    for (const wake of this.#waiters.splice(0)) wake();
  };

  async next(timeoutMs = 2000): Promise<[number, number]> {
    const seen = this.events.length;
    const deadline = Date.now() + timeoutMs;
    while (this.events.length === seen) {
      if (Date.now() > deadline) throw new Error('no poll event within the time limit');
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 20);
      });
    }
    return this.events[seen] as [number, number];
  }
}
