// CurlDispatcher: an undici 7 Dispatcher whose requests libcurl carries, through the core's
// Client (one Multi, pooled handles and connections for every origin, HTTP/2, TLS, proxies).
import { Client, CurlError, CurlMultiError, type ExchangeOptions } from '@multisock/core';
import { Dispatcher, errors } from 'undici';
import { bytesLength, requestBody } from './body.js';
import { channels } from './diagnostics.js';
import { withCause } from './errors.js';
import { type AnyHandler, Controller, DispatchedRequest, type RequestOwner } from './handler.js';
import { type CurlDispatcherOptions, resolveOptions } from './options.js';
import { DispatchRequest } from './request.js';

const {
  ClientClosedError,
  ClientDestroyedError,
  InvalidArgumentError,
  NotSupportedError,
  RequestAbortedError,
  RequestContentLengthMismatchError,
} = errors;

type Callback = (err: Error | null, data: null) => void;
type SignalLike =
  | AbortSignal
  | { on(e: 'abort', f: () => void): unknown; off?(e: 'abort', f: () => void): unknown };

/** Methods undici frames with a Content-Length, so a mismatching one is an error. */
const NO_CONTENT_LENGTH = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'CONNECT']);

/**
 * An undici Dispatcher on libcurl. `setGlobalDispatcher(new CurlDispatcher())` moves `fetch`,
 * `undici.request`, `stream` and `pipeline` onto it; `compose()` interceptors work on it as on
 * undici's Agent. One instance serves every origin.
 */
export class CurlDispatcher extends Dispatcher implements RequestOwner {
  readonly #client: Client;
  readonly #headersTimeout: number;
  readonly #bodyTimeout: number;
  readonly #inFlight = new Set<DispatchedRequest>();
  /** Origins a 'connect' was emitted for, each with its URL. */
  readonly #connected = new Map<string, URL>();
  #closed = false;
  #destroyed = false;
  #onClosed: Callback[] | null = null;
  #onDestroyed: Callback[] | null = null;
  /** What close() runs once the last request in flight settled. */
  #idle: (() => void) | null = null;

  constructor(options?: CurlDispatcherOptions) {
    super();
    const resolved = resolveOptions(options);
    this.#headersTimeout = resolved.headersTimeout;
    this.#bodyTimeout = resolved.bodyTimeout;
    try {
      this.#client = new Client(resolved.client);
    } catch (error) {
      // The Client's TypeErrors and RangeErrors, and libcurl's for curlOptions.
      throw withCause(new InvalidArgumentError(`CurlDispatcher: ${(error as Error).message}`), error);
    }
  }

  /** True once close() or destroy() was called: new requests fail. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True once destroy() was called. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** The loop adapter's name ('libuv', 'epoll'...). */
  get loop(): string {
    return this.#client.loop;
  }

  /** Requests dispatched whose handler has not had its last call yet. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** New connections opened so far (libcurl's count, failed transfers' included). */
  get connectionsOpened(): number {
    return this.#client.connectionsOpened;
  }

