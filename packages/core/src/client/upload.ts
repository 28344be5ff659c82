import { CurlCode, Pause, READFUNC_ABORT, READFUNC_PAUSE } from '../constants.js';
import { CurlError } from '../errors.js';
import type { Pauser } from './pauser.js';
import type { DeclaredLength } from './request-body.js';

/** Bytes read ahead from a body stream before waiting for libcurl to take them. */
const READ_AHEAD = 256 * 1024;

/**
 * A streamed request body: the source is pulled into a small queue in the background, and
 * libcurl's READFUNCTION takes from the queue. When the queue is empty the read function returns
 * READFUNC_PAUSE; when data arrives the transfer is resumed on a later turn of the loop.
 *
 * With a declared length, libcurl is never handed more than that many bytes (libcurl itself
 * sends whatever the read function returns, past its own Content-Length: a second request
 * smuggled into the body), and the last declared byte is held back until the source has ended:
 * a source that goes on, or ends short, fails the transfer before the server has a complete
 * body.
 */
export class UploadSource {
  #iterator: AsyncIterator<unknown>;
  #queue: Buffer[] = [];
  #queued = 0;
  #ended = false;
  #stopped = false;
  #error: unknown;
  #failed = false;
  /** The source did not produce the declared length: the error to report as is. */
  #mismatch: CurlError | null = null;
  #drained: (() => void) | null = null;
  #pauser: Pauser | null = null;
  #onFail: (() => void) | null = null;
  /** Bytes taken from the source. */
  #taken = 0;
  /** Bytes handed to libcurl. */
  sent = 0;

  constructor(
    source: AsyncIterable<unknown>,
    readonly length: DeclaredLength | null = null,
  ) {
    this.#iterator = source[Symbol.asyncIterator]();
  }

  /** The error the source failed with, if it did. */
  get error(): unknown {
    return this.#failed ? (this.#mismatch ?? this.#error) : undefined;
  }

  get failed(): boolean {
    return this.#failed;
  }

  /** What the request rejects with when the body failed. */
  failure(url: string): CurlError {
    let failure = this.#mismatch;
    if (failure === null) {
      const cause = this.#error;
      const detail = cause instanceof Error ? cause.message : String(cause);
      failure = CurlError.fromCode(CurlCode.READ_ERROR, `the request body stream failed: ${detail}`, {
        cause,
      });
    }
    failure.url = url;
    return failure;
  }

  /** Starts pulling from the source; `pauser` resumes the transfer when data arrives, `onFail`
   * ends it at once when the source fails. */
  start(pauser: Pauser, onFail?: () => void): void {
    this.#pauser = pauser;
    this.#onFail = onFail ?? null;
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
    let room = size;
    if (this.length !== null && !this.#ended) {
      // The last declared byte waits for the end of the source.
      room = Math.min(size, this.length.bytes - 1 - this.sent);
      if (room <= 0) {
        this.#pauser?.paused(Pause.SEND);
        return READFUNC_PAUSE;
      }
    }
    let chunk: Buffer;
    if (head.length <= room) {
      this.#queue.shift();
      chunk = head;
    } else {
      chunk = head.subarray(0, room);
      this.#queue[0] = head.subarray(room);
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
    const declared = this.length;
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
          if (declared !== null && this.#taken < declared.bytes) {
            this.#fail(
              `the request body stream ended after ${this.#taken} bytes, short of its ${declared.by} (${declared.bytes} bytes)`,
            );
            return;
          }
          this.#ended = true;
          break;
        }
        const chunk = toBuffer(next.value);
        if (chunk.length === 0) continue;
        if (declared !== null && this.#taken + chunk.length > declared.bytes) {
          this.#fail(
            `the request body stream is longer than its ${declared.by} (${declared.bytes} bytes): ` +
              'nothing past it was sent, and the request was ended',
          );
          this.#iterator.return?.().catch(() => {});
          return;
        }
        this.#taken += chunk.length;
        this.#queue.push(chunk);
        this.#queued += chunk.length;
        this.#pauser?.resume(Pause.SEND);
      }
    } catch (error) {
      this.#failed = true;
      this.#error = error;
      this.#onFail?.();
    }
    // End of data (or a failure) must reach a paused transfer too.
    this.#pauser?.resume(Pause.SEND);
  }

  #fail(message: string): void {
    this.#failed = true;
    this.#queue = [];
    this.#queued = 0;
    this.#mismatch = CurlError.fromCode(CurlCode.READ_ERROR, message);
    this.#onFail?.();
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
