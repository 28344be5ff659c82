import { Pause, READFUNC_ABORT, READFUNC_PAUSE } from '../constants.js';
import type { Pauser } from './pauser.js';

/** Bytes read ahead from a body stream before waiting for libcurl to take them. */
const READ_AHEAD = 256 * 1024;

/**
 * A streamed request body: the source is pulled into a small queue in the background, and
 * libcurl's READFUNCTION takes from the queue. When the queue is empty the read function returns
 * READFUNC_PAUSE; when data arrives the transfer is resumed on a later turn of the loop.
 */
export class UploadSource {
  #iterator: AsyncIterator<unknown>;
  #queue: Buffer[] = [];
  #queued = 0;
  #ended = false;
  #stopped = false;
  #error: unknown;
  #failed = false;
  #drained: (() => void) | null = null;
  #pauser: Pauser | null = null;
  /** Bytes handed to libcurl. */
  sent = 0;

  constructor(source: AsyncIterable<unknown>) {
    this.#iterator = source[Symbol.asyncIterator]();
  }

  /** The error the source failed with, if it did. */
  get error(): unknown {
    return this.#failed ? this.#error : undefined;
  }

  get failed(): boolean {
    return this.#failed;
  }

  /** Starts pulling from the source; `pauser` resumes the transfer when data arrives. */
  start(pauser: Pauser): void {
    this.#pauser = pauser;
    void this.#pump();
  }

  /** The READFUNCTION. Runs inside libcurl: only takes from the queue. */
  readonly read = (size: number): Buffer | number | null => {
    if (this.#failed) return READFUNC_ABORT;
    const head = this.#queue[0];
    if (head === undefined) {
      if (this.#ended) return null;
      this.#pauser?.paused(Pause.SEND);
      return READFUNC_PAUSE;
    }
    let chunk: Buffer;
    if (head.length <= size) {
      this.#queue.shift();
      chunk = head;
    } else {
      chunk = head.subarray(0, size);
      this.#queue[0] = head.subarray(size);
    }
    this.#queued -= chunk.length;
    this.sent += chunk.length;
    if (this.#drained && this.#queued < READ_AHEAD) {
      const wake = this.#drained;
      this.#drained = null;
      wake();
    }
    return chunk;
  };

  /** The request is over: stop pulling and let the source go (a Readable is destroyed). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#queue = [];
    this.#drained?.();
    if (!this.#ended && !this.#failed) {
      this.#iterator.return?.().catch(() => {});
    }
  }

  async #pump(): Promise<void> {
    try {
      while (!this.#stopped) {
        if (this.#queued >= READ_AHEAD) {
          await new Promise<void>((resolve) => {
            this.#drained = resolve;
          });
          continue;
        }
        const next = await this.#iterator.next();
        if (this.#stopped) return;
        if (next.done) {
          this.#ended = true;
          break;
        }
        const chunk = toBuffer(next.value);
        if (chunk.length === 0) continue;
        this.#queue.push(chunk);
        this.#queued += chunk.length;
        this.#pauser?.resume(Pause.SEND);
      }
    } catch (error) {
      this.#failed = true;
      this.#error = error;
    }
    // End of data (or a failure) must reach a paused transfer too.
    this.#pauser?.resume(Pause.SEND);
  }
}

function toBuffer(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === 'string') return Buffer.from(value);
  throw new TypeError(
    `a request body stream must yield Buffers, Uint8Arrays or strings, got ${typeof value}`,
  );
}
