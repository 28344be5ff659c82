// Helpers for talking to a kevent backend directly in tests: records as objects, FIFOs as fds.
import { execFileSync } from 'node:child_process';
import { closeSync, constants as fsConstants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEVENT_FIELDS, type KeventBackend } from './emulation/index.js';

export interface Kev {
  ident: number;
  filter: number;
  flags: number;
  fflags: number;
  data: number;
  udata: number;
}

export function kev(ident: number, filter: number, flags: number, udata = 0): Kev {
  return { ident, filter, flags, fflags: 0, data: 0, udata };
}

export function encode(records: Kev[]): Int32Array {
  const out = new Int32Array(records.length * KEVENT_FIELDS);
  records.forEach((r, i) => {
    out.set([r.ident, r.filter, r.flags, r.fflags, r.data, r.udata], i * KEVENT_FIELDS);
  });
  return out;
}

export function decode(array: Int32Array, count: number): Kev[] {
  const out: Kev[] = [];
  for (let i = 0; i < count; i++) {
    const [ident, filter, flags, fflags, data, udata] = array.subarray(
      i * KEVENT_FIELDS,
      (i + 1) * KEVENT_FIELDS,
    );
    out.push({ ident: ident!, filter: filter!, flags: flags!, fflags: fflags!, data: data!, udata: udata! });
  }
  return out;
}

/** One kevent() call: `rc` as the backend returned it, `events` the records written. */
export function call(
  backend: KeventBackend,
  kq: number,
  changes: Kev[],
  nevents: number,
  timeoutMs = 0,
): { rc: number; events: Kev[] } {
  const events = new Int32Array(Math.max(nevents, 1) * KEVENT_FIELDS);
  const rc = backend.kevent(kq, encode(changes), changes.length, events, nevents, timeoutMs);
  return { rc, events: rc > 0 ? decode(events, rc) : [] };
}

/** A FIFO in a fresh temp dir, opened non-blocking: separate read and write ends, or one O_RDWR
 * fd that is both (readable once written to, writable while not full). */
export class Fifo {
  readonly #dir: string;
  readonly path: string;
  readonly #fds = new Set<number>();

  constructor() {
    this.#dir = mkdtempSync(join(tmpdir(), 'kqueue-test-'));
    this.path = join(this.#dir, 'fifo');
    execFileSync('mkfifo', [this.path]);
  }

  /** Read end first: a non-blocking O_WRONLY open fails while there is no reader. */
  openEnds(): { reader: number; writer: number } {
    const reader = this.#open(fsConstants.O_RDONLY);
    const writer = this.#open(fsConstants.O_WRONLY);
    return { reader, writer };
  }

  openBoth(): number {
    return this.#open(fsConstants.O_RDWR);
  }

  #open(mode: number): number {
    const fd = openSync(this.path, mode | fsConstants.O_NONBLOCK);
    this.#fds.add(fd);
    return fd;
  }

  close(fd: number): void {
    if (this.#fds.delete(fd)) closeSync(fd);
  }

  dispose(): void {
    for (const fd of this.#fds) closeSync(fd);
    this.#fds.clear();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
