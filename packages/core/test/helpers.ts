import { readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Multi, Poll, SOCKET_TIMEOUT } from '@multisock/core';

/**
 * Drives a Multi without an adapter (the core cannot depend on one): follows SOCKETFUNCTION and
 * TIMERFUNCTION like an application would, and every millisecond lets libcurl check each socket
 * it asked for (ev_bitmask 0: "libcurl checks"). Records every callback for assertions.
 */
export function probeDriver(multi: Multi) {
  const sockets = new Map<number, number>();
  const calls: Array<
    { kind: 'socket'; socket: number; what: number; socketp: unknown } | { kind: 'timer'; ms: number }
  > = [];
  let timer: NodeJS.Timeout | undefined;
  const act = (socket: number) => {
    if (!multi.closed) multi.socketAction(socket, 0);
  };
  multi.setopt('SOCKETFUNCTION', (_easy, socket, what, _clientp, socketp) => {
    calls.push({ kind: 'socket', socket, what, socketp });
    if (what === Poll.REMOVE) sockets.delete(socket);
    else sockets.set(socket, what);
    return 0;
  });
  multi.setopt('TIMERFUNCTION', (_multi, ms) => {
    calls.push({ kind: 'timer', ms });
    clearTimeout(timer);
    if (ms >= 0) timer = setTimeout(() => act(SOCKET_TIMEOUT), ms);
    return 0;
  });
  const interval = setInterval(() => {
    for (const socket of [...sockets.keys()]) act(socket);
  }, 1);
  return {
    sockets,
    calls,
    stop() {
      clearInterval(interval);
      clearTimeout(timer);
    },
  };
}

export async function startServer(handler: http.RequestListener = (_req, res) => res.end('hello world\n')) {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Waits until the process's open fd count is back to `baseline`. */
export async function fdsBackTo(baseline: number, timeoutMs = 2000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (openFds() > baseline && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return openFds();
}
