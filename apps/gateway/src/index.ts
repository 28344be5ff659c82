// A uWebSockets.js server that fans every GET out to several upstreams at once, merges their JSON
// answers into one object keyed by upstream name, and replies. An upstream that fails, answers
// non-2xx, answers something that is not JSON, or does not answer in time gives a 502 whose
// body names it; a client that disconnects aborts every upstream transfer of its request.

import type { HttpResponse, TemplatedApp, us_listen_socket } from '@trufflesuite/uws-js-unofficial';
import uWS from '@trufflesuite/uws-js-unofficial';
import { type GatewayClientKind, multisockFetcher, type UpstreamFetcher, undiciFetcher } from './upstream.js';

export type { GatewayClientKind, UpstreamAnswer, UpstreamFetcher } from './upstream.js';
export { multisockFetcher, undiciFetcher } from './upstream.js';

/** One upstream: a name and a base URL. */
export interface Upstream {
  /** The key of its answer in the merged object, and the name a 502 gives. */
  name: string;
  /** Base URL: the incoming path and query are appended to it. */
  url: string;
}

/** What `startGateway(options)` takes. */
export interface GatewayOptions {
  /** At least one; names must be unique. A record maps name -> base URL. */
  upstreams: readonly Upstream[] | Readonly<Record<string, string>>;
  /** Default 0: the kernel picks a free port (read it back from `gateway.port`). */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Which HTTP client reaches the upstreams (default 'multisock'). */
  client?: GatewayClientKind;
  /** How long one incoming request waits for all its upstreams, in ms (default 5000). */
  timeoutMs?: number;
}

/** A running gateway, as `startGateway` resolves it. */
export interface Gateway {
  readonly port: number;
  readonly url: string;
  readonly client: GatewayClientKind;
  /** Incoming requests whose answer is still pending. */
  readonly pending: number;
  /** Stops listening, drops every connection, aborts upstream transfers, closes the client. */
  close(): Promise<void>;
}

/** The body of a 502. */
export interface GatewayError {
  error: 'upstream failed' | 'upstream timed out';
  /** The (first) upstream at fault. */
  upstream: string;
  /** Every upstream at fault (several may time out together). */
  upstreams: string[];
  reason: string;
}

function checkOptions(options: GatewayOptions): {
  upstreams: Upstream[];
  port: number;
  host: string;
  client: GatewayClientKind;
  timeoutMs: number;
} {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('startGateway: options must be an object');
  const raw = options.upstreams;
  if (typeof raw !== 'object' || raw === null) {
    throw new TypeError(
      'startGateway: upstreams must be an array of { name, url } or a record of name -> url',
    );
  }
  const list: Upstream[] = Array.isArray(raw)
    ? raw.map((u: Upstream) => ({ name: u?.name, url: u?.url }))
    : Object.entries(raw as Record<string, string>).map(([name, url]) => ({ name, url }));
  if (list.length === 0) throw new RangeError('startGateway: at least one upstream is needed');
  const names = new Set<string>();
  for (const u of list) {
    if (typeof u.name !== 'string' || u.name === '')
      throw new TypeError('startGateway: every upstream needs a name');
    if (names.has(u.name))
      throw new RangeError(`startGateway: upstream name ${JSON.stringify(u.name)} is used twice`);
    names.add(u.name);
    let parsed: URL;
    try {
      parsed = new URL(String(u.url));
    } catch {
      throw new TypeError(`startGateway: upstream ${u.name} has no valid URL (${JSON.stringify(u.url)})`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new RangeError(
        `startGateway: upstream ${u.name} must be http:// or https://, got ${parsed.protocol}`,
      );
    }
    if (parsed.search !== '' || parsed.hash !== '') {
      throw new RangeError(`startGateway: upstream ${u.name} must be a base URL without query or fragment`);
    }
    u.url = parsed.href.replace(/\/$/, '');
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`startGateway: port must be an integer from 0 to 65535, got ${String(port)}`);
  }
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '')
    throw new TypeError('startGateway: host must be a non-empty string');
  const client = options.client ?? 'multisock';
  if (client !== 'multisock' && client !== 'undici') {
    throw new RangeError(
      `startGateway: client must be 'multisock' or 'undici', got ${JSON.stringify(client)}`,
    );
  }
  const timeoutMs = options.timeoutMs ?? 5000;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
    throw new RangeError(`startGateway: timeoutMs must be a positive integer, got ${String(timeoutMs)}`);
  }
  return { upstreams: list, port, host, client, timeoutMs };
}

