// One dispatched request: drives the caller's handler, in either of undici 7's styles, from
// the core's Exchange, and owns the request's timers. Every handler call happens outside
// libcurl's callbacks (the Exchange delivers from microtasks and completions).
import { CurlError, type Exchange, type ExchangeHandler, type ExchangeHead } from '@multisock/core';
import { type Dispatcher, errors, util } from 'undici';
import { channels } from './diagnostics.js';
import { undiciError, withCause } from './errors.js';
import type { DispatchRequest } from './request.js';

const { RequestAbortedError, HeadersTimeoutError, BodyTimeoutError } = errors;
const OPERATION_TIMEDOUT = 28;

/** A handler as undici's Agent takes it: the legacy methods, the new ones, or both. */
export type AnyHandler = Dispatcher.DispatchHandler & LegacyHandler;

/** The legacy methods (undici 6 and 7's own consumers: fetch, api-request, api-stream...). */
export interface LegacyHandler {
  onConnect?(abort: (err?: Error) => void, context?: unknown): void;
  onResponseStarted?(): void;
  onHeaders?(
    statusCode: number,
    rawHeaders: Buffer[],
    resume: () => void,
    statusText: string,
  ): boolean | undefined;
  onData?(chunk: Buffer): boolean | undefined;
  onComplete?(trailers: Buffer[]): void;
  onError?(err: Error): void;
  onUpgrade?(...args: unknown[]): void;
}

/** What a request needs from the dispatcher that made it. */
export interface RequestOwner {
  /** The request called its handler's last method (onComplete/onResponseEnd or the error). */
  settled(request: DispatchedRequest): void;
  /** 'connect' for a new connection, 'connectionError' or 'disconnect' for a failed one. */
  connectionEvent(kind: 'connect' | 'connectionError' | 'disconnect', origin: string, error?: unknown): void;
  /** True when someone listens for 'connect': only then is the connection count read. */
  readonly countsConnections: boolean;
}

/** The controller of new-style handlers, with the semantics of undici's own. */
export class Controller implements Dispatcher.DispatchController {
  /** Null for the controller of a dispatch that failed before it started. */
  readonly #request: DispatchedRequest | null;
  #paused = false;
  #aborted = false;
  #reason: Error | null = null;
  rawHeaders: Buffer[] | null = null;
  rawTrailers: Buffer[] | null = null;

  constructor(request: DispatchedRequest | null) {
    this.#request = request;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get reason(): Error | null {
    return this.#reason;
  }

  pause(): void {
    this.#paused = true;
    this.#request?.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#request?.resume();
  }

  abort(reason: Error): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#request?.abort(reason);
  }
}

export class DispatchedRequest implements ExchangeHandler {
  readonly request: DispatchRequest;
  readonly #owner: RequestOwner;
  readonly #handler: AnyHandler;
  readonly #controller: Controller | null;
  readonly #headersTimeout: number;
  readonly #bodyTimeout: number;
  #exchange: Exchange | null = null;
  #settled = false;
  #timer: NodeJS.Timeout | null = null;
  #timerMs = 0;
  #inBody = false;
  #paused = false;
  /** Run by the dispatcher once the request settled (an abort signal's listener removed). */
  cleanup: (() => void) | null = null;
  /** onConnection is only offered to the Exchange when someone listens for 'connect'. */
  readonly onConnection: ((opened: number) => void) | undefined;

  constructor(
    owner: RequestOwner,
    request: DispatchRequest,
    handler: AnyHandler,
    headersTimeout: number,
    bodyTimeout: number,
  ) {
    this.#owner = owner;
    this.request = request;
    this.#handler = handler;
    this.#controller = typeof handler.onRequestStart === 'function' ? new Controller(this) : null;
    this.#headersTimeout = request.headersTimeout ?? headersTimeout;
    this.#bodyTimeout = request.bodyTimeout ?? bodyTimeout;
    this.onConnection = owner.countsConnections ? this.#connected : undefined;
  }

  get settled(): boolean {
    return this.#settled;
  }

