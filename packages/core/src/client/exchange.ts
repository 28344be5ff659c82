import { CurlCode, Pause, WRITEFUNC_PAUSE } from '../constants.js';
import type { Easy } from '../easy.js';
import { CurlError } from '../errors.js';
import { isStatusLine } from './headers.js';
import { checkInteger, describe, type RequestOptions } from './options.js';
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
  /** Body bytes held in JS for a handler that has not had them yet (paused, or not run yet)
   * before libcurl stops reading the transfer (default 64 KiB): the bound on what an exchange
   * buffers. */
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
   * data is delivered until resume(), and libcurl stops reading this transfer's data once
   * highWaterMark bytes wait. */
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
  /** Runs the transfer's handle on its URL (set in the same native call). */
  perform(t: Transfer): Promise<Easy>;
  /** The error a failed transfer reports (the Client's own rules: abort reason, limits...). */
  failure(t: Transfer, error: unknown): unknown;
  /** The transfer is over: give the handle back. */
  finish(t: Transfer): void;
}

const DEFAULT_HIGH_WATER_MARK = 64 * 1024;
const EMPTY: Buffer[] = [];
const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;

/**
 * Heads that neither a body byte nor the end has brought yet (a stream that has not begun, a
 * slow body): every POLL_MS the poller takes what libcurl collected for those that waited
 * POLL_AFTER_TICKS ticks, so such a head is handed over within about 20 ms of its arrival. The
 * timer runs only while an exchange waits, and a response that arrives whole never meets it.
 */
const POLL_MS = 10;
const POLL_AFTER_TICKS = 2;
const awaitingHead = new Set<Exchange>();
let poller: NodeJS.Timeout | null = null;

function awaitHead(exchange: Exchange): void {
  awaitingHead.add(exchange);
  if (poller === null) {
    poller = setInterval(pollHeads, POLL_MS);
    poller.unref();
  }
}

