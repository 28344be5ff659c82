// The messages between the main thread and the reactor worker (structured-cloned).

/** Main thread -> worker. */
export type Command = { type: 'fetch'; id: number; url: string; timeoutMs: number } | { type: 'close' };

/** Worker -> main thread. */
export type Reply =
  | { type: 'result'; id: number; status: number; bytes: number; timeMs: number }
  | { type: 'error'; id: number; code: number; message: string };

/** What the worker is started with. */
export interface WorkerOptions {
  /** Longest single epoll_wait while transfers run, so new commands are taken at least this often. */
  sliceMs: number;
  /** libcurl's connection cache size (CURLMOPT_MAXCONNECTS). */
  maxConnects: number;
}
