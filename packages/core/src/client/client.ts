import { CurlCode, CurlMultiCode } from '../constants.js';
import type { LoopAttachment } from '../contract.js';
import type { Easy } from '../easy.js';
import { CurlError, CurlMultiError } from '../errors.js';
import { kPerformUrl, Multi } from '../multi.js';
import { ResponseBody } from './body-stream.js';
import { withCurlOptions } from './curl-options.js';
import { changedOptions, optionsFor } from './easy-options.js';
import { EasyPool, type PooledEasy } from './easy-pool.js';
import {
  checkExchange,
  Exchange,
  type ExchangeHandler,
  type ExchangeHooks,
  type ExchangeOptions,
} from './exchange.js';
import { isStatusLine, parseLastHeaderBlock, type ResponseHeaders } from './headers.js';
import {
  type ClientOptions,
  checkInteger,
  checkMethod,
  describe,
  type RequestOptions,
  type ResolvedDefaults,
  resolveDefaults,
  type StreamOptions,
} from './options.js';
import { Pauser } from './pauser.js';
import { isRedirect, nextRequest, RedirectChain } from './redirect.js';
import { checkBody, type RequestBodySource } from './request-body.js';
import { Response, type ResponseInfo, StreamResponse, takeResponse } from './response.js';
import type { Transfer } from './transfer.js';
import { UploadSource } from './upload.js';
import { requestUrl } from './url.js';

const NO_OPTIONS: RequestOptions = Object.freeze({});
const DEFAULT_HIGH_WATER_MARK = 64 * 1024;
const DEFAULT_MAX_IDLE_HANDLES = 1024;
const DEFAULT_MAX_IDLE_CONNECTIONS = 256;
/** The keys of RequestDefaults: a request that has none of them uses the Client's settings as is. */
const DEFAULT_KEYS = [
  'headers',
  'timeout',
  'connectTimeout',
  'followRedirects',
  'maxRedirections',
  'stripHeadersOnCrossOriginRedirect',
  'decompress',
  'httpVersion',
  'ca',
  'cert',
  'key',
  'rejectUnauthorized',
  'proxy',
  'maxResponseSize',
  'maxHeaderSize',
] as const;

/**
 * An HTTP client on one Multi driven by a LoopAdapter: a promise per request, connections and
 * easy handles reused, bodies and headers collected natively unless a stream or a size limit
 * needs them in JS.
 *
 * ```ts
 * const client = new Client({ loop: libuv });
 * const res = await client.request('https://example.com/');
 * console.log(res.status, res.headers.get('content-type'), res.text());
 * await client.close();
 * ```
 *
 * What goes on the wire is what the caller asked for, consistent with itself: the Client owns
 * the framing headers (Transfer-Encoding is refused, a Content-Length must match the body and
 * declares a stream's length), never sends a stream body past its declared length, follows
 * redirects itself with fetch's rules (credentials and `stripHeadersOnCrossOriginRedirect`
 * dropped on a change of origin) and refuses a malformed URL, naming what is wrong, before
 * anything is sent. See RequestDefaults and RequestOptions for each rule.
 */
export class Client {
  readonly #multi: Multi;
  readonly #attachment: LoopAttachment;
  readonly #pool: EasyPool;
  readonly #defaults: ResolvedDefaults;
  readonly #inFlight = new Set<Transfer>();
  readonly #timings: boolean;
  #closing: Promise<void> | null = null;
  #connectionsOpened = 0;
  /** MAXCONNECTS now, and whether the caller chose it. */
  #idleConnections: number;
  readonly #fixedIdleConnections: boolean;
  /** What every exchange() calls back into (made at the first). */
  #exchangeHooks: ExchangeHooks | null = null;
  /** Name of the loop adapter driving this Client. */
  readonly loop: string;

