import { CurlCode, Pause, WRITEFUNC_PAUSE } from '../constants.js';
import type { Easy } from '../easy.js';
import { CurlError } from '../errors.js';
import { checkInteger, describe, type RequestOptions, type ResolvedDefaults } from './options.js';
import { Pauser } from './pauser.js';
import type { Transfer } from './transfer.js';

/**
 * What `Client.exchange()` takes: a request's options, minus what an exchange never does (it
 * follows no redirect and decodes nothing: the response is handed over as the server sent it).
 */
export interface ExchangeOptions
  extends Omit<
    RequestOptions,
    'followRedirects' | 'maxRedirections' | 'stripHeadersOnCrossOriginRedirect' | 'decompress'
  > {
  /** Body bytes held in JS for a handler that has not had them yet before the transfer pauses
   * (default 64 KiB). The handler's own pause is separate: see ExchangeHandler.onData. */
  highWaterMark?: number;
}

/** The final response's head, as received (1xx responses are skipped). */
export interface ExchangeHead {
  status: number;
  /** The reason phrase ('OK'); '' over HTTP/2, which has none. */
  statusText: string;
  /** From the status line: 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2', 'HTTP/3'. */
  httpVersion: string;
  /** The header fields as [name, value, name, value, ...] in the order they arrived, names in
   * the case the server sent, repeated fields kept, values without surrounding whitespace. Each
   * is a Buffer of the bytes received (an obs-fold continuation joined to its field by a space). */
  rawHeaders: Buffer[];
}

/**
 * Receives one response as it arrives. Every call runs outside libcurl's callbacks (from a
 * microtask after the loop turn that received the bytes, or from the completion), in this
 * order: onHead once, onData per chunk, then exactly one of onEnd or onError. A handler that
 * throws from onHead or onData ends the exchange: onError gets what it threw.
 */
export interface ExchangeHandler {
  /** Returning false pauses the exchange, as pause() does. */
  onHead(head: ExchangeHead): boolean | undefined;
  /** A chunk of the body, as the server sent it. Returning false pauses the exchange: no more
   * data is delivered, and libcurl stops reading this transfer's data, until resume(). */
  onData(chunk: Buffer): boolean | undefined;
  /** The body ended; `rawTrailers` holds the trailer fields (chunked HTTP/1.1 or HTTP/2), as
   * rawHeaders does, or is empty. */
  onEnd(rawTrailers: Buffer[]): void;
  /** The exchange failed or was aborted: a CurlError, abort()'s reason, or what the handler or
   * the request body stream threw (the CurlError 26 the Client makes of it, with it as cause). */
  onError(error: unknown): void;
  /** When defined: called once, before onHead, with the new connections the request opened
   * (0 when it reused one). */
  onConnection?(opened: number): void;
}

/** Checks what Client.exchange() takes besides a request's options; returns the high-water mark. */
export function checkExchange(handler: unknown, options: ExchangeOptions): number {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('exchange: options must be an object');
  if (typeof handler !== 'object' || handler === null) {
    throw new TypeError(`exchange: handler must be an object, got ${describe(handler)}`);
  }
  for (const name of ['onHead', 'onData', 'onEnd', 'onError'] as const) {
    if (typeof (handler as Record<string, unknown>)[name] !== 'function') {
      throw new TypeError(`exchange: handler.${name} must be a function`);
    }
  }
  return options.highWaterMark === undefined
    ? DEFAULT_HIGH_WATER_MARK
    : checkInteger('exchange', 'highWaterMark', options.highWaterMark, 1);
}

/** What exchange.ts needs from its Client. */
export interface ExchangeHooks {
  perform(easy: Easy): Promise<Easy>;
  /** The error a failed transfer reports (the Client's own rules: abort reason, limits...). */
  failure(error: unknown): unknown;
  /** The transfer is over: give the handle back. */
  finish(): void;
}

const DEFAULT_HIGH_WATER_MARK = 64 * 1024;
const EMPTY: Buffer[] = [];
const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;
const HTTP_SLASH = 0x48545450; // 'HTTP'

