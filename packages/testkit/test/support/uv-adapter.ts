// The reference adapter (src/reference-adapter.ts) with one mistake on purpose, for
// test/broken-adapters.test.ts: each override is the whole breakage.
import { type LoopAdapter, type Multi, Poll, SOCKET_TIMEOUT } from '@multisock/core';
import { ReferenceAttachment, type WatchedSocket } from '../../src/index.js';

/** The four mistakes the suite must catch (the same names as the native test adapter's). */
export type Breakage = 'ignoreRemove' | 'edgeTriggered' | 'syncTimerZero' | 'whatBitsAsEvents';

class BrokenAttachment extends ReferenceAttachment {
  constructor(
    multi: Multi,
    readonly breakage: Breakage,
  ) {
    super(multi);
  }

  protected override socket(fd: number, what: number, socketp: unknown): void {
    // Keeps the poll (and the registration) when libcurl says REMOVE.
    if (this.breakage === 'ignoreRemove' && what === Poll.REMOVE) return;
    super.socket(fd, what, socketp);
  }

  protected override timer(timeoutMs: number): void {
    // Fires at once, inside the timer callback, when told 0.
    if (this.breakage === 'syncTimerZero' && timeoutMs === 0) this.socketAction(SOCKET_TIMEOUT, 0);
    else super.timer(timeoutMs);
  }

  protected override ready(socket: WatchedSocket, status: number, events: number): void {
    if (this.breakage === 'whatBitsAsEvents') {
      // What libcurl asked for, not what the poll saw.
      if (socket.live) this.socketAction(socket.fd, socket.what);
      return;
    }
    // Reports the socket once, then not again until libcurl announces it again.
    if (this.breakage === 'edgeTriggered') socket.poll.stop();
    super.ready(socket, status, events);
  }
}

/** The reference adapter under another name, broken as `breakage` says (or not at all). */
export function uvAdapter(name: string, breakage?: Breakage): LoopAdapter {
  return {
    name,
    attach: (multi: Multi) =>
      breakage ? new BrokenAttachment(multi, breakage) : new ReferenceAttachment(multi),
  };
}
