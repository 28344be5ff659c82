import { Readable } from 'node:stream';
import { Pause, WRITEFUNC_PAUSE } from '../constants.js';
import type { Pauser } from './pauser.js';

/**
 * A response body as a Node Readable, fed by the transfer's WRITEFUNCTION.
 *
 * Chunks are taken in inside libcurl's callback but pushed into the stream from a microtask, so
 * no user 'data' handler ever runs inside libcurl. Backpressure: once the stream holds
 * highWaterMark bytes, the write function returns WRITEFUNC_PAUSE (libcurl keeps that chunk and
 * stops reading the socket); _read resumes the transfer on a later turn of the loop. So a body
 * of any size streams through a slow consumer in bounded memory.
 */
export class ResponseBody extends Readable {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #flushScheduled = false;
  #pauser: Pauser | null = null;
  #onDestroy: (() => void) | null;
  #finished = false;
  /** Bytes received so far. */
  received = 0;

  /** `onDestroy` runs (once) when the consumer destroys the stream before the body ended. */
  constructor(highWaterMark: number, onDestroy: () => void) {
    super({ highWaterMark });
    this.#onDestroy = onDestroy;
  }

  attach(pauser: Pauser): void {
    this.#pauser = pauser;
  }

  /** The WRITEFUNCTION's body: accepts `chunk`, or asks libcurl to pause and give it again later. */
  accept(chunk: Buffer): number | undefined {
    if (this.destroyed) return 0; // fails the transfer: nobody reads any more
    if (this.readableLength + this.#pendingBytes >= this.readableHighWaterMark) {
      this.#pauser?.paused(Pause.RECV);
      return WRITEFUNC_PAUSE;
    }
    this.received += chunk.length;
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flush);
    }
    return undefined;
  }

  /** The transfer finished: what is pending goes out, then the end. */
  finish(): void {
    this.#finished = true;
    this.#flush();
    if (!this.destroyed) this.push(null);
  }

  /** The transfer failed after the headers. */
  fail(error: unknown): void {
    this.#finished = true;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.destroy(error instanceof Error ? error : new Error(String(error)));
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const chunks = this.#pending;
    if (chunks.length === 0) return;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.destroyed) return;
    for (const chunk of chunks) this.push(chunk);
  };

  override _read(): void {
    this.#pauser?.resume(Pause.RECV);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const onDestroy = this.#onDestroy;
    this.#onDestroy = null;
    if (!this.#finished && onDestroy) onDestroy();
    callback(error);
  }
}
