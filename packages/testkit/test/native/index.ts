// The testkit's test addon (test/native), typed. TEST ONLY: built by test/native/build.ts (a
// vitest globalSetup), never shipped.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { NativeLoop } from '@multisock/core';

/** The mistakes of the native test adapter (broken-loop.cc says what each does); 'none' is the
 * correct adapter. The first four are the conformance suite's, the others the driver rows'. */
export type NativeBreakage =
  | 'none'
  | 'ignoreRemove'
  | 'edgeTriggered'
  | 'syncTimerZero'
  | 'whatBitsAsEvents'
  | 'noneAsInout'
  | 'reinitOnChange'
  | 'errAlone'
  | 'noErrorRestart'
  | 'timerPerCall'
  | 'repeatingTimer'
  | 'ignoresTimerDelete'
  | 'ignoresClosed'
  | 'leaksAtDetach';

/** One thing the scripted core saw or did, in order. `inside`: an action or flush made from
 * inside a table function (refused, as the core refuses it); `afterDetach`: made during or after
 * detach(); `reaction`: a call the core made inside an action (see react()). */
export type DriverRecord =
  | { kind: 'action'; fd: number; bits: number; inside: boolean; afterDetach: boolean }
  | { kind: 'flush'; inside: boolean; afterDetach: boolean }
  | { kind: 'socket'; fd: number; what: number; flags: number; rc: number; reaction: boolean }
  | { kind: 'timer'; ms: number; rc: number; reaction: boolean }
  | { kind: 'closed'; fd: number; reaction: boolean }
  | { kind: 'detach' };

/** A step the core runs inside an action, as libcurl calls the socket and timer functions from
 * inside socket_action. */
export type ReactionStep = ['socket', number, number, number?] | ['timer', number] | ['closed', number];

interface NativeScriptedCore {
  readonly name: string;
  readonly detached: boolean;
  socket(fd: number, what: number, flags?: number): number;
  timer(ms: number): number;
  closed(fd: number): void;
  stats(): { registrations: number; timerArmed: boolean } | null;
  lastError(): string | null;
  react(fd: number, steps: ReactionStep[]): void;
  take(): Int32Array;
  detach(): void;
}

interface Addon {
  brokenLoop(breakage: NativeBreakage): NativeLoop;
  ScriptedCore: new (loop: NativeLoop) => NativeScriptedCore;
  socketpair(): [number, number];
  writeBytes(fd: number, n: number): number;
  fill(fd: number): number;
  drain(fd: number): number;
  closeFd(fd: number): void;
  uvHandles(): Float64Array;
  uvHandleType: { POLL: number; TIMER: number; IDLE: number; CHECK: number };
}

const load = createRequire(import.meta.url);
export const addon = load('./build/Release/testkit_native.node') as Addon;

/** The External of a native adapter package's addon (`exports.loop`, as multisock/loop.h's
 * adapters hand it to Multi.attachNativeLoop), loaded from the package's own build: the same
 * module, so the same loop, as the package's attach() uses. */
export function packageLoop(pkg: string, addonFile: string): NativeLoop {
  const root = dirname(load.resolve(`${pkg}/package.json`));
  const loaded = load(join(root, 'build', 'Release', addonFile)) as { loop?: NativeLoop };
  if (loaded.loop === undefined) throw new Error(`${pkg}'s ${addonFile} exports no loop`);
  return loaded.loop;
}

const KINDS = ['', 'action', 'flush', 'socket', 'timer', 'closed', 'detach'] as const;

/**
 * Drives a native loop table directly, as a fake core: the test plays libcurl (socket, timer,
 * closed), and every api->action and api->flush the adapter makes is recorded (see
 * scripted-core.cc). `records` accumulates everything since the driver was made.
 */
export class ScriptedCore {
  readonly #native: NativeScriptedCore;
  readonly records: DriverRecord[] = [];

