import type { HttpResponse, TemplatedApp, us_listen_socket } from '@trufflesuite/uws-js-unofficial';
import uWS from '@trufflesuite/uws-js-unofficial';

/** The demo's two bodies: a small one most requests get, and a larger one now and then. */
export const SMALL_BODY = Buffer.from('hello world\n');
export const LARGE_BYTES = 1024 * 1024;
const LARGE_BODY = Buffer.alloc(LARGE_BYTES, 'multisock ');

/** What the embedded server counted, to set beside the client's own numbers. */
export interface ServerCounts {
  requests: number;
  /** Response body bytes fully handed to the kernel. */
  bodyBytes: number;
}

export interface DemoServer {
  readonly url: string;
  readonly counts: ServerCounts;
  close(): void;
}

/**
 * uWebSockets.js on 127.0.0.1, a port the kernel picks. GET /small and GET /large; anything
 * else is a 404. Runs on the same loop as hiper itself, which is what a demo on one machine is.
 */
export function startDemoServer(): Promise<DemoServer> {
  const app: TemplatedApp = uWS.App();
  const counts: ServerCounts = { requests: 0, bodyBytes: 0 };
  app.get('/small', (res) => {
    counts.requests++;
    res.cork(() => {
      res.writeHeader('content-type', 'text/plain').end(SMALL_BODY);
    });
    counts.bodyBytes += SMALL_BODY.length;
  });
  app.get('/large', (res) => {
    counts.requests++;
    sendLarge(res, counts);
  });
  app.any('/*', (res) => {
    counts.requests++;
    res.cork(() => {
      res.writeStatus('404 Not Found').end('not found\n');
    });
  });
  return new Promise((resolve, reject) => {
    app.listen('127.0.0.1', 0, (token: us_listen_socket | false) => {
      if (!token) {
        reject(new Error('the demo server could not listen on 127.0.0.1'));
        return;
      }
      const port = uWS.us_socket_local_port(token as unknown as uWS.us_socket);
      let closed = false;
      resolve({
        url: `http://127.0.0.1:${port}`,
        counts,
        close() {
          if (closed) return;
          closed = true;
          uWS.us_listen_socket_close(token);
          // Also drops keep-alive connections, where this build has app.close().
          (app as TemplatedApp & { close?: () => void }).close?.();
        },
      });
    });
  });
}

/** 1 MiB without buffering it all in uWS: tryEnd, then onWritable while the socket is full. */
function sendLarge(res: HttpResponse, counts: ServerCounts): void {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  const pump = (): boolean => {
    const offset = res.getWriteOffset();
    const [ok, done] = res.tryEnd(LARGE_BODY.subarray(offset), LARGE_BODY.length);
    if (done) counts.bodyBytes += LARGE_BODY.length;
    return ok || done;
  };
  res.cork(() => {
    res.writeHeader('content-type', 'application/octet-stream');
    if (!pump() && !aborted) res.onWritable(() => pump());
  });
}