/** Why an incoming request's upstream transfers were stopped. */
class Stop extends Error {
  constructor(readonly why: 'disconnect' | 'timeout' | 'failure') {
    super(`gateway: ${why}`);
  }
}

/** Starts a uWebSockets.js server that answers each GET with the JSON of every upstream's answer
 * to the same path and query, merged by upstream name; a 502 when one fails, answers a non-2xx
 * status or something that is not JSON, or does not answer in time. */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const config = checkOptions(options);
  const fetcher: UpstreamFetcher = config.client === 'undici' ? undiciFetcher() : multisockFetcher();
  const app: TemplatedApp = uWS.App();
  const inFlight = new Set<AbortController>();

  app.get('/*', (res, req) => {
    // Everything of `req` must be read now: uWS frees it when this handler returns.
    const query = req.getQuery();
    const suffix = query ? `${req.getUrl()}?${query}` : req.getUrl();
    fanOut(res, suffix, config.upstreams, config.timeoutMs, fetcher, inFlight);
  });
  app.any('/*', (res) => {
    res
      .writeStatus('405 Method Not Allowed')
      .writeHeader('allow', 'GET')
      .end('the gateway answers GET only\n');
  });

  const token = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(config.host, config.port, (t: us_listen_socket | false) => {
      if (t) resolve(t);
      else reject(new Error(`startGateway: cannot listen on ${config.host}:${config.port}`));
    });
  }).catch(async (error: unknown) => {
    await fetcher.close();
    throw error;
  });
  const port = uWS.us_socket_local_port(token as unknown as uWS.us_socket);
  let closing: Promise<void> | null = null;
  return {
    port,
    url: `http://${config.host}:${port}`,
    client: config.client,
    get pending() {
      return inFlight.size;
    },
    close() {
      closing ??= (async () => {
        uWS.us_listen_socket_close(token);
        for (const controller of inFlight) controller.abort(new Stop('disconnect'));
        // Force-closes every accepted socket (their onAborted handlers run).
        (app as TemplatedApp & { close?: () => void }).close?.();
        await fetcher.close();
      })();
      return closing;
    },
  };
}

function fanOut(
  res: HttpResponse,
  suffix: string,
  upstreams: readonly Upstream[],
  timeoutMs: number,
  fetcher: UpstreamFetcher,
  inFlight: Set<AbortController>,
): void {
  const controller = new AbortController();
  inFlight.add(controller);
  let answered = false;
  const done = new Array<boolean>(upstreams.length).fill(false);
  const merged: Record<string, unknown> = {};
  let left = upstreams.length;

  const finish = (status: string, body: string): void => {
    if (answered) return;
    answered = true;
    clearTimeout(timer);
    inFlight.delete(controller);
    res.cork(() => {
      res.writeStatus(status).writeHeader('content-type', 'application/json').end(body);
    });
  };
  const fail = (error: GatewayError): void => {
    if (answered) return;
    controller.abort(new Stop(error.error === 'upstream timed out' ? 'timeout' : 'failure'));
    finish('502 Bad Gateway', JSON.stringify(error));
  };

  // A client that goes away: stop every upstream transfer of its request at once.
  res.onAborted(() => {
    answered = true;
    clearTimeout(timer);
    inFlight.delete(controller);
    controller.abort(new Stop('disconnect'));
  });
  const timer = setTimeout(() => {
    const late = upstreams.filter((_, i) => !done[i]).map((u) => u.name);
    fail({
      error: 'upstream timed out',
      upstream: late[0]!,
      upstreams: late,
      reason: `no answer within ${timeoutMs} ms`,
    });
  }, timeoutMs);

  upstreams.forEach((upstream, i) => {
    fetcher.get(`${upstream.url}${suffix}`, controller.signal).then(
      (answer) => {
        done[i] = true;
        if (answered) return;
        if (answer.status < 200 || answer.status > 299) {
          return fail(failure(upstream, `answered ${answer.status}`));
        }
        try {
          merged[upstream.name] = JSON.parse(answer.body.toString('utf8'));
        } catch {
          return fail(failure(upstream, 'answered something that is not JSON'));
        }
        if (--left === 0) finish('200 OK', JSON.stringify(merged));
      },
      (error: unknown) => {
        done[i] = true;
        if (answered) return;
        const message = error instanceof Error ? error.message : String(error);
        fail(failure(upstream, message));
      },
    );
  });
}

function failure(upstream: Upstream, reason: string): GatewayError {
  return { error: 'upstream failed', upstream: upstream.name, upstreams: [upstream.name], reason };
}
