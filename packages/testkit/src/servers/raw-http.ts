import net from 'node:net';
import { patternBytes } from './pattern.js';
import { MAX_TRAILER_BYTES, trailersFor } from './routes.js';
import type { TestServer } from './types.js';

/** What `startRawHttpServer` answers, by path (any method; a request body is read and dropped). */
export const RAW_ROUTES = {
  /** A 103 Early Hints response (with a Link field), then `200 OK` with the body 'hello'. */
  earlyHints: '/early-hints',
  /** An unasked-for `100 Continue`, then `200 OK` with 'hello'. */
  continue: '/continue',
  /** `/trailers/:n`: n pattern bytes chunked in pieces of at most 16 KiB, then the trailer
   * fields `X-Body-Length` and `X-Body-Sha256` (see trailersFor). */
  trailers: '/trailers/',
  /** A field folded over two lines (obs-fold): `X-Folded: first` + ` second`. */
  folded: '/folded',
  /** Fields in mixed case, two `Set-Cookie` and two `X-Repeated` lines. */
  mixedCase: '/mixed-case',
  /** A complete head announcing 10 bytes, then nothing more (a stream that has not begun). */
  headThenStall: '/head-then-stall',
  /** A head announcing 10 bytes and 5 of them ('hello'), then nothing more. */
  bodyThenStall: '/body-then-stall',
} as const;

const CHUNK = 16 * 1024;

/**
 * HTTP/1.1 written byte by byte on a raw `net` socket, for protocol corners the other servers
 * cannot produce on demand: 1xx responses before the final one, chunked bodies with trailers,
 * obs-fold, header names in mixed case, a body that stops. Keep-alive; one request at a time per
 * connection; close() ends every connection, stalled ones included.
 */
export function startRawHttpServer(): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  let requests = 0;
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
    let buffered = Buffer.alloc(0);
    let bodyLeft = 0;
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        if (bodyLeft > 0) {
          const take = Math.min(bodyLeft, buffered.length);
          bodyLeft -= take;
          buffered = buffered.subarray(take);
          if (bodyLeft > 0) return;
        }
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.toString('latin1', 0, end);
        buffered = buffered.subarray(end + 4);
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        bodyLeft = length ? Number(length[1]) : 0;
        requests++;
        const path = head.split(' ', 2)[1] ?? '/';
        socket.write(answer(path));
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const port = (server.address() as net.AddressInfo).port;
      let closing: Promise<void> | undefined;
      resolve({
        url: `http://127.0.0.1:${port}`,
        port,
        get requests() {
          return requests;
        },
        get connections() {
          return connections;
        },
        close() {
          closing ??= new Promise<void>((done) => {
            server.close(() => done());
            for (const s of sockets) s.destroy();
          });
          return closing;
        },
      });
    });
  });
}

function answer(path: string): Buffer {
  const hello = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello';
  if (path === RAW_ROUTES.earlyHints) {
    return Buffer.from(`HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n${hello}`);
  }
  if (path === RAW_ROUTES.continue) return Buffer.from(`HTTP/1.1 100 Continue\r\n\r\n${hello}`);
  if (path === RAW_ROUTES.folded) {
    return Buffer.from('HTTP/1.1 200 OK\r\nX-Folded: first\r\n second\r\nContent-Length: 2\r\n\r\nok');
  }
  if (path === RAW_ROUTES.mixedCase) {
    return Buffer.from(
      'HTTP/1.1 200 OK\r\nX-Mixed-Case: One\r\nSet-Cookie: a=1\r\nx-repeated: 1\r\n' +
        'Set-Cookie: b=2\r\nX-REPEATED: 2\r\nContent-Length: 2\r\n\r\nok',
    );
  }
  if (path === RAW_ROUTES.headThenStall) {
    return Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n');
  }
  if (path === RAW_ROUTES.bodyThenStall) {
    return Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nhello');
  }
  if (path.startsWith(RAW_ROUTES.trailers)) {
    const n = Number(path.slice(RAW_ROUTES.trailers.length));
    if (Number.isSafeInteger(n) && n >= 0 && n <= MAX_TRAILER_BYTES) {
      const body = patternBytes(n);
      const parts: Buffer[] = [
        Buffer.from(
          'HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nTrailer: X-Body-Length, X-Body-Sha256\r\n\r\n',
        ),
      ];
      for (let at = 0; at < n; at += CHUNK) {
        const piece = body.subarray(at, Math.min(n, at + CHUNK));
        parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
      }
      const trailers = trailersFor(n)
        .map(([name, value]) => `${capitalized(name)}: ${value}\r\n`)
        .join('');
      parts.push(Buffer.from(`0\r\n${trailers}\r\n`));
      return Buffer.concat(parts);
    }
  }
  return Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nnot found\n');
}

/** 'x-body-length' -> 'X-Body-Length', as HTTP/1.1 servers usually write names. */
function capitalized(name: string): string {
  return name
    .split('-')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('-');
}
