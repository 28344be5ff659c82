// What the parent hands a client child, and what every client (TypeScript or C) prints back.

/** Every client the bench knows, by the id `--client` takes. */
export const CLIENT_IDS = [
  'raw-libuv',
  'raw-epoll',
  'raw-reactor',
  'raw-kqueue',
  'client',
  'undici',
  'node-http',
  'fetch',
  'undici-agent',
  'undici-curl',
  'fetch-agent',
  'fetch-curl',
  'c',
  'wrk',
  'hiper',
  'curl',
  'autocannon',
] as const;
export type ClientId = (typeof CLIENT_IDS)[number];

/** One run of one client, as the parent describes it to the child. */
export interface RunSpec {
  client: ClientId;
  mode: 'throughput' | 'held';
  url: string;
  /** Transfers kept in flight (throughput) or started at once (held). */
  inflight: number;
  /** Throughput: stop issuing after this long, then drain. */
  durationMs: number;
  /** Body length each answer must have; -1 to skip the check. */
  expectBytes: number;
  /** Throughput: sample CPU time every this many completions. */
  cpuEvery: number;
  /** HTTP/2, streams multiplexed on one connection: h2c with prior knowledge for http://,
   * ALPN h2 for https://. */
  h2: boolean;
  /** The CA certificate for TLS, or null. */
  caPath: string | null;
  /** Held mode: quick requests made before the idle baseline is taken. */
  warmupUrl: string | null;
}

export interface ThroughputResult {
  mode: 'throughput';
  /** Completions before the client stopped issuing (warm-up included). */
  completed: number;
  /** Completions in the measured window (the first fifth excluded). */
  measured: number;
  seconds: number;
  reqPerSec: number;
  /** User + system CPU time per request in the measured window, µs; -1 if too few samples. */
  cpuUsPerReq: number;
  errors: number;
  maxRssKiB: number;
}

export interface HeldResult {
  mode: 'held';
  transfers: number;
  errors: number;
  baselineRssKiB: number;
  peakRssKiB: number;
  rssPerTransferKiB: number;
  /** CPU time from the first start to the last completion. */
  cpuMs: number;
  wallMs: number;
}

export type RunResult = ThroughputResult | HeldResult;
