// A kevent backend that passes every call through to a real one and records it, so tests can
// read the exact changelists the adapter submits and the batches it got back.
import type { KeventBackend } from '../src/index.js';
import { decode, type Kev } from './kevent.js';

export interface KeventCall {
  kq: number;
  changes: Kev[];
  nevents: number;
  timeoutMs: number;
  rc: number;
  events: Kev[];
}

export class RecordingBackend implements KeventBackend {
  readonly calls: KeventCall[] = [];
  /** Called after each kevent() with its record (e.g. to interleave with socketAction calls). */
  onCall: ((call: KeventCall) => void) | null = null;

  constructor(readonly inner: KeventBackend) {}

  get constants(): KeventBackend['constants'] {
    return this.inner.constants;
  }

  kqueue(): number {
    return this.inner.kqueue();
  }

  kevent(
    kq: number,
    changes: Int32Array,
    nchanges: number,
    events: Int32Array,
    nevents: number,
    timeoutMs: number,
  ) {
    const submitted = decode(changes, nchanges);
    const rc = this.inner.kevent(kq, changes, nchanges, events, nevents, timeoutMs);
    const call = { kq, changes: submitted, nevents, timeoutMs, rc, events: rc > 0 ? decode(events, rc) : [] };
    this.calls.push(call);
    this.onCall?.(call);
    return rc;
  }

  close(kq: number): number {
    return this.inner.close(kq);
  }

  /** The calls that submitted changes (as opposed to waits). */
  changeCalls(): KeventCall[] {
    return this.calls.filter((c) => c.changes.length > 0);
  }

  clear(): void {
    this.calls.length = 0;
  }
}