/** libcurl adds these to requests on its own; an exchange sends what the caller gave. */
const SUPPRESSED: ReadonlyArray<[name: string, line: string]> = [
  ['accept', 'Accept:'],
  ['expect', 'Expect:'],
  ['content-type', 'Content-Type:'],
];
const headerLinesCache = new WeakMap<ResolvedDefaults, string[]>();

function exchangeHeaderLines(defaults: ResolvedDefaults): string[] {
  let lines = headerLinesCache.get(defaults);
  if (lines === undefined) {
    lines = [...defaults.headerLines];
    for (const [name, line] of SUPPRESSED) if (!defaults.headerNames.has(name)) lines.push(line);
    headerLinesCache.set(defaults, lines);
  }
  return lines;
}

/** Deliveries waiting for the end of the current loop turn, all in one microtask. */
let due: Exchange[] = [];
function flushDue(): void {
  const batch = due;
  due = [];
  for (const exchange of batch) exchange.deliver();
}

/**
 * One request and its response handed over piece by piece (Client.exchange): the raw head, the
 * body chunks, the trailers. Unlike request() and stream(), an exchange follows no redirect and
 * decodes nothing, and it sends exactly the headers given: libcurl's own `Accept: *\/*`,
 * `Expect: 100-continue` and form `Content-Type` are not added. A request that may be
 * multiplexed (https with httpVersion '2', or 'h2c') waits for a connection being opened to its
 * host instead of opening its own (see mayMultiplex). Flow control is the caller's:
 * pause() and resume() (or a false from onHead/onData) stop and restart the delivery, and with
 * it libcurl's reading of the transfer; resuming libcurl happens on a later turn of the loop,
 * never inside one of its callbacks. abort() ends it at any moment, with onError called once.
 */
export class Exchange {
  readonly #t: Transfer;
  readonly #handler: ExchangeHandler;
  readonly #hooks: ExchangeHooks;
  readonly #pauser: Pauser;
  readonly #highWaterMark: number;
  readonly #maxHeaderSize: number;
  readonly #maxResponseSize: number;

  // Parsing, inside libcurl's callbacks.
  #status = 0;
  #statusLine: Buffer | null = null;
  #fields: Buffer[] = [];
  #blockBytes = 0;
  /** The final head was parsed: header lines from here on are trailers. */
  #headParsed = false;
  #trailers: Buffer[] | null = null;
  #received = 0;
  #connectionAsked: boolean;

  // Delivery, outside them.
  #head: ExchangeHead | null = null;
  #headDelivered = false;
  #chunks: Buffer[] = [];
  #next = 0;
  #queued = 0;
  #due = false;
  #connections = -1;
  #ended = false;
  #paused = false;
  /** The write function returned WRITEFUNC_PAUSE: libcurl waits for a resume. */
  #curlPaused = false;
  #settled = false;

