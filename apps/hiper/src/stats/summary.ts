// The summary a run ends with: `--json` prints this object (its schema is in the README).
import type { LatencyBucket } from './latency.js';

export interface FailedUrl {
  url: string;
  status: number | null;
  error: string;
  message: string;
}

export interface HostRow {
  requests: number;
  failed: number;
  bytes: number;
  meanLatencyMs: number;
}

export interface Summary {
  /** The schema's version: 1. Fields may be added; none is removed or changes meaning. */
  version: 1;
  adapter: string;
  /** 'count': -n requests (or each URL once); 'duration': --duration; 'rate': --rate. */
  mode: 'count' | 'duration' | 'rate';
  urls: number;
  concurrency: number;
  /** --rate: requests per second asked for and started (in the measured time). */
  rate: { target: number; achieved: number } | null;
  requests: number;
  ok: number;
  failed: number;
  /** Ended by a stop before they finished (not failures). */
  cancelled: number;
  /** --skip-existing: files that were already there. */
  skipped: number;
  /** Retries made, over every request. */
  retries: number;
  /** Failures by libcurl code name (CURLE_...). */
  errors: Record<string, number>;
  /** Responses by HTTP status. */
  statuses: Record<string, number>;
  /** Requests by host (host:port), most requested first. */
  hosts: Record<string, HostRow>;
  /** The first failed requests (the rest are in --results). */
  failedUrls: FailedUrl[];
  durationMs: number;
  requestsPerSecond: number;
  bytes: number;
  mibPerSecond: number;
  /** Requests' latencies (skipped and cancelled ones left out), from an HDR histogram. */
  latencyMs: { min: number; mean: number; p50: number; p90: number; p99: number; p999: number; max: number };
  /** The latency histogram the table draws. */
  histogram: LatencyBucket[];
  /** New connections the transfers opened, failed ones included: the sum of libcurl's
   * NUM_CONNECTS (the Client's connectionsOpened). Warm-up requests included. */
  connectionsOpened: number;
  savedFiles: number;
  warmupRequests: number;
  /** 'SIGINT' or 'SIGTERM' when a signal stopped the run, else null. */
  stoppedBy: 'SIGINT' | 'SIGTERM' | null;
  /** What the embedded server counted (demo only). */
  server?: { requests: number; bodyBytes: number };
}
