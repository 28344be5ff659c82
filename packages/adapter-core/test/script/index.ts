// The script driver of a native loop adapter's table (script.cc). TEST ONLY.
import { createRequire } from 'node:module';
import type { NativeLoop } from '@multisock/core';

/** MULTISOCK_SOCKET_FRESH and _TRACKED, the socket function's flags (multisock/loop.h). */
export const FRESH = 1;
export const TRACKED = 2;

/** What the loop did, as the driver recorded it. */
export type Record =
  | { kind: 'action'; fd: number; bits: number }
  | { kind: 'flush' }
  | { kind: 'refused'; fd: number; bits: number };

interface NativeScript {
  socket(fd: number, what: number, flags: number): number;
  timer(ms: number): number;
  closed(fd: number): void;
  stats(): [number, boolean];
  lastError(): string | null;
  onAction(fn: ((fd: number, bits: number) => void) | null): void;
  take(): Int32Array;
  detach(): void;
}

interface Addon {
  Script: {
    new (loop: NativeLoop): NativeScript;
    epollAdd(epfd: number, fd: number): number;
    dup2(from: number, to: number): number;
  };
}

const addon = createRequire(import.meta.url)('./build/Release/script.node') as Addon;

/** One scripted multi attached to the adapter whose External is `loop`. */
export class Script {
  readonly #native: NativeScript;

  constructor(loop: NativeLoop) {
    this.#native = new addon.Script(loop);
  }

  /** The socket function, as the core calls it: FRESH by default (a first announcement). */
  socket(fd: number, what: number, flags = FRESH): number {
    return this.#native.socket(fd, what, flags);
  }

  timer(ms: number): number {
    return this.#native.timer(ms);
  }

  closed(fd: number): void {
    this.#native.closed(fd);
  }

  get registrations(): number {
    return this.#native.stats()[0];
  }

  get timerArmed(): boolean {
    return this.#native.stats()[1];
  }

  get lastError(): string | null {
    return this.#native.lastError();
  }

  /** Called inside each action (libcurl's socket callback may run there). */
  set onAction(fn: ((fd: number, bits: number) => void) | null) {
    this.#native.onAction(fn);
  }

  /** What the loop did since the last take(). */
  take(): Record[] {
    const raw = this.#native.take();
    const out: Record[] = [];
    for (let i = 0; i < raw.length; i += 3) {
      const [kind, fd, bits] = [raw[i]!, raw[i + 1]!, raw[i + 2]!];
      if (kind === 1) out.push({ kind: 'action', fd, bits });
      else if (kind === 2) out.push({ kind: 'flush' });
      else out.push({ kind: 'refused', fd, bits });
    }
    return out;
  }

  /** The actions since the last take(), as [fd, bits]; throws if any was refused (made from
   * inside a table function). */
  actions(): Array<[number, number]> {
    const records = this.take();
    const refused = records.find((r) => r.kind === 'refused');
    if (refused)
      throw new Error(`the loop called api->action from inside a table function: ${JSON.stringify(refused)}`);
    return records.flatMap((r) => (r.kind === 'action' ? [[r.fd, r.bits] as [number, number]] : []));
  }

  detach(): void {
    this.#native.detach();
  }

  static epollAdd(epfd: number, fd: number): number {
    return addon.Script.epollAdd(epfd, fd);
  }

  static dup2(from: number, to: number): number {
    return addon.Script.dup2(from, to);
  }
}
