import net from 'node:net';
import type { TestServer } from './types.js';

/** How a fault server misbehaves. Each kind fails a client in one well-defined way. */
export type FaultKind =
  | 'reset-after-headers'
  | 'reset-after-body'
  | 'stall'
  | 'short-body'
  | 'malformed-status'
  | 'close-on-accept'
  | 'drip'
  | 'huge-headers';

/** Every kind startFaultServer knows. */
export const FAULT_KINDS: readonly FaultKind[] = [
  'reset-after-headers',
  'reset-after-body',
  'stall',
  'short-body',
  'malformed-status',
  'close-on-accept',
  'drip',
  'huge-headers',
];

/** Size of the header block the 'huge-headers' server sends: one line above libcurl's 100 KiB cap. */
export const HUGE_HEADER_BYTES = 100 * 1024;
/** Body length and byte interval of the 'drip' server. */
export const DRIP_BYTES = 100;
/** The interval between the 'drip' server's bytes, in ms. */
export const DRIP_INTERVAL_MS = 10;
/** The body 'reset-after-body' sends before its reset. */
export const RESET_BODY = 'complete body\n';
/** How long 'reset-after-headers' waits between the headers and the reset. */
export const RESET_DELAY_MS = 20;

/** A fault server, as startFaultServer resolves it. */
export interface FaultServer extends TestServer {
  readonly kind: FaultKind;
}

/** A raw TCP server on 127.0.0.1 that answers every request with the fault `kind`. */
export function startFaultServer(kind: FaultKind): Promise<FaultServer> {
  if (!FAULT_KINDS.includes(kind)) {
    throw new RangeError(
      `startFaultServer: unknown kind ${JSON.stringify(kind)} (one of ${FAULT_KINDS.join(', ')})`,
    );
  }
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let requests = 0;
  let connections = 0;

  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => {}); // a client that resets is part of the game
    socket.once('close', () => sockets.delete(socket));
    if (kind === 'close-on-accept') {
      // FIN at once, then read and discard: closing with the request unread would send an RST
      // instead, and which one the client saw would depend on timing.
      socket.end();
      socket.resume();
      return;
    }
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.resume(); // discard any request body
      requests++;
      answer(kind, socket, timers);
    };
    socket.on('data', onData);
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const port = (server.address() as net.AddressInfo).port;
      let closing: Promise<void> | undefined;
      resolve({
        kind,
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
            for (const t of timers) clearInterval(t);
            timers.clear();
            server.close(() => done());
            for (const s of sockets) s.destroy();
          });
          return closing;
        },
      });
    });
  });
}

function answer(kind: FaultKind, socket: net.Socket, timers: Set<NodeJS.Timeout>): void {
  switch (kind) {
    case 'reset-after-headers': {
      // The headers, then (while the client waits for the body) an RST instead of a FIN. The pause
      // lets the client read the headers first: headers and RST in one wakeup make libuv report EOF.
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!socket.destroyed) socket.resetAndDestroy();
      }, RESET_DELAY_MS);
      timers.add(timer);
      return;
    }
    case 'reset-after-body':
      // A complete response, then an RST right behind it: the client finds both at once. Not a
      // failure for the client (the body is whole), unless it reports the error before reading.
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${RESET_BODY.length}\r\n\r\n${RESET_BODY}`, () =>
        socket.resetAndDestroy(),
      );
      return;
    case 'stall':
      return; // read the request, never answer; close() destroys the socket
    case 'short-body':
      socket.end(`HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n${'x'.repeat(10)}`);
      return;
    case 'malformed-status':
      socket.end('HTTP/1.1 abc\r\n');
      return;
    case 'drip': {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${DRIP_BYTES}\r\n\r\n`);
      let sent = 0;
      const timer = setInterval(() => {
        if (socket.destroyed) {
          clearInterval(timer);
          timers.delete(timer);
          return;
        }
        socket.write('d');
        if (++sent === DRIP_BYTES) {
          clearInterval(timer);
          timers.delete(timer);
        }
      }, DRIP_INTERVAL_MS);
      timers.add(timer);
      socket.once('close', () => {
        clearInterval(timer);
        timers.delete(timer);
      });
      return;
    }
    case 'huge-headers':
      socket.end(
        `HTTP/1.1 200 OK\r\nX-Huge: ${'h'.repeat(HUGE_HEADER_BYTES)}\r\nContent-Length: 2\r\n\r\nok`,
      );
      return;
    case 'close-on-accept':
      return; // handled at accept
  }
}
