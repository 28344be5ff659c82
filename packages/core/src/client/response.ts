import type { Readable } from 'node:stream';
import type { Easy } from '../easy.js';
import { fromScratch, numbers } from '../scratch.js';
import { parseLastHeaderBlock, type ResponseHeaders } from './headers.js';

/** The HTTP version a response came over: libcurl's CURLINFO_HTTP_VERSION as text. */
export type ResponseHttpVersion = '1.0' | '1.1' | '2' | '3' | 'unknown';

/**
 * When each phase of the transfer ended, in microseconds from its start (libcurl's *_TIME_T
 * infos). Phases that did not happen (no DNS for an IP, no TLS for http://, a reused
 * connection) are 0 or equal to the phase before.
 */
export interface Timings {
  nameLookup: number;
  connect: number;
  /** TLS handshake done (APPCONNECT_TIME_T). */
  tlsHandshake: number;
  preTransfer: number;
  /** First response byte (STARTTRANSFER_TIME_T). */
  firstByte: number;
  total: number;
  /** Time spent in redirects before the last request (REDIRECT_TIME_T). */
  redirect: number;
}

/** What every response tells besides its body. */
export interface ResponseHead {
  /** The last response's status code (after redirects and 1xx responses): RESPONSE_CODE. */
  readonly status: number;
  /** The last response's header fields. */
  readonly headers: ResponseHeaders;
  /** The HTTP version the last response came in. */
  readonly httpVersion: ResponseHttpVersion;
  /** The URL of the last request (after redirects): EFFECTIVE_URL. */
  readonly url: string;
  /** Redirects followed. */
  readonly redirects: number;
  /** New connections this transfer opened (NUM_CONNECTS): 0 when it reused one. */
  readonly connectionsOpened: number;
}

/** A response with its body read whole. */
export class Response implements ResponseHead {
  #rawHeaders: Buffer | null;
  #headers: ResponseHeaders | null = null;

  /** `rawHeaders`: libcurl's header bytes, parsed on first use of `headers`. */
  constructor(
    readonly status: number,
    rawHeaders: Buffer,
    /** The whole body. */
    readonly body: Buffer,
    readonly httpVersion: ResponseHttpVersion,
    readonly url: string,
    readonly redirects: number,
    readonly connectionsOpened: number,
    /** Null when the Client was made with `timings: false`. */
    readonly timings: Timings | null,
  ) {
    this.#rawHeaders = rawHeaders;
  }

  /** The last response's header fields (after redirects and 1xx responses). */
  get headers(): ResponseHeaders {
    if (this.#headers === null) {
      this.#headers = parseLastHeaderBlock(this.#rawHeaders!);
      this.#rawHeaders = null;
    }
    return this.#headers;
  }

  /** The body as a string (UTF-8 unless `encoding` says otherwise). */
  text(encoding: BufferEncoding = 'utf8'): string {
    return this.body.toString(encoding);
  }

  /** The body parsed as JSON; a SyntaxError for a body that is not JSON. */
  json<T = unknown>(): T {
    return JSON.parse(this.body.toString('utf8')) as T;
  }
}

/** A response whose body arrives as a stream, resolved as soon as its headers are in. */
export class StreamResponse implements ResponseHead {
  constructor(
    readonly status: number,
    readonly headers: ResponseHeaders,
    /** The body as it arrives; reading it slowly pauses the transfer (backpressure reaches
     * libcurl). */
    readonly body: Readable,
    readonly httpVersion: ResponseHttpVersion,
    readonly url: string,
    readonly redirects: number,
    readonly connectionsOpened: number,
    /** The phases up to the first body byte, as read when the headers were in: `total` is the
     * time to the headers, not to the end of the body. Null when the Client was made with
     * `timings: false`. */
    readonly timings: Timings | null = null,
  ) {}

  /** Reads the rest of the body into one Buffer. */
  async buffer(): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** Reads the rest of the body as a string (UTF-8 unless `encoding` says otherwise). */
  async text(encoding: BufferEncoding = 'utf8'): Promise<string> {
    return (await this.buffer()).toString(encoding);
  }

  /** Reads the rest of the body and parses it as JSON; a SyntaxError for a body that is not JSON. */
  async json<T = unknown>(): Promise<T> {
    return JSON.parse(await this.text()) as T;
  }
}

function httpVersionOf(value: number): ResponseHttpVersion {
  switch (value) {
    case 1:
      return '1.0';
    case 2:
      return '1.1';
    case 3:
      return '2';
    case 30:
      return '3';
    default:
      return 'unknown';
  }
}

/** What a response reports besides headers and body. */
export interface ResponseInfo {
  status: number;
  httpVersion: ResponseHttpVersion;
  url: string | null;
  redirects: number;
  connectionsOpened: number;
  timings: Timings | null;
}

/** A finished response's info and the header and body bytes libcurl collected natively. */
export interface TakenResponse {
  info: ResponseInfo;
  headers: Buffer;
  /** Null unless asked for. */
  body: Buffer | null;
}

/** Everything a response reports, in one native call. */
export function takeResponse(
  easy: Easy,
  withTimings: boolean,
  withBody: boolean,
  requestUrl: string,
): TakenResponse {
  const returned = easy.takeResponse(withBody);
  const headerBytes = numbers[11]!;
  const bodyBytes = numbers[12]!;
  return {
    info: {
      status: numbers[0]!,
      httpVersion: httpVersionOf(numbers[1]!),
      url: returned?.[0] ?? requestUrl,
      redirects: numbers[2]!,
      connectionsOpened: numbers[3]!,
      timings: withTimings
        ? {
            nameLookup: numbers[4]!,
            connect: numbers[5]!,
            tlsHandshake: numbers[6]!,
            preTransfer: numbers[7]!,
            firstByte: numbers[8]!,
            total: numbers[9]!,
            redirect: numbers[10]!,
          }
        : null,
    },
    headers: headerBytes >= 0 ? fromScratch(0, headerBytes) : returned![1]!,
    body:
      bodyBytes >= 0
        ? fromScratch(Math.max(headerBytes, 0), bodyBytes)
        : bodyBytes === -1
          ? returned![2]!
          : null,
  };
}