  /** @internal Made by Client.exchange(). */
  constructor(t: Transfer, handler: ExchangeHandler, hooks: ExchangeHooks, highWaterMark: number) {
    this.#t = t;
    this.#handler = handler;
    this.#hooks = hooks;
    this.#highWaterMark = highWaterMark;
    this.#maxHeaderSize = t.defaults.maxHeaderSize;
    this.#maxResponseSize = t.defaults.maxResponseSize;
    this.#connectionAsked = typeof handler.onConnection !== 'function';
    const { pooled } = t;
    t.pauser ??= new Pauser(pooled.easy, (error) => t.abort(error));
    this.#pauser = t.pauser;
    // Both callbacks are in JS: nothing is collected natively for the Client to empty.
    t.taken = true;
    pooled.set('HEADERFUNCTION', this.#header);
    pooled.set('WRITEFUNCTION', this.#write);
    pooled.set('HTTPHEADER', exchangeHeaderLines(t.defaults));
    if (t.defaults.decompress) pooled.set('ACCEPT_ENCODING', null);
    if (mayMultiplex(t)) pooled.set('PIPEWAIT', 1);
    void this.#run();
  }

  /** True while the caller holds the delivery (pause(), or a false from onHead/onData). */
  get paused(): boolean {
    return this.#paused;
  }

  /** True once onEnd or onError was called (or abort() ran). */
  get settled(): boolean {
    return this.#settled;
  }

  /** Holds the delivery: nothing more reaches the handler until resume(), and libcurl stops
   * reading this transfer once it has more for it. */
  pause(): void {
    this.#paused = true;
  }

  /** Delivers what is held (in a microtask) and lets libcurl read again (on a later turn). */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (!this.#settled) this.#schedule();
  }

  /** Ends the exchange now: the transfer stops (on the next turn when inside a libcurl
   * callback) and onError(reason) is called, once, before abort() returns. A no-op once
   * settled. */
  abort(reason: unknown): void {
    if (this.#settled) return;
    this.#settle();
    this.#t.abort(reason);
    this.#handler.onError(reason);
  }

  /** @internal Runs what is due, in order: head, data (until paused), end. */
  deliver(): void {
    this.#due = false;
    if (this.#settled) return;
    const handler = this.#handler;
    try {
      if (this.#connections >= 0) {
        const opened = this.#connections;
        this.#connections = -1;
        handler.onConnection!(opened);
        if (this.#settled) return;
      }
      if (this.#head !== null) {
        if (this.#paused) return;
        const head = this.#head;
        this.#head = null;
        this.#headDelivered = true;
        if (handler.onHead(head) === false) this.#paused = true;
        if (this.#settled) return;
      }
      const chunks = this.#chunks;
      while (!this.#paused && this.#next < chunks.length) {
        const chunk = chunks[this.#next]!;
        chunks[this.#next++] = EMPTY_CHUNK;
        this.#queued -= chunk.length;
        if (handler.onData(chunk) === false) this.#paused = true;
        if (this.#settled) return;
      }
      if (this.#next === chunks.length && this.#next > 0) {
        this.#chunks = [];
        this.#next = 0;
      }
    } catch (error) {
      this.abort(error);
      return;
    }
    if (this.#paused) return;
    if (this.#curlPaused) {
      this.#curlPaused = false;
      this.#pauser.resume(Pause.RECV);
    }
    if (this.#ended && this.#headDelivered && this.#queued === 0) {
      this.#settle();
      handler.onEnd(this.#trailers ?? EMPTY);
    }
  }

  #schedule(): void {
    if (this.#due) return;
    this.#due = true;
    if (due.length === 0) queueMicrotask(flushDue);
    due.push(this);
  }

  #settle(): void {
    this.#settled = true;
    this.#chunks = [];
    this.#next = 0;
    this.#queued = 0;
    this.#head = null;
  }

  async #run(): Promise<void> {
    const t = this.#t;
    let failure: unknown = null;
    let failed = false;
    try {
      if (t.aborted) throw t.abortReason;
      await this.#hooks.perform(t.pooled.easy);
    } catch (error) {
      failed = true;
      failure = this.#hooks.failure(error);
    } finally {
      this.#hooks.finish();
    }
    if (this.#settled) return;
    if (!failed && !this.#headParsed) {
      failed = true;
      failure = CurlError.fromCode(CurlCode.WEIRD_SERVER_REPLY, 'the transfer ended without a response head');
    }
    if (failed) {
      this.#settle();
      this.#handler.onError(failure);
      return;
    }
    this.#ended = true;
    this.#schedule();
  }

  // --- inside libcurl's callbacks: parse and queue, nothing else -------------------------------

  readonly #header = (line: Buffer): number | undefined => {
    if (this.#settled) return 0;
    if (this.#headParsed) {
      this.#trailer(line);
      return undefined;
    }
    const length = line.length;
    if (length >= 5 && line.readUInt32BE(0) === HTTP_SLASH && line[4] === 0x2f) {
      // A status line starts each response: a 1xx, then the final one.
      if (!this.#connectionAsked) {
        this.#connectionAsked = true;
        this.#connections = this.#t.pooled.easy.getinfo('NUM_CONNECTS');
        this.#schedule();
      }
      this.#status = statusOf(line);
      this.#statusLine = line;
      this.#fields = [];
      this.#blockBytes = length;
      return undefined;
    }
    this.#blockBytes += length;
    if (this.#maxHeaderSize > 0 && this.#blockBytes > this.#maxHeaderSize) {
      this.#t.limitError = CurlError.fromCode(
        CurlCode.WRITE_ERROR,
        `the response headers exceed maxHeaderSize (${this.#maxHeaderSize} bytes)`,
      );
      return 0;
    }
    const end = contentEnd(line);
    if (end === 0) {
      // The empty line ending a block: a 1xx block is dropped, the next status line follows.
      if (this.#status >= 200) {
        this.#headParsed = true;
        this.#head = headOf(this.#status, this.#statusLine, this.#fields);
        this.#fields = [];
        this.#schedule();
      }
      return undefined;
    }
    addField(this.#fields, line, end);
    return undefined;
  };

  #trailer(line: Buffer): void {
    const end = contentEnd(line);
    if (end === 0) return;
    this.#trailers ??= [];
    addField(this.#trailers, line, end);
  }

  readonly #write = (chunk: Buffer): number | undefined => {
    if (this.#settled) return 0;
    if (this.#paused || this.#queued >= this.#highWaterMark) {
      this.#curlPaused = true;
      this.#pauser.paused(Pause.RECV);
      return WRITEFUNC_PAUSE;
    }
    const limit = this.#maxResponseSize;
    if (limit > 0 && this.#received + chunk.length > limit) {
      this.#t.limitError = CurlError.fromCode(
        CurlCode.FILESIZE_EXCEEDED,
        `the response body exceeds maxResponseSize (${limit} bytes)`,
      );
      return 0;
    }
    this.#received += chunk.length;
    this.#chunks.push(chunk);
    this.#queued += chunk.length;
    this.#schedule();
    return undefined;
  };
}

const EMPTY_CHUNK = Buffer.alloc(0);

/**
 * Whether the request may share an HTTP/2 connection: then it waits for a connection being
 * opened to its host rather than opening one of its own (libcurl's PIPEWAIT), so a burst of
 * requests to a new host makes one connection, not one each. Not for http:// without 'h2c':
 * HTTP/1.1 cannot multiplex, and libcurl would hold every such request until the first
 * response to the host arrived (a slow one holding them all).
 */
function mayMultiplex(t: Transfer): boolean {
  const version = t.defaults.httpVersion;
  if (version === 'h2c') return true;
  return version === '2' && t.url.startsWith('https:');
}

/** The three digits after 'HTTP/x ' (0 when they are not there). */
function statusOf(line: Buffer): number {
  const space = line.indexOf(SP);
  if (space < 0 || space + 4 > line.length) return 0;
  let status = 0;
  for (let i = space + 1; i < space + 4; i++) {
    const d = line[i]! - 48;
    if (d < 0 || d > 9) return 0;
    status = status * 10 + d;
  }
  return status;
}

function headOf(status: number, statusLine: Buffer | null, rawHeaders: Buffer[]): ExchangeHead {
  let httpVersion = '';
  let statusText = '';
  if (statusLine !== null) {
    const end = contentEnd(statusLine);
    const space = statusLine.indexOf(SP);
    httpVersion = statusLine.toString('latin1', 0, space < 0 ? end : space);
    if (space >= 0 && space + 5 < end) statusText = statusLine.toString('latin1', space + 5, end).trim();
  }
  return { status, statusText, httpVersion, rawHeaders };
}

/** Where a header line's content ends (before its CRLF or LF). */
function contentEnd(line: Buffer): number {
  let end = line.length;
  if (end > 0 && line[end - 1] === LF) end--;
  if (end > 0 && line[end - 1] === CR) end--;
  return end;
}

/** Adds 'Name: value' to `fields` as two Buffers (views of the line), or joins an obs-fold
 * continuation to the last value. */
function addField(fields: Buffer[], line: Buffer, end: number): void {
  const first = line[0];
  if ((first === SP || first === HTAB) && fields.length > 0) {
    const [from, to] = trim(line, 0, end);
    const last = fields.length - 1;
    fields[last] = Buffer.concat([fields[last]!, Buffer.from(' '), line.subarray(from, to)]);
    return;
  }
  const colon = line.indexOf(COLON);
  if (colon <= 0 || colon >= end) return; // not a field: libcurl passes it on, nobody else would
  const [from, to] = trim(line, colon + 1, end);
  fields.push(line.subarray(0, colon), line.subarray(from, to));
}

function trim(line: Buffer, from: number, to: number): [number, number] {
  while (from < to && (line[from] === SP || line[from] === HTAB)) from++;
  while (to > from && (line[to - 1] === SP || line[to - 1] === HTAB)) to--;
  return [from, to];
}