  /** @internal */
  get countsConnections(): boolean {
    return this.listenerCount('connect') > 0;
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (!handler || typeof handler !== 'object') throw new InvalidArgumentError('handler must be an object');
    const h = handler as AnyHandler;
    let request: DispatchRequest;
    let body: ReturnType<typeof requestBody>;
    try {
      if (!opts || typeof opts !== 'object') throw new InvalidArgumentError('opts must be an object.');
      if (this.#destroyed) throw new ClientDestroyedError();
      if (this.#closed) throw new ClientClosedError();
      request = new DispatchRequest(opts);
      checkHandler(h, request);
      if (request.upgrade !== null || request.method === 'CONNECT') {
        throw new NotSupportedError(
          `CurlDispatcher does not ${request.method === 'CONNECT' ? 'open CONNECT tunnels' : `upgrade connections (${request.upgrade})`}: ` +
            "libcurl owns the connection; use undici's Agent for WebSocket, upgrade and CONNECT",
        );
      }
      if (request.path[0] !== '/') {
        throw new NotSupportedError(
          'CurlDispatcher does not send absolute-form paths (requests to a proxy): use the proxy option',
        );
      }
      body = requestBody(request.body);
    } catch (error) {
      callOnError(h, error as Error);
      return false;
    }

    if (channels.create.hasSubscribers) channels.create.publish({ request });
    const dispatched = new DispatchedRequest(this, request, h, this.#headersTimeout, this.#bodyTimeout);
    this.#inFlight.add(dispatched);
    const signal = (opts as { signal?: SignalLike | null }).signal;
    if (signal) this.#watch(dispatched, signal);
    if (!dispatched.start()) return true; // aborted in onConnect/onRequestStart: onError ran

    const options: ExchangeOptions = { method: request.method };
    const pairs = request.headerPairs();
    if (body.contentType !== undefined && request.contentType === null)
      pairs.push(['content-type', body.contentType]);
    if (pairs.length > 0) options.headers = pairs;
    if (body.body !== undefined) {
      options.body = body.body;
      const declared = request.contentLength;
      const known =
        typeof body.body === 'string' || body.body instanceof Uint8Array
          ? bytesLength(body.body)
          : body.length;
      if (
        declared !== null &&
        known !== undefined &&
        declared !== known &&
        !NO_CONTENT_LENGTH.has(request.method)
      ) {
        dispatched.onError(new RequestContentLengthMismatchError());
        return true;
      }
      if (known === undefined && declared !== null) options.bodyLength = declared;
      else if (body.length !== undefined) options.bodyLength = body.length;
    }
    try {
      dispatched.attach(this.#client.exchange(request.url, options, dispatched));
    } catch (error) {
      dispatched.onError(asInvalidArgument(error));
    }
    return true;
  }

  override close(): Promise<void>;
  override close(callback: Callback): void;
  override close(callback?: Callback): Promise<void> | void {
    if (callback === undefined) {
      return new Promise<void>((resolve, reject) => {
        this.close((err) => (err ? reject(err) : resolve()));
      });
    }
    if (typeof callback !== 'function') throw new InvalidArgumentError('invalid callback');
    if (this.#destroyed && this.#onClosed === null) {
      const err = new ClientDestroyedError();
      queueMicrotask(() => callback(err, null));
      return;
    }
    if (this.#closed) {
      if (this.#onClosed) this.#onClosed.push(callback);
      else queueMicrotask(() => callback(null, null));
      return;
    }
    this.#closed = true;
    this.#onClosed = [callback];
    // Requests in flight finish; then everything goes, as undici's close() then destroy().
    this.#whenIdle(() => {
      this.destroy(() => {
        const callbacks = this.#onClosed ?? [];
        this.#onClosed = null;
        for (const cb of callbacks) cb(null, null);
      });
    });
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: Callback): void;
  override destroy(err: Error | null, callback: Callback): void;
  override destroy(err?: Error | null | Callback, callback?: Callback): Promise<void> | void {
    if (typeof err === 'function') {
      callback = err;
      err = null;
    }
    if (callback === undefined) {
      return new Promise<void>((resolve, reject) => {
        this.destroy(err as Error | null, (e) => (e ? reject(e) : resolve()));
      });
    }
    if (typeof callback !== 'function') throw new InvalidArgumentError('invalid callback');
    if (this.#destroyed) {
      if (this.#onDestroyed) this.#onDestroyed.push(callback);
      else queueMicrotask(() => callback(null, null));
      return;
    }
    const reason = err || new ClientDestroyedError();
    this.#destroyed = true;
    this.#closed = true;
    this.#onDestroyed = [callback];
    for (const dispatched of [...this.#inFlight]) dispatched.abort(reason);
    for (const url of this.#connected.values())
      this.emit('disconnect', url, [this], reason as errors.UndiciError);
    this.#connected.clear();
    const done = (failure: unknown) => {
      const callbacks = this.#onDestroyed ?? [];
      this.#onDestroyed = null;
      for (const cb of callbacks) cb(failure ? (failure as Error) : null, null);
    };
    this.#client.close().then(
      () => queueMicrotask(() => done(null)),
      (failure: unknown) => queueMicrotask(() => done(failure)),
    );
  }

  // --- RequestOwner ------------------------------------------------------------------------------

  /** @internal */
  settled(dispatched: DispatchedRequest): void {
    this.#inFlight.delete(dispatched);
    dispatched.cleanup?.();
    if (this.#inFlight.size === 0 && this.#idle !== null) {
      const idle = this.#idle;
      this.#idle = null;
      idle();
    }
  }

  /** @internal */
  connectionEvent(kind: 'connect' | 'connectionError' | 'disconnect', origin: string, error?: unknown): void {
    let url = this.#connected.get(origin);
    if (kind === 'connect') {
      if (url === undefined) {
        url = new URL(origin);
        this.#connected.set(origin, url);
      }
      this.emit('connect', url, [this]);
      return;
    }
    if (kind === 'disconnect') {
      if (url === undefined) return; // nothing was announced for it
      this.#connected.delete(origin);
      this.emit('disconnect', url, [this], error as errors.UndiciError);
      return;
    }
    this.emit('connectionError', url ?? new URL(origin), [this], error as errors.UndiciError);
  }

  #whenIdle(then: () => void): void {
    if (this.#inFlight.size === 0) then();
    else this.#idle = then;
  }

  #watch(dispatched: DispatchedRequest, signal: SignalLike): void {
    const onAbort = () => {
      const reason = (signal as AbortSignal).reason;
      dispatched.abort(reason instanceof Error ? reason : new RequestAbortedError());
    };
    if ((signal as AbortSignal).aborted) {
      queueMicrotask(onAbort);
      return;
    }
    if (typeof (signal as AbortSignal).addEventListener === 'function') {
      const s = signal as AbortSignal;
      s.addEventListener('abort', onAbort, { once: true });
      dispatched.cleanup = () => s.removeEventListener('abort', onAbort);
    } else if (typeof (signal as { on?: unknown }).on === 'function') {
      const e = signal as {
        on(e: 'abort', f: () => void): unknown;
        off?(e: 'abort', f: () => void): unknown;
      };
      e.on('abort', onAbort);
      dispatched.cleanup = () => e.off?.('abort', onAbort);
    }
  }
}

/** undici's assertRequestHandler: a legacy handler needs its methods. */
function checkHandler(handler: AnyHandler, request: DispatchRequest): void {
  if (typeof handler.onRequestStart === 'function') return;
  if (typeof handler.onConnect !== 'function') throw new InvalidArgumentError('invalid onConnect method');
  if (typeof handler.onError !== 'function') throw new InvalidArgumentError('invalid onError method');
  if (request.upgrade || request.method === 'CONNECT') {
    if (typeof handler.onUpgrade !== 'function') throw new InvalidArgumentError('invalid onUpgrade method');
    return;
  }
  if (typeof handler.onHeaders !== 'function') throw new InvalidArgumentError('invalid onHeaders method');
  if (typeof handler.onData !== 'function') throw new InvalidArgumentError('invalid onData method');
  if (typeof handler.onComplete !== 'function') throw new InvalidArgumentError('invalid onComplete method');
}

/** A dispatch that failed before it started: the handler's error callback, as undici calls it. */
function callOnError(handler: AnyHandler, error: Error): void {
  if (typeof handler.onRequestStart === 'function') {
    if (typeof handler.onResponseError !== 'function')
      throw new InvalidArgumentError('invalid onError method');
    handler.onResponseError(new Controller(null), error);
    return;
  }
  if (typeof handler.onError !== 'function') throw error;
  handler.onError(error);
}

/** What the Client throws for bad input (a bad URL, a header it refuses), as undici's
 * InvalidArgumentError with the original as cause; a closed Client is a destroyed dispatcher. */
function asInvalidArgument(error: unknown): unknown {
  if (error instanceof CurlMultiError) return withCause(new ClientDestroyedError(), error);
  if (error instanceof CurlError || error instanceof TypeError || error instanceof RangeError) {
    return withCause(new InvalidArgumentError(error.message), error);
  }
  return error;
}