  constructor(options: ClientOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('Client: options must be an object with at least { loop }');
    }
    const { loop } = options;
    if (typeof loop !== 'object' || loop === null || typeof loop.attach !== 'function') {
      throw new TypeError(
        `Client: options.loop must be a LoopAdapter (an object with attach()), got ${describe(loop)}`,
      );
    }
    this.#defaults = resolveDefaults('Client', options);
    if (this.#defaults.contentLength !== undefined) {
      throw new TypeError(
        "Client: a Content-Length header belongs to a request (it must match the request's body), not to the Client",
      );
    }
    const idle = checkLimit('maxIdleConnections', options.maxIdleConnections);
    this.#fixedIdleConnections = idle !== undefined;
    this.#idleConnections = idle ?? DEFAULT_MAX_IDLE_CONNECTIONS;
    const limits: Array<
      ['MAX_HOST_CONNECTIONS' | 'MAX_TOTAL_CONNECTIONS' | 'MAXCONNECTS', number | undefined]
    > = [
      ['MAX_HOST_CONNECTIONS', checkLimit('maxConnectionsPerHost', options.maxConnectionsPerHost)],
      ['MAX_TOTAL_CONNECTIONS', checkLimit('maxConnections', options.maxConnections)],
      ['MAXCONNECTS', this.#idleConnections],
    ];
    const maxIdleHandles = checkLimit('maxIdleHandles', options.maxIdleHandles) ?? DEFAULT_MAX_IDLE_HANDLES;
    if (options.timings !== undefined && typeof options.timings !== 'boolean') {
      throw new TypeError(`Client: timings must be a boolean, got ${describe(options.timings)}`);
    }
    this.#timings = options.timings ?? true;
    // Checked (on a scratch handle) before the Multi exists: a refused option leaks nothing.
    const base = withCurlOptions('Client', optionsFor(this.#defaults), options.curlOptions);
    this.loop = String(loop.name);
    this.#multi = new Multi();
    try {
      for (const [name, value] of limits) if (value !== undefined) this.#multi.setopt(name, value);
      this.#attachment = loop.attach(this.#multi);
    } catch (error) {
      this.#multi.close();
      throw error;
    }
    this.#pool = new EasyPool(base, maxIdleHandles);
  }

  /** True once close() was called: new requests are refused. */
  get closed(): boolean {
    return this.#closing !== null;
  }

  /** Requests started and not yet settled (a streamed body counts until it ends). */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** New connections this Client's requests opened so far, redirects and failed transfers
   * included (libcurl's NUM_CONNECTS added up). A request aborted (signal, close(), a destroyed
   * body, a failing body stream) before its response was in is not counted: libcurl may not
   * have started it, and the handle would report its previous request's count. */
  get connectionsOpened(): number {
    return this.#connectionsOpened;
  }

  /**
   * Sends a request and reads the whole response. Rejects with a CurlError for a failed
   * transfer (code, codeName, libcurl's message, url), or with `signal.reason` when aborted.
   * HTTP error statuses (404, 500...) are responses, not failures.
   */
  async request(url: string | URL, options: RequestOptions = NO_OPTIONS): Promise<Response> {
    const t = this.#start('request', url, options, null);
    const easy = t.pooled.easy;
    try {
      for (;;) {
        if (t.aborted) throw t.abortReason;
        await this.#multi[kPerformUrl](easy, t.url);
        const taken = takeResponse(easy, this.#timings, t.bodyChunks === null, t.url);
        const rawHeaders = t.headerChunks ? Buffer.concat(t.headerChunks, t.headerBytes) : taken.headers;
        const info = taken.info;
        if (isRedirect(info.status) && t.defaults.followRedirects) {
          const location = parseLastHeaderBlock(rawHeaders).getAll('location')[0];
          if (location !== undefined) {
            this.#follow(t, info, location);
            continue;
          }
        }
        const body = t.bodyChunks ? Buffer.concat(t.bodyChunks, t.bodyBytes) : taken.body!;
        t.taken = true;
        const chain = t.redirect;
        const connects = chain ? chain.connects + info.connectionsOpened : info.connectionsOpened;
        this.#connectionsOpened += connects;
        t.counted = true;
        return new Response(
          info.status,
          rawHeaders,
          body,
          info.httpVersion,
          info.url ?? t.url,
          chain ? chain.hops : info.redirects,
          connects,
          chain && info.timings ? chain.totalTimings(info.timings) : info.timings,
        );
      }
    } catch (error) {
      throw this.#failure(t, error);
    } finally {
      this.#finish(t);
    }
  }

  /**
   * Sends a request and resolves as soon as the response headers are in, with the body as a
   * Node Readable (async iterable). The transfer pauses while the stream is full, so the body
   * streams in bounded memory; destroying the stream ends the transfer.
   */
  stream(url: string | URL, options: StreamOptions = NO_OPTIONS): Promise<StreamResponse> {
    return new Promise<StreamResponse>((resolve, reject) => {
      const highWaterMark =
        options.highWaterMark === undefined
          ? DEFAULT_HIGH_WATER_MARK
          : checkInteger('stream', 'highWaterMark', options.highWaterMark, 1);
      let transfer: Transfer | null = null;
      const body = new ResponseBody(highWaterMark, () => {
        transfer?.abort(new Error('the response body stream was destroyed'));
      });
      const t = this.#start('stream', url, options, body);
      transfer = t;
      let headSent = false;
      /** The response in is a redirect being followed: its body is dropped. */
      let following: { info: ResponseInfo; location: string } | null = null;
      // At the first body byte (or the end of a body-less response) the response's headers
      // are complete: it is the caller's, or a redirect to follow.
      const atHead = () => {
        if (headSent || following) return;
        const easy = t.pooled.easy;
        const taken = takeResponse(easy, this.#timings, false, t.url);
        const raw = t.headerChunks ? Buffer.concat(t.headerChunks, t.headerBytes) : taken.headers;
        const info = taken.info;
        const headers = parseLastHeaderBlock(raw);
        if (isRedirect(info.status) && t.defaults.followRedirects) {
          const location = headers.getAll('location')[0];
          if (location !== undefined) {
            info.timings = null; // a hop's time is read once its transfer is over (#follow)
            following = { info, location };
            return;
          }
        }
        headSent = true;
        resolve(this.#streamHead(t, info, headers, body));
      };
      const limit = this.#limitOf(options, 'maxResponseSize');
      t.pooled.set('WRITEFUNCTION', (chunk: Buffer) => {
        if (!headSent) {
          atHead();
          if (!headSent) return undefined; // a redirect's body
        }
        if (limit > 0 && body.received + chunk.length > limit) return this.#overLimit(t, limit);
        return body.accept(chunk);
      });
      const run = async () => {
        try {
          for (;;) {
            if (t.aborted) throw t.abortReason;
            await this.#multi[kPerformUrl](t.pooled.easy, t.url);
            atHead();
            if (following === null) break;
            const { info, location } = following;
            following = null;
            this.#follow(t, info, location);
          }
          body.finish();
        } catch (error) {
          const failure = this.#failure(t, error);
          if (headSent) body.fail(failure);
          else {
            headSent = true;
            body.destroy();
            reject(failure);
          }
        }
        this.#finish(t);
      };
      void run();
    });
  }

  /**
   * Sends a request and hands its response to `handler` as it arrives: the raw head, each body
   * chunk, the trailers, with pause(), resume() and abort() on the returned Exchange. For
   * callers that build their own response type (an undici Dispatcher); no redirect is followed
   * and nothing is decoded. See exchange.ts. Throws before anything is sent for bad input, as
   * request() rejects.
   */
  exchange(url: string | URL, options: ExchangeOptions, handler: ExchangeHandler): Exchange {
    const highWaterMark = checkExchange(handler, options);
    const t = this.#start('exchange', url, options, null, true);
    this.#exchangeHooks ??= {
      perform: (transfer) => this.#multi[kPerformUrl](transfer.pooled.easy, transfer.url),
      failure: (transfer, error) => this.#failure(transfer, error),
      finish: (transfer) => this.#finish(transfer),
    };
    return new Exchange(t, handler, this.#exchangeHooks, highWaterMark);
  }

  /**
   * Ends everything: requests in flight reject (CurlError code 42, 'the Client was closed'),
   * streamed bodies are destroyed with that error, the adapter is detached, the Multi and every
   * handle are closed, so no fd of this Client stays open. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = new Promise<void>((resolve, reject) => {
      const shutdown = () => {
        // removeHandle and curl_multi_cleanup cannot run inside a libcurl callback.
        if (this.#multi.inCallback) {
          setImmediate(shutdown);
          return;
        }
        let failure: unknown = null;
        try {
          for (const t of [...this.#inFlight]) {
            t.abort(CurlError.fromCode(CurlCode.ABORTED_BY_CALLBACK, 'the Client was closed'));
          }
          this.#pool.close();
          this.#attachment.detach();
        } catch (error) {
          failure = error;
        }
        // Whatever failed above, the Multi (and with it every connection) goes.
        try {
          this.#multi.close();
        } catch (error) {
          failure ??= error;
        }
        if (failure === null) resolve();
        else reject(failure);
      };
      shutdown();
    });
    return this.#closing;
  }

  // --- one transfer ----------------------------------------------------------------------------

  /** Validates the request, borrows a handle and sets it up. Throws before anything started. */
  #start(
    where: string,
    url: string | URL,
    options: RequestOptions,
    body: ResponseBody | null,
    exchange = false,
  ): Transfer {
    if (this.#closing)
      throw CurlMultiError.fromCode(CurlMultiCode.BAD_HANDLE, `${where}: the Client is closed`);
    const href = requestUrl(where, url);
    if (typeof options !== 'object' || options === null)
      throw new TypeError(`${where}: options must be an object`);
    const defaults = hasDefaults(options) ? resolveDefaults(where, options, this.#defaults) : this.#defaults;
    const method = options.method === undefined ? 'GET' : checkMethod(where, options.method);
    const requestBody = checkBody(where, method, options.body, options.bodyLength, defaults.contentLength);
    const signal = options.signal;
    if (signal !== undefined) {
      if (!(signal instanceof AbortSignal)) throw new TypeError(`${where}: signal must be an AbortSignal`);
      if (signal.aborted) throw signal.reason;
    }

    const pooled = this.#pool.acquire(href, defaults.httpVersion);
    const t = this.#transfer(pooled, href, defaults, method);
    try {
      this.#configure(t, defaults, method, requestBody, body !== null || exchange, exchange);
      if (body) {
        t.pauser = new Pauser(pooled.easy, (error) => t.abort(error));
        body.attach(t.pauser);
      }
      if (t.upload) {
        t.pauser ??= new Pauser(pooled.easy, (error) => t.abort(error));
        const upload = t.upload;
        upload.start(t.pauser, () => t.abort(upload.failure(t.url)));
      }
    } catch (error) {
      pooled.dirty = true; // half set up: reset before reuse
      t.upload?.stop();
      this.#pool.release(pooled);
      throw error;
    }
    if (signal) {
      const onAbort = () => t.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      t.removeAbortListener = () => signal.removeEventListener('abort', onAbort);
    }
    this.#inFlight.add(t);
    this.#growIdleCache();
    return t;
  }

  /** Unless the caller fixed maxIdleConnections, the idle cache grows to the concurrency seen, so
   * a burst of completions never closes connections the next requests will reuse. */
  #growIdleCache(): void {
    if (this.#fixedIdleConnections || this.#inFlight.size <= this.#idleConnections) return;
    if (this.#multi.inCallback) return; // setopt is refused there; the next request grows it
    this.#idleConnections = Math.max(this.#inFlight.size, this.#idleConnections * 2);
    this.#multi.setopt('MAXCONNECTS', this.#idleConnections);
  }

  #transfer(pooled: PooledEasy, url: string, defaults: ResolvedDefaults, method: string): Transfer {
    const multi = this.#multi;
    const t: Transfer = {
      pooled,
      url,
      defaults,
      method,
      redirect: null,
      counted: false,
      upload: null,
      pauser: null,
      bodyChunks: null,
      bodyBytes: 0,
      headerChunks: null,
      headerBytes: 0,
      limitError: null,
      aborted: false,
      abortReason: undefined,
      taken: false,
      settled: false,
      removeAbortListener: null,
      abort(reason: unknown) {
        if (t.settled || t.aborted) return;
        t.aborted = true;
        t.abortReason = reason;
        const remove = () => {
          // Removing settles multi.perform (rejected), which finishes the request.
          if (!multi.closed && pooled.easy.multi === multi) multi.removeHandle(pooled.easy);
        };
        if (multi.inCallback) setImmediate(remove);
        else remove();
      },
    };
    return t;
  }

  #configure(
    t: Transfer,
    defaults: ResolvedDefaults,
    method: string,
    body: RequestBodySource,
    streaming: boolean,
    exchange = false,
  ): void {
    const { pooled } = t;
    if (defaults !== this.#defaults) {
      for (const [name, value] of changedOptions(this.#pool.base, optionsFor(defaults))) {
        pooled.setAny(name, value);
      }
    }
    if (method === 'HEAD') pooled.set('NOBODY', 1);
    else if (body !== null) {
      const lines = bodyHeaderLines(defaults);
      if (lines !== null) pooled.set('HTTPHEADER', lines);
      if (body.kind === 'bytes') {
        pooled.setDirty('POSTFIELDS', body.bytes);
      } else {
        t.upload = new UploadSource(body.source, body.length);
        pooled.setDirty('POST', 1);
        pooled.setDirty('READFUNCTION', t.upload.read);
        pooled.setDirty('POSTFIELDSIZE_LARGE', body.length?.bytes ?? -1);
      }
      if (method !== 'POST') pooled.set('CUSTOMREQUEST', method);
    } else if (method !== 'GET') {
      pooled.set('CUSTOMREQUEST', method);
    }
    const maxResponseSize = defaults.maxResponseSize;
    if (maxResponseSize > 0 && !streaming) {
      // libcurl checks MAXFILESIZE against Content-Length only; a chunked or compressed body
      // is counted here as it arrives.
      t.bodyChunks = [];
      pooled.set('WRITEFUNCTION', (chunk: Buffer) => {
        if (t.bodyBytes + chunk.length > maxResponseSize) return this.#overLimit(t, maxResponseSize);
        t.bodyChunks!.push(chunk);
        t.bodyBytes += chunk.length;
        return undefined;
      });
    }
    const maxHeaderSize = defaults.maxHeaderSize;
    // An exchange checks the head's size itself, as it parses the head.
    if (maxHeaderSize > 0 && !exchange) {
      t.headerChunks = [];
      let blockBytes = 0;
      pooled.set('HEADERFUNCTION', (line: Buffer) => {
        // Each response (redirects, 1xx) starts a new block with its status line.
        if (isStatusLine(line)) {
          blockBytes = 0;
        }
        blockBytes += line.length;
        if (blockBytes > maxHeaderSize) {
          t.limitError = CurlError.fromCode(
            CurlCode.WRITE_ERROR,
            `the response headers exceed maxHeaderSize (${maxHeaderSize} bytes)`,
          );
          return 0;
        }
        t.headerChunks!.push(line);
        t.headerBytes += line.length;
        return undefined;
      });
    }
  }

  #overLimit(t: Transfer, limit: number): number {
    t.limitError = CurlError.fromCode(
      CurlCode.FILESIZE_EXCEEDED,
      `the response body exceeds maxResponseSize (${limit} bytes)`,
    );
    return 0;
  }

  #limitOf(options: RequestOptions, key: 'maxResponseSize'): number {
    return options[key] ?? this.#defaults[key];
  }

  #streamHead(t: Transfer, info: ResponseInfo, headers: ResponseHeaders, body: ResponseBody): StreamResponse {
    const chain = t.redirect;
    const connects = chain ? chain.connects + info.connectionsOpened : info.connectionsOpened;
    this.#connectionsOpened += connects;
    t.counted = true;
    return new StreamResponse(
      info.status,
      headers,
      body,
      info.httpVersion,
      info.url ?? t.url,
      chain ? chain.hops : info.redirects,
      connects,
      chain && info.timings ? chain.totalTimings(info.timings) : info.timings,
    );
  }

  /**
   * Turns a finished redirect response into the next request on the same handle (see
   * redirect.ts), or throws the CurlError that ends the chain.
   */
  #follow(t: Transfer, info: ResponseInfo, location: string): void {
    const { pooled, defaults } = t;
    const easy = pooled.easy;
    if (t.redirect === null)
      t.redirect = new RedirectChain(bodyHeaderLines(defaults) ?? defaults.headerLines);
    const chain = t.redirect;
    const from = info.url ?? t.url;
    const next = nextRequest(
      defaults,
      chain.hops,
      info.status,
      location,
      from,
      t.method,
      t.upload !== null,
      chain.headerLines,
    );
    chain.add(info.connectionsOpened, info.timings?.total ?? easy.getinfo('TOTAL_TIME_T'), info.timings);
    chain.headerLines = next.headerLines;
    if (defaults.timeout > 0) {
      const left = defaults.timeout - Math.floor(chain.elapsedUs / 1000);
      if (left <= 0) {
        const error = CurlError.fromCode(
          CurlCode.OPERATION_TIMEDOUT,
          `timeout (${defaults.timeout} ms) reached while following redirects`,
        );
        error.url = from;
        throw error;
      }
      pooled.set('TIMEOUT_MS', left);
    }
    if (next.toGet) {
      t.upload?.stop();
      t.upload = null;
      pooled.setDirty('HTTPGET', 1);
      if (t.method !== 'POST') pooled.set('CUSTOMREQUEST', null);
      t.method = 'GET';
    }
    pooled.set('HTTPHEADER', next.headerLines.length > 0 ? next.headerLines : null);
    t.url = next.url.href; // set with the next perform
    // The redirect's own body is nobody's (natively collected bytes are dropped when the handle
    // is added again).
    if (t.bodyChunks) {
      t.bodyChunks = [];
      t.bodyBytes = 0;
    }
    if (t.headerChunks) {
      t.headerChunks = [];
      t.headerBytes = 0;
    }
  }

  /** The error a failed transfer rejects with. */
  #failure(t: Transfer, error: unknown): unknown {
    if (t.aborted) return t.abortReason;
    const url = error instanceof CurlError && error.url !== undefined ? error.url : t.url;
    if (t.limitError) {
      t.limitError.url = url;
      return t.limitError;
    }
    if (t.upload?.failed) return t.upload.failure(url);
    return error;
  }

  /** The transfer is over (removed from the Multi): give its handle back. */
  #finish(t: Transfer): void {
    t.settled = true;
    t.pauser?.end();
    t.upload?.stop();
    t.removeAbortListener?.();
    this.#inFlight.delete(t);
    const easy: Easy = t.pooled.easy;
    if (!easy.closed) {
      if (easy.multi !== null && !this.#multi.closed) this.#multi.removeHandle(easy);
      // A failed transfer's connections (an aborted one may not have started: its NUM_CONNECTS
      // would be the handle's previous request's).
      if (!t.counted && !t.aborted)
        this.#connectionsOpened += (t.redirect?.connects ?? 0) + easy.getinfo('NUM_CONNECTS');
      if (!t.taken) {
        // What a failed or streamed transfer left in the native buffers must not reach the
        // handle's next request.
        easy.takeBody();
        easy.takeHeaders();
      }
    }
    this.#pool.release(t.pooled);
  }
}

/** The HTTPHEADER of a request with a body, or null when the defaults' lines do. libcurl adds
 * 'Expect: 100-continue' to large and chunked uploads (a round trip, or a 1 s wait on servers
 * that ignore it) and a form Content-Type to every POST: neither is what the caller asked for. */
function bodyHeaderLines(defaults: ResolvedDefaults): string[] | null {
  const extra: string[] = [];
  if (!defaults.headerNames.has('expect')) extra.push('Expect:');
  if (!defaults.headerNames.has('content-type')) extra.push('Content-Type:');
  return extra.length > 0 ? [...defaults.headerLines, ...extra] : null;
}

function hasDefaults(options: RequestOptions): boolean {
  if (options === NO_OPTIONS) return false;
  for (const key of DEFAULT_KEYS) if (options[key] !== undefined) return true;
  return false;
}

function checkLimit(name: string, value: number | undefined): number | undefined {
  return value === undefined ? undefined : checkInteger('Client', name, value, 0);
}