function pollHeads(): void {
  for (const exchange of awaitingHead) exchange.poll();
  if (awaitingHead.size === 0 && poller !== null) {
    clearInterval(poller);
    poller = null;
  }
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
 * decodes nothing (libcurl's `Accept: *\/*` goes out unless the Client's defaultAccept says
 * otherwise, as with request() and stream()).
 *
 * The head is collected natively and parsed once complete: at the first body byte, at the end
 * of a body-less response, or, for a head whose body does not follow at once (an event stream),
 * by a poller within about 20 ms. Body chunks come through the write function. A request that
 * may be multiplexed (https with httpVersion '2', or 'h2c') waits for a connection being opened
 * to its host instead of opening its own (see mayMultiplex).
 *
 * Flow control is the caller's: pause() and resume() (or a false from onHead/onData) stop and
 * restart the delivery, and with it libcurl's reading of the transfer; resuming libcurl happens
 * on a later turn of the loop, never inside one of its callbacks. abort() ends it at any
 * moment, with onError called once.
 */
export class Exchange {
  readonly #t: Transfer;
  readonly #handler: ExchangeHandler;
  readonly #hooks: ExchangeHooks;
  /** Made at the first pause (an upload's, or the write function's). */
  #pauser: Pauser | null;
  readonly #highWaterMark: number;
  readonly #maxHeaderSize: number;
  readonly #maxResponseSize: number;

  // The head, collected natively by libcurl and parsed here once it is complete.
  /** Header bytes taken so far, while the head is incomplete (the poller's). */
  #raw: Buffer | null = null;
  /** The final head was parsed: what libcurl collects from here on is trailers. */
  #headParsed = false;
  /** Poller ticks this exchange waited for its head. */
  #waited = 0;
  #trailers: Buffer[] | null = null;
  #trailersPossible = false;
  #received = 0;
  readonly #countConnections: boolean;

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
    this.#countConnections = typeof handler.onConnection === 'function';
    const { pooled } = t;
    this.#pauser = t.pauser;
    // The body comes through JS; the head is collected natively (a JS call per header line
    // costs more than the rest of a small response) and taken at the first body byte, at the
    // end, or by the poller when neither comes soon.
    pooled.set('WRITEFUNCTION', this.#write);
    if (t.defaults.decompress) pooled.set('ACCEPT_ENCODING', null);
    if (mayMultiplex(t)) pooled.set('PIPEWAIT', 1);
    awaitHead(this);
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
   * reading this transfer once highWaterMark bytes wait. */
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
      this.#pauser!.resume(Pause.RECV);
    }
    if (this.#ended && this.#headDelivered && this.#queued === 0) {
      this.#settle();
      handler.onEnd(this.#trailers ?? EMPTY);
    }
  }

  #pausedBy(): Pauser {
    if (this.#pauser === null) {
      const t = this.#t;
      t.pauser ??= new Pauser(t.pooled.easy, (error) => t.abort(error));
      this.#pauser = t.pauser;
    }
    return this.#pauser;
  }

  #schedule(): void {
    if (this.#due) return;
    this.#due = true;
    if (due.length === 0) queueMicrotask(flushDue);
    due.push(this);
  }

  #settle(): void {
    this.#settled = true;
    awaitingHead.delete(this);
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
      await this.#hooks.perform(t);
    } catch (error) {
      failed = true;
      failure = this.#hooks.failure(t, error);
    }
    if (!failed && !this.#settled) {
      // What libcurl collected since: the head of a body-less response, then any trailers.
      failure = this.#takeHead(true);
      failed = failure !== null;
      if (!failed) {
        // Trailers come after a chunked HTTP/1.1 body or an HTTP/2 one; after any other body
        // libcurl collects nothing more (and clears its buffer before the handle's next use).
        if (this.#trailersPossible) {
          const rest = t.pooled.easy.takeHeaders();
          if (rest.length > 0) this.#addTrailers(rest, 0);
        }
        t.taken = true;
      }
    }
    // A failed transfer's header bytes are the Client's to drop (t.taken stays false).
    this.#hooks.finish(t);
    if (this.#settled) return;
    if (failed) {
      this.#settle();
      this.#handler.onError(failure);
      return;
    }
    this.#ended = true;
    this.#schedule();
  }

  /**
   * Takes what libcurl collected of the head and parses it: once the final head is complete it
   * is queued for delivery (what follows it is trailers). `complete`: the head must be there (a
   * body byte arrived, or the transfer ended). Returns the error that ends the exchange, or
   * null.
   */
  #takeHead(complete: boolean): CurlError | null {
    if (this.#headParsed) return null;
    const t = this.#t;
    const bytes = t.pooled.easy.takeHeaders();
    const raw =
      this.#raw === null ? bytes : bytes.length === 0 ? this.#raw : Buffer.concat([this.#raw, bytes]);
    const parsed = parseHead(raw);
    const limit = this.#maxHeaderSize;
    if (limit > 0 && (parsed === null ? raw.length : parsed.size) > limit) {
      return CurlError.fromCode(
        CurlCode.WRITE_ERROR,
        `the response headers exceed maxHeaderSize (${limit} bytes)`,
      );
    }
    if (parsed === null) {
      if (complete) {
        return CurlError.fromCode(
          CurlCode.WEIRD_SERVER_REPLY,
          'the transfer ended without a complete response head',
        );
      }
      this.#raw = raw;
      return null;
    }
    this.#raw = null;
    this.#headParsed = true;
    awaitingHead.delete(this);
    this.#head = parsed.head;
    this.#trailersPossible = trailersPossible(parsed.head);
    if (parsed.end < raw.length) this.#addTrailers(raw, parsed.end);
    if (this.#countConnections) this.#connections = t.pooled.easy.getinfo('NUM_CONNECTS');
    this.#schedule();
    return null;
  }

  /** @internal The poller's look at a head that neither a body byte nor the end brought yet. */
  poll(): void {
    if (this.#settled || this.#headParsed) {
      awaitingHead.delete(this);
      return;
    }
    if (++this.#waited < POLL_AFTER_TICKS) return;
    const t = this.#t;
    if (t.settled || t.pooled.easy.multi === null) return; // finishing: #run takes it
    const error = this.#takeHead(false);
    if (error !== null) {
      t.limitError = error;
      t.abort(error);
    }
  }

  #addTrailers(raw: Buffer, from: number): void {
    this.#trailers ??= [];
    parseFields(raw, from, this.#trailers);
  }

  // --- inside libcurl's callbacks: queue, nothing else -----------------------------------------

  readonly #write = (chunk: Buffer): number | undefined => {
    if (this.#settled) return 0;
    if (!this.#headParsed) {
      const error = this.#takeHead(true);
      if (error !== null) {
        this.#t.limitError = error;
        return 0;
      }
    }
    // A paused handler stops the delivery at once; libcurl stops once highWaterMark bytes wait
    // for it, so a consumer that resumes promptly costs no pause and resume of the transfer.
    if (this.#queued >= this.#highWaterMark) {
      this.#curlPaused = true;
      this.#pausedBy().paused(Pause.RECV);
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

/**
 * The final head in libcurl's collected header bytes: each block starts with a status line and
 * ends with an empty line; 1xx blocks are skipped. Field names and values are views of `raw`.
 * Null while the final block is not complete. `end` is where it ended, `size` its length.
 */
function parseHead(raw: Buffer): { head: ExchangeHead; end: number; size: number } | null {
  let pos = 0;
  while (pos < raw.length) {
    const lineEnd = raw.indexOf(LF, pos);
    if (lineEnd < 0) return null;
    const statusLine = raw.subarray(pos, lineEnd + 1);
    const fields: Buffer[] = [];
    const end = parseFields(raw, lineEnd + 1, fields);
    if (end < 0) return null;
    const status = isStatusLine(statusLine) ? statusOf(statusLine) : 0;
    if (status >= 200 || status === 0)
      return { head: headOf(status, statusLine, fields), end, size: end - pos };
    pos = end; // a 1xx response: the next block follows
  }
  return null;
}

/** Whether trailer fields may follow the body: HTTP/2 and 3, or a chunked HTTP/1.1 body. */
function trailersPossible(head: ExchangeHead): boolean {
  if (!head.httpVersion.startsWith('HTTP/1')) return true;
  const raw = head.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 17 && name.toString('latin1').toLowerCase() === 'transfer-encoding') {
      return raw[i + 1]!.toString('latin1').toLowerCase().includes('chunked');
    }
  }
  return false;
}

/** Adds the fields from `from` up to an empty line (or the end of `raw`) to `fields`; returns
 * the offset after the empty line, or -1 when there is none yet. */
function parseFields(raw: Buffer, from: number, fields: Buffer[]): number {
  let pos = from;
  while (pos < raw.length) {
    let lineEnd = raw.indexOf(LF, pos);
    if (lineEnd < 0) lineEnd = raw.length - 1;
    const line = raw.subarray(pos, lineEnd + 1);
    pos = lineEnd + 1;
    const end = contentEnd(line);
    if (end === 0) return pos;
    addField(fields, line, end);
  }
  return -1;
}

function headOf(status: number, statusLine: Buffer, rawHeaders: Buffer[]): ExchangeHead {
  const end = contentEnd(statusLine);
  const space = statusLine.indexOf(SP);
  const httpVersion = statusLine.toString('latin1', 0, space < 0 || space > end ? end : space);
  const statusText =
    space >= 0 && space + 5 < end ? statusLine.toString('latin1', space + 5, end).trim() : '';
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
