import http2 from 'node:http2';
import type { CertificateSet } from './certificates.js';
import { PATTERN_CHUNK, patternChunk } from './pattern.js';
import { chunkSizes, EchoBody, FlakyCounts, planRoute, type RoutePlan, trailersFor } from './routes.js';
import type { Http2TestServer } from './types.js';

/** What startHttp2Server takes. */
export interface Http2ServerOptions {
  /** h2 over TLS (ALPN, no HTTP/1.1 fallback) when true; h2c with prior knowledge when false. */
  tls: boolean;
  /** Required when tls is true. */
  certs?: CertificateSet;
  /** TLS only: ask for a client certificate and refuse a handshake without one signed by the
   * test CA (default false). */
  requireClientCert?: boolean;
}

/** node:http2 serving the same routes as the uWS servers. */
export function startHttp2Server(options: Http2ServerOptions): Promise<Http2TestServer> {
  if (typeof options?.tls !== 'boolean')
    throw new TypeError('startHttp2Server: options.tls must be a boolean');
  if (options.tls && typeof options.certs?.serverKey !== 'string') {
    throw new TypeError('startHttp2Server: tls needs certs from makeCertificates()');
  }
  const timers = new Set<NodeJS.Timeout>();
  const flaky = new FlakyCounts();
  const handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    requests++;
    const range = typeof req.headers.range === 'string' ? req.headers.range : undefined;
    respond(req, res, planRoute(req.method, req.url, { range, flaky }), timers);
  };
  const clientCerts = options.requireClientCert === true && options.certs !== undefined;
  const server =
    options.tls && options.certs
      ? http2.createSecureServer(
          {
            key: options.certs.serverKey,
            cert: options.certs.serverCert,
            allowHTTP1: false,
            ...(clientCerts ? { requestCert: true, rejectUnauthorized: true, ca: options.certs.caCert } : {}),
          },
          handler,
        )
      : http2.createServer(handler);

  let requests = 0;
  let streams = 0;
  let connections = 0;
  const sessions = new Set<http2.ServerHttp2Session>();
  const sockets = new Set<import('node:net').Socket>();
  let sessionCount = 0;
  server.on('connection', (socket: import('node:net').Socket) => {
    connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('session', (session) => {
    sessionCount++;
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  server.on('stream', () => {
    streams++;
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const address = server.address();
      if (address === null || typeof address === 'string') {
        reject(new Error('http2 server has no TCP address'));
        return;
      }
      const port = address.port;
      let closing: Promise<void> | undefined;
      resolve({
        url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
        port,
        get requests() {
          return requests;
        },
        get connections() {
          return connections;
        },
        get sessions() {
          return sessionCount;
        },
        get streams() {
          return streams;
        },
        close() {
          closing ??= new Promise<void>((done) => {
            for (const t of timers) clearTimeout(t);
            timers.clear();
            server.close(() => done());
            for (const session of sessions) session.destroy();
            for (const socket of sockets) socket.destroy();
          });
          return closing;
        },
      });
    });
  });
}

function respond(
  req: http2.Http2ServerRequest,
  res: http2.Http2ServerResponse,
  plan: RoutePlan,
  timers: Set<NodeJS.Timeout>,
): void {
  switch (plan.kind) {
    case 'body':
    case 'no-body': {
      res.statusCode = plan.status;
      // setHeader replaces: a repeated header goes in as one array of values.
      const values = new Map<string, string[]>();
      for (const [k, v] of plan.headers) values.set(k, [...(values.get(k) ?? []), v]);
      for (const [k, v] of values) res.setHeader(k, v);
      if (plan.kind === 'body') {
        res.setHeader('content-length', Buffer.byteLength(plan.body));
        res.end(plan.body);
      } else {
        res.end();
      }
      return;
    }
    case 'bytes': {
      const { n, range } = plan;
      const start = range?.first ?? 0;
      const length = range ? range.last - range.first + 1 : n;
      res.statusCode = range ? 206 : 200;
      if (range) res.setHeader('content-range', `bytes ${range.first}-${range.last}/${n}`);
      res.setHeader('accept-ranges', 'bytes');
      res.setHeader('content-type', 'application/octet-stream');
      res.setHeader('content-length', length);
      writeAll(res, chunkSizes(length, PATTERN_CHUNK), start);
      return;
    }
    case 'chunked': {
      // HTTP/2 has no chunked encoding: several DATA frames and no content-length is the analogue.
      res.statusCode = 200;
      res.setHeader('content-type', 'application/octet-stream');
      writeAll(res, chunkSizes(plan.n, PATTERN_CHUNK));
      return;
    }
    case 'trailers': {
      res.statusCode = 200;
      res.setHeader('content-type', 'application/octet-stream');
      res.addTrailers(Object.fromEntries(trailersFor(plan.n)));
      writeAll(res, chunkSizes(plan.n, PATTERN_CHUNK));
      return;
    }
    case 'slow': {
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!res.stream.destroyed) res.end('slow');
      }, plan.ms);
      timers.add(timer);
      res.stream.once('close', () => {
        clearTimeout(timer);
        timers.delete(timer);
      });
      return;
    }
    case 'echo': {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (!k.startsWith(':') && v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      }
      const echo = new EchoBody(req.method, req.url, headers);
      req.on('data', (chunk: Buffer) => echo.update(chunk));
      req.on('end', () => {
        if (res.stream.destroyed) return;
        res.setHeader('content-type', 'application/json');
        res.end(echo.reply());
      });
      return;
    }
  }
}

/** Writes the pattern from `start` in `sizes` pieces, waiting for 'drain' whenever the stream
 * buffers. */
function writeAll(res: http2.Http2ServerResponse, sizes: number[], start = 0): void {
  let next = 0;
  let offset = start;
  const pump = (): void => {
    while (next < sizes.length) {
      if (res.stream.destroyed) return;
      const size = sizes[next++]!;
      const flushed = res.write(patternChunk(offset, size));
      offset += size;
      if (!flushed) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}
