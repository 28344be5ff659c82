// The main thread's side: a small client that sends URLs to the reactor worker and settles one
// promise per URL with what the worker measured.
import { Worker } from 'node:worker_threads';
import type { Command, Reply, WorkerOptions } from './protocol.js';

/** What `new ReactorClient(options)` takes. */
export interface ReactorClientOptions {
  /** Longest epoll_wait while transfers run (ms, 1-1000; default 5): new URLs wait at most this. */
  sliceMs?: number;
  /** libcurl's connection cache size (default 64). */
  maxConnects?: number;
}

/** One fetch's options. */
export interface FetchOptions {
  /** Whole-transfer timeout in ms (CURLOPT_TIMEOUT_MS); 0 (default) means none. */
  timeoutMs?: number;
}

/** What the worker reports for a finished transfer. */
export interface FetchResult {
  url: string;
  status: number;
  /** Body bytes received. */
  bytes: number;
  /** libcurl's total time for the transfer (CURLINFO_TOTAL_TIME_T), in ms. */
  timeMs: number;
}

/** A transfer that failed in the worker: `code` is the CURLcode (e.g. 7, COULDNT_CONNECT). */
export class ReactorFetchError extends Error {
  override name = 'ReactorFetchError';
  constructor(
    /** The URL of the failed transfer. */
    readonly url: string,
    /** The CURLcode, or -1 when the worker itself failed or exited. */
    readonly code: number,
    message: string,
  ) {
    super(`${url}: ${message}`);
  }
}

interface Pending {
  url: string;
  resolve(result: FetchResult): void;
  reject(error: Error): void;
}

function checkInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** A client for a reactor thread: a worker running the core on an EpollReactor, fed URLs by
 * message. The thread keeps the process alive only while fetches are pending or close() runs. */
export class ReactorClient {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  readonly #exited: Promise<void>;
  #nextId = 1;
  #closed = false;

  constructor(options: ReactorClientOptions = {}) {
    const workerData: WorkerOptions = {
      sliceMs: checkInteger(options.sliceMs ?? 5, 'sliceMs', 1, 1000),
      maxConnects: checkInteger(options.maxConnects ?? 64, 'maxConnects', 0, 100_000),
    };
    this.#worker = new Worker(new URL('./worker.js', import.meta.url), { workerData });
    this.#worker.unref(); // only pending fetches keep the process alive
    this.#worker.on('message', (reply: Reply) => this.#settle(reply));
    this.#worker.on('error', (error) => this.#failAll(error));
    this.#exited = new Promise((resolve) => {
      this.#worker.once('exit', () => {
        this.#closed = true;
        this.#failAll(new Error('the reactor worker exited'));
        resolve();
      });
    });
  }

  /** Sends `url` to the reactor thread; resolves with status, bytes and time, whatever the
   * status; rejects with a ReactorFetchError when the transfer itself failed. */
  fetch(url: string, options: FetchOptions = {}): Promise<FetchResult> {
    if (typeof url !== 'string') return Promise.reject(new TypeError('fetch: url must be a string'));
    let timeoutMs: number;
    try {
      timeoutMs = checkInteger(options.timeoutMs ?? 0, 'fetch: timeoutMs', 0, 0x7fffffff);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closed) return Promise.reject(new Error('fetch: the ReactorClient is closed'));
    const id = this.#nextId++;
    return new Promise<FetchResult>((resolve, reject) => {
      this.#pending.set(id, { url, resolve, reject });
      if (this.#pending.size === 1) this.#worker.ref();
      this.#send({ type: 'fetch', id, url, timeoutMs });
    });
  }

  /** Stops the reactor thread; fetches still in flight reject. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      // The worker is unref'd while idle: ref it until it has exited, or the process could end
      // (with close() unsettled) before the thread is done.
      this.#worker.ref();
      this.#send({ type: 'close' });
    }
    await this.#exited;
  }

  #send(command: Command): void {
    this.#worker.postMessage(command);
  }

  #settle(reply: Reply): void {
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.#worker.unref();
    if (reply.type === 'result') {
      const { status, bytes, timeMs } = reply;
      pending.resolve({ url: pending.url, status, bytes, timeMs });
    } else {
      pending.reject(new ReactorFetchError(pending.url, reply.code, reply.message));
    }
  }

  #failAll(error: Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const { url, reject } of pending) reject(new ReactorFetchError(url, -1, error.message));
  }
}