  constructor(loop: NativeLoop) {
    this.#native = new addon.ScriptedCore(loop);
  }

  get name(): string {
    return this.#native.name;
  }

  get detached(): boolean {
    return this.#native.detached;
  }

  /** The table's socket function (libcurl's socket callback). Returns its result. */
  socket(fd: number, what: number, flags = 0): number {
    const rc = this.#native.socket(fd, what, flags);
    this.sync();
    return rc;
  }

  /** The table's timer function (libcurl's timer callback). Returns its result. */
  timer(ms: number): number {
    const rc = this.#native.timer(ms);
    this.sync();
    return rc;
  }

  closed(fd: number): void {
    this.#native.closed(fd);
    this.sync();
  }

  stats(): { registrations: number; timerArmed: boolean } | null {
    return this.#native.stats();
  }

  lastError(): string | null {
    return this.#native.lastError();
  }

  /** The next action for `fd` (SOCKET_TIMEOUT for the timer) runs `steps` inside it. */
  react(fd: number, steps: ReactionStep[]): void {
    this.#native.react(fd, steps);
  }

  detach(): void {
    this.#native.detach();
    this.sync();
  }

  /** Moves what the native side recorded into `records`; returns the new records. */
  sync(): DriverRecord[] {
    const raw = this.#native.take();
    const added: DriverRecord[] = [];
    for (let i = 0; i + 6 <= raw.length; i += 6) {
      const [kind, a, b, c, d, origin] = [
        raw[i]!,
        raw[i + 1]!,
        raw[i + 2]!,
        raw[i + 3]!,
        raw[i + 4]!,
        raw[i + 5]!,
      ];
      const reaction = origin === 1;
      switch (KINDS[kind]) {
        case 'action':
          added.push({ kind: 'action', fd: a, bits: b, inside: (c & 1) !== 0, afterDetach: (c & 2) !== 0 });
          break;
        case 'flush':
          added.push({ kind: 'flush', inside: (c & 1) !== 0, afterDetach: (c & 2) !== 0 });
          break;
        case 'socket':
          added.push({ kind: 'socket', fd: a, what: b, flags: c, rc: d, reaction });
          break;
        case 'timer':
          added.push({ kind: 'timer', ms: a, rc: d, reaction });
          break;
        case 'closed':
          added.push({ kind: 'closed', fd: a, reaction });
          break;
        case 'detach':
          added.push({ kind: 'detach' });
          break;
        default:
          throw new Error(`ScriptedCore: unknown record kind ${kind}`);
      }
    }
    for (const record of added) this.records.push(record); // (a spread overflows the stack)
    return added;
  }

  /** Every action recorded so far (optionally for one fd). */
  actions(fd?: number): Array<Extract<DriverRecord, { kind: 'action' }>> {
    this.sync();
    return this.records.filter(
      (r): r is Extract<DriverRecord, { kind: 'action' }> =>
        r.kind === 'action' && (fd === undefined || r.fd === fd),
    );
  }
}

/** A uv handle open on this thread's loop (from uvHandles()). */
export interface UvHandle {
  type: number;
  fd: number;
  active: boolean;
  closing: boolean;
  id: number;
}

/** Every handle open on Node's loop for this thread, whoever opened it. */
export function uvHandles(): UvHandle[] {
  const raw = addon.uvHandles();
  const out: UvHandle[] = [];
  for (let i = 0; i + 4 <= raw.length; i += 4) {
    const flags = raw[i + 2]!;
    out.push({
      type: raw[i]!,
      fd: raw[i + 1]!,
      active: (flags & 1) !== 0,
      closing: (flags & 2) !== 0,
      id: raw[i + 3]!,
    });
  }
  return out;
}

/** The uv_poll handles watching `fd` (open and not closing). */
export function uvPollsFor(fd: number): UvHandle[] {
  return uvHandles().filter((h) => h.type === addon.uvHandleType.POLL && h.fd === fd && !h.closing);
}
