/** What every test server exposes. The test that starts a server closes it. */
export interface TestServer {
  /** `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** Requests (HTTP/2: streams) the server has started to answer. */
  readonly requests: number;
  /** Connections the server accepted. */
  readonly connections: number;
  /** Frees the listen socket and every accepted connection. */
  close(): Promise<void>;
}

/** An HTTP/2 server, as startHttp2Server resolves it: a TestServer that also counts sessions
 * and streams. */
export interface Http2TestServer extends TestServer {
  /** Distinct HTTP/2 connections (sessions). */
  readonly sessions: number;
  /** HTTP/2 streams opened by clients. */
  readonly streams: number;
}
