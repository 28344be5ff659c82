import type { Easy } from './easy.js';
import type { Multi } from './multi.js';

/**
 * CURLMOPT_SOCKETFUNCTION. `easy` is the transfer the update relates to, or null for a handle
 * the application did not add (libcurl's internal ones). `what` is the whole interest set
 * (Poll.*), not a change. `socketp` is what multi.assign stored for this socket, or null; it is
 * forgotten at Poll.REMOVE. Return 0 or nothing; -1 or a throw aborts every transfer of the multi.
 */
export type SocketCallback = (
  easy: Easy | null,
  socket: number,
  what: number,
  clientp: unknown,
  socketp: unknown,
) => number | undefined;

/**
 * CURLMOPT_TIMERFUNCTION: keep one non-repeating timer. -1 deletes it; 0 means "as soon as
 * possible" on a later turn of the loop, never from inside this callback.
 */
export type TimerCallback = (multi: Multi, timeoutMs: number, clientp: unknown) => number | undefined;

/** A loop integration: translates what-bits into registrations and readiness into socketAction. */
export interface LoopAdapter {
  readonly name: string;
  attach(multi: Multi): LoopAttachment;
}

/** One multi attached to a loop adapter, as `LoopAdapter.attach` returns it. */
export interface LoopAttachment {
  /** Removes every registration and the timer, and unsets the multi's callbacks. */
  detach(): void;
}

/** A finished transfer, as multi.infoRead returns it (CURLMSG_DONE). */
export interface DoneMessage {
  msg: 'DONE';
  easy: Easy;
  result: number;
}