  /** onConnect / onRequestStart. False when the handler aborted (or threw) inside it: the error
   * callback has run, and nothing is to be sent. */
  start(): boolean {
    if (this.#headersTimeout > 0) this.#arm(this.#headersTimeout);
    try {
      if (this.#controller) this.#handler.onRequestStart?.(this.#controller, undefined);
      else this.#handler.onConnect?.(this.abort);
    } catch (error) {
      this.abort(error as Error);
    }
    return !this.#settled;
  }

  /** The transfer is under way. */
  attach(exchange: Exchange): void {
    this.#exchange = exchange;
    if (this.#paused) exchange.pause();
  }

  /** Ends the request with `reason` (RequestAbortedError when none), exactly once. */
  readonly abort = (reason?: Error): void => {
    if (this.#settled) return;
    const error = reason ?? new RequestAbortedError();
    if (this.#exchange) this.#exchange.abort(error);
    else this.onError(error);
  };

  pause(): void {
    if (this.#settled) return;
    this.#paused = true;
    this.#exchange?.pause();
    if (this.#inBody) this.#disarm();
  }

  readonly resume = (): void => {
    if (this.#settled || !this.#paused) return;
    this.#paused = false;
    if (this.#inBody && this.#bodyTimeout > 0) this.#arm(this.#bodyTimeout);
    this.#exchange?.resume();
  };

  // --- from the Exchange -------------------------------------------------------------------------

  readonly #connected = (opened: number): void => {
    if (opened > 0) this.#owner.connectionEvent('connect', this.request.origin);
  };

  onHead(head: ExchangeHead): boolean | undefined {
    const { status, rawHeaders, statusText } = head;
    this.#inBody = true;
    if (this.#bodyTimeout > 0) this.#arm(this.#bodyTimeout);
    else this.#disarm();
    if (channels.headers.hasSubscribers) {
      channels.headers.publish({
        request: this.request,
        response: { statusCode: status, headers: rawHeaders, statusText },
      });
    }
    const handler = this.#handler;
    const controller = this.#controller;
    if (controller) {
      controller.rawHeaders = rawHeaders;
      handler.onResponseStart?.(controller, status, util.parseHeaders(rawHeaders), statusText);
    } else {
      handler.onResponseStarted?.();
      if (handler.onHeaders?.(status, rawHeaders, this.resume, statusText) === false) this.pause();
    }
    return this.#paused ? false : undefined;
  }

  onData(chunk: Buffer): boolean | undefined {
    if (this.#timer !== null) this.#timer.refresh();
    if (channels.bodyChunkReceived.hasSubscribers) {
      channels.bodyChunkReceived.publish({ request: this.request, chunk });
    }
    const controller = this.#controller;
    if (controller) this.#handler.onResponseData?.(controller, chunk);
    else if (this.#handler.onData?.(chunk) === false) this.pause();
    return this.#paused ? false : undefined;
  }

  onEnd(rawTrailers: Buffer[]): void {
    if (this.#settled) return;
    this.#finish();
    this.request.completed = true;
    if (channels.trailers.hasSubscribers) {
      channels.trailers.publish({ request: this.request, trailers: rawTrailers });
    }
    const controller = this.#controller;
    try {
      if (controller) {
        controller.rawTrailers = rawTrailers;
        this.#handler.onResponseEnd?.(controller, util.parseHeaders(rawTrailers));
      } else {
        this.#handler.onComplete?.(rawTrailers);
      }
    } catch (error) {
      // As undici does: a handler that throws at the end gets its own error.
      this.#callError(error as Error);
    } finally {
      this.#owner.settled(this);
    }
  }

  onError(cause: unknown): void {
    if (this.#settled) return;
    this.#finish();
    this.request.aborted = true;
    const { error, phase } = undiciError(cause);
    if (phase === 'connect') this.#owner.connectionEvent('connectionError', this.request.origin, error);
    else if (phase === 'socket') this.#owner.connectionEvent('disconnect', this.request.origin, error);
    if (channels.error.hasSubscribers) channels.error.publish({ request: this.request, error });
    try {
      this.#callError(error as Error);
    } finally {
      this.#owner.settled(this);
    }
  }

  #callError(error: Error): void {
    const controller = this.#controller;
    if (controller) this.#handler.onResponseError?.(controller, error);
    else this.#handler.onError?.(error);
  }

  #finish(): void {
    this.#settled = true;
    this.#disarm();
  }

  // --- timers ------------------------------------------------------------------------------------

  #arm(ms: number): void {
    if (this.#timer !== null) {
      // Headers and body timeouts are usually the same (300 s): one timer, restarted.
      if (this.#timerMs === ms) {
        this.#timer.refresh();
        return;
      }
      clearTimeout(this.#timer);
    }
    this.#timer = setTimeout(this.#timedOut, ms);
    this.#timer.unref();
    this.#timerMs = ms;
  }

  #disarm(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  readonly #timedOut = (): void => {
    this.#timer = null;
    if (this.#settled) return;
    const error = this.#inBody
      ? withCause(
          new BodyTimeoutError(),
          CurlError.fromCode(OPERATION_TIMEDOUT, `no body data within bodyTimeout (${this.#bodyTimeout} ms)`),
        )
      : withCause(
          new HeadersTimeoutError(),
          CurlError.fromCode(
            OPERATION_TIMEDOUT,
            `no response headers within headersTimeout (${this.#headersTimeout} ms)`,
          ),
        );
    this.abort(error);
  };
}
