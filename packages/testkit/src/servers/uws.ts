import type {
  HttpRequest,
  HttpResponse,
  TemplatedApp,
  us_listen_socket,
} from '@trufflesuite/uws-js-unofficial';
import uWS from '@trufflesuite/uws-js-unofficial';
import type { CertificateSet } from './certificates.js';
import { PATTERN_CHUNK, patternChunk } from './pattern.js';
import {
  type ByteRange,
  chunkSizes,
  EchoBody,
  FlakyCounts,
  planRoute,
  type RoutePlan,
  statusText,
} from './routes.js';
import { AcceptedConnections } from './tcp-table.js';
import type { TestServer } from './types.js';

/** What startHttpServer and startTlsServer take besides the certificates. */
export interface UwsServerOptions {
  /**
   * Count accepted connections (default true). uWS has no connection event, so requests trigger
   * asynchronous reads of /proc/net/tcp (see AcceptedConnections): turn it off in benchmarks.
   */
  countConnections?: boolean;
}

/** uWebSockets.js HTTP/1.1 on 127.0.0.1, port chosen by the kernel. */
export function startHttpServer(options: UwsServerOptions = {}): Promise<TestServer> {
  return listen(uWS.App(), 'http', options);
}

/** The same routes as `startHttpServer`, over TLS with the server certificate of `certs`. */
export function startTlsServer(certs: CertificateSet, options: UwsServerOptions = {}): Promise<TestServer> {
  if (typeof certs?.serverKeyPath !== 'string' || typeof certs.serverCertPath !== 'string') {
    throw new TypeError('startTlsServer: certs must come from makeCertificates()');
  }
  const app = uWS.SSLApp({ key_file_name: certs.serverKeyPath, cert_file_name: certs.serverCertPath });
  return listen(app, 'https', options);
}

function listen(app: TemplatedApp, scheme: 'http' | 'https', options: UwsServerOptions): Promise<TestServer> {
  const accepted = new AcceptedConnections();
  const countConnections = options.countConnections ?? true;
  const timers = new Set<NodeJS.Timeout>();
  const flaky = new FlakyCounts();
  let requests = 0;

  app.any('/*', (res, req) => {
    requests++;
    if (countConnections) accepted.noteRequest();
    const query = req.getQuery();
    const url = query ? `${req.getUrl()}?${query}` : req.getUrl();
    const method = req.getCaseSensitiveMethod();
    const range = req.getHeader('range') || undefined;
    respond(res, req, method, url, planRoute(method, url, { range, flaky }), timers);
  });

  return new Promise((resolve, reject) => {
    app.listen('127.0.0.1', 0, (token: us_listen_socket | false) => {
      if (!token) {
        reject(new Error(`uWebSockets.js could not listen on 127.0.0.1 (${scheme})`));
        return;
      }
      const port = uWS.us_socket_local_port(token as unknown as uWS.us_socket);
      accepted.setPort(port);
      let closed = false;
      resolve({
        url: `${scheme}://127.0.0.1:${port}`,
        port,
        get requests() {
          return requests;
        },
        get connections() {
          return accepted.count;
        },
        async close() {
          if (closed) return;
          closed = true;
          for (const t of timers) clearTimeout(t);
          timers.clear();
          accepted.stop();
          uWS.us_listen_socket_close(token);
          // app.close() force-closes every accepted socket (their onAborted handlers run).
          (app as TemplatedApp & { close?: () => void }).close?.();
          await new Promise<void>((r) => setImmediate(r));
        },
      });
    });
  });
}

function respond(
  res: HttpResponse,
  req: HttpRequest,
  method: string,
  url: string,
  plan: RoutePlan,
  timers: Set<NodeJS.Timeout>,
): void {
  switch (plan.kind) {
    case 'body':
      res.writeStatus(statusText(plan.status));
      for (const [k, v] of plan.headers) res.writeHeader(k, v);
      res.end(plan.body);
      return;
    case 'no-body':
      res.writeStatus(statusText(plan.status));
      for (const [k, v] of plan.headers) res.writeHeader(k, v);
      res.endWithoutBody();
      return;
    case 'bytes':
      sendBytes(res, plan.n, plan.range);
      return;
    case 'chunked':
      sendChunked(res, plan.n);
      return;
    case 'slow': {
      const timer = setTimeout(() => {
        timers.delete(timer);
        res.cork(() => res.writeStatus('200 OK').writeHeader('content-type', 'text/plain').end('slow'));
      }, plan.ms);
      timers.add(timer);
      res.onAborted(() => {
        clearTimeout(timer);
        timers.delete(timer);
      });
      return;
    }
    case 'trailers':
      res.writeStatus('501 Not Implemented').writeHeader('content-type', 'text/plain');
      res.end('uWebSockets.js cannot send trailers: startRawHttpServer does over HTTP/1.1\n');
      return;
    case 'echo': {
      const headers: Record<string, string> = {};
      req.forEach((k, v) => {
        headers[k] = v;
      });
      const echo = new EchoBody(method, url, headers);
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      res.onData((chunk, isLast) => {
        echo.update(new Uint8Array(chunk)); // hashed now: uWS neuters the ArrayBuffer on return
        if (!isLast || aborted) return;
        const body = echo.reply();
        res.cork(() => res.writeStatus('200 OK').writeHeader('content-type', 'application/json').end(body));
      });
      return;
    }
  }
}

/** n pattern bytes with Content-Length (or the `range` of them, 206), never buffering more than
 * one chunk (tryEnd + onWritable). */
function sendBytes(res: HttpResponse, n: number, range: ByteRange | null): void {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  const start = range?.first ?? 0;
  const length = range ? range.last - range.first + 1 : n;
  if (range) {
    res.writeStatus(statusText(206)).writeHeader('content-range', `bytes ${range.first}-${range.last}/${n}`);
  } else res.writeStatus('200 OK');
  res.writeHeader('accept-ranges', 'bytes').writeHeader('content-type', 'application/octet-stream');
  const pump = (): boolean => {
    while (!aborted) {
      // The write offset counts body bytes uWS accepted, so the next chunk always starts there.
      const offset = res.getWriteOffset();
      const [ok, done] = res.tryEnd(patternChunk(start + offset, length - offset), length);
      if (done) return true;
      if (!ok) return false;
    }
    return true;
  };
  res.onWritable(() => pump());
  pump();
}

/** n pattern bytes in chunked transfer encoding, several writes, waiting for drain between them. */
function sendChunked(res: HttpResponse, n: number): void {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  const sizes = chunkSizes(n, PATTERN_CHUNK);
  let next = 0;
  let offset = 0;
  const pump = (): void => {
    while (!aborted && next < sizes.length) {
      const size = sizes[next++]!;
      const drained = res.write(patternChunk(offset, size));
      offset += size;
      if (!drained) return; // uWS buffered the rest; continue from onWritable
    }
    if (!aborted) res.end();
  };
  res.onWritable(() => {
    res.cork(pump);
    return true;
  });
  res.writeStatus('200 OK').writeHeader('content-type', 'application/octet-stream');
  pump();
}
