// What a command line means once parsed and checked (args/parse.ts makes it).
import type { AdapterName } from './adapters.js';
import type { WriteOut } from './output/write-out.js';

/** A request body given on the command line. */
export type BodySpec =
  /** -d / --data-binary / --data-raw: the bytes, read once. */
  | { kind: 'data'; bytes: Buffer }
  /** -T: a file streamed from disk for every request. */
  | { kind: 'upload'; path: string; size: number };

export interface Config {
  urls: string[];
  /** No URL given: run the demo against the embedded server. */
  demo: boolean;
  adapter: AdapterName;
  concurrency: number;
  /** Requests to make (measured ones; warm-up requests come on top). Null: as long as
   * --duration lasts. */
  requests: number | null;
  /** --duration in ms, null without. */
  durationMs: number | null;
  /** --rate in requests per second, null for a closed loop. */
  rate: number | null;
  warmupMs: number;
  graceMs: number;

  /** The output file of each URL (same index), null for a body that is only counted. */
  outputs: Array<string | null>;
  /** --output-dir (already joined into `outputs`; hiper worker joins it to each job's file). */
  outputDir: string | null;
  createDirs: boolean;
  skipExisting: boolean;
  resume: boolean;

  /** -X, or null for the method the body implies (GET, POST with -d, PUT with -T). */
  method: string | null;
  /** -H, -A, -e, -u, -b DATA and the form Content-Type, in the order they apply. */
  headers: Array<[string, string]>;
  body: BodySpec | null;
  /** -b FILE: libcurl's cookie engine reads it. */
  cookieFile: string | null;
  compressed: boolean;
  followRedirects: boolean;
  maxRedirects: number;

  proxy: string | null;
  resolve: string[];
  connectTimeoutMs: number | null;
  timeoutMs: number | null;
  limitRate: number | null;
  http2: boolean;
  noKeepalive: boolean;
  perHost: number | null;
  ca: Buffer | null;
  cert: Buffer | null;
  key: Buffer | null;
  insecure: boolean;

  fail: boolean;
  retries: number;
  /** --retry-delay in ms; null: exponential from 1 s. */
  retryDelayMs: number | null;
  retryMaxTimeMs: number | null;

  resultsPath: string | null;
  writeOut: WriteOut | null;
  json: boolean;
  verbose: boolean;
  quiet: boolean;
  silent: boolean;
  help: boolean;
  version: boolean;
}
