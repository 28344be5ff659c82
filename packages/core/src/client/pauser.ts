import { Pause } from '../constants.js';
import type { Easy } from '../easy.js';

/**
 * The pause state of one transfer. A callback pauses a direction by returning WRITEFUNC_PAUSE
 * (receive) or READFUNC_PAUSE (send); resuming calls curl_easy_pause, which is never done from
 * inside a libcurl callback: it runs on a later turn of the loop (setImmediate), as node-libcurl
 * learned the hard way (docs/contract.md#no-re-entry). Both directions share one handle, so the bits
 * passed are always the ones still paused.
 */
export class Pauser {
  #bits = 0;
  #scheduled = false;
  #active = true;

  /** `onError` gets what curl_easy_pause threw: the request fails with it. */
  constructor(
    readonly easy: Easy,
    readonly onError: (error: unknown) => void,
  ) {}

  /** Records that a callback just returned a pause code for `bit` (Pause.RECV or SEND). */
  paused(bit: number): void {
    this.#bits |= bit;
  }

  isPaused(bit: number): boolean {
    return (this.#bits & bit) !== 0;
  }

  /** Lets `bit` go again, on a later turn of the loop. */
  resume(bit: number): void {
    if ((this.#bits & bit) === 0) return;
    this.#bits &= ~bit;
    if (this.#scheduled || !this.#active) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      // The transfer may have ended meanwhile, and the handle be lent to another request.
      if (!this.#active || this.easy.multi === null) return;
      try {
        this.easy.pause(this.#bits === 0 ? Pause.CONT : this.#bits);
      } catch (error) {
        this.onError(error);
      }
    });
  }

  /** The transfer is over: no pause call may reach the handle any more. */
  end(): void {
    this.#active = false;
  }
}
