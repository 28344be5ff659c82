// --retry: which failures are worth another try, and how long to wait before it.
import type { ResponseHeaders } from '@multisock/core';
import type { Outcome } from '../outcome.js';

/** libcurl codes of failures that another try can cure: the network, not the request. */
export const TRANSIENT_CODES: ReadonlyMap<number, string> = new Map([
  [6, 'CURLE_COULDNT_RESOLVE_HOST'],
  [7, 'CURLE_COULDNT_CONNECT'],
  [16, 'CURLE_HTTP2'],
  [18, 'CURLE_PARTIAL_FILE'],
  [28, 'CURLE_OPERATION_TIMEDOUT'],
  [35, 'CURLE_SSL_CONNECT_ERROR'],
  [52, 'CURLE_GOT_NOTHING'],
  [55, 'CURLE_SEND_ERROR'],
  [56, 'CURLE_RECV_ERROR'],
  [92, 'CURLE_HTTP2_STREAM'],
]);

/** Statuses that say "try again later": 408, 429 and every 5xx. */
export function transientStatus(status: number | null): boolean {
  return status === 408 || status === 429 || (status !== null && status >= 500 && status <= 599);
}

export function transient(o: Outcome): boolean {
  if (transientStatus(o.status)) return true;
  return o.error !== null && TRANSIENT_CODES.has(o.error.code);
}

/** The longest wait, backoff or Retry-After alike. */
export const MAX_RETRY_WAIT_MS = 600_000;
export const FIRST_RETRY_WAIT_MS = 1000;

/** Retry-After (seconds or an HTTP date) in ms, capped; null when absent or unreadable. */
export function retryAfterMs(headers: ResponseHeaders | null, now = Date.now()): number | null {
  const value = headers?.get('retry-after')?.trim();
  if (value === undefined || value === '') return null;
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value) - now;
  if (!Number.isFinite(ms)) return null;
  return Math.min(MAX_RETRY_WAIT_MS, Math.max(0, ms));
}

export interface RetryPolicy {
  retries: number;
  /** A fixed wait (--retry-delay), or null for exponential backoff from 1 s. */
  delayMs: number | null;
  /** No retry starts later than this after the first try (--retry-max-time). */
  maxTimeMs: number | null;
}

/**
 * How long to wait before trying `o` again, or null for no retry. `tried`: retries made so
 * far; `sinceFirstMs`: time since the first try started. A server's Retry-After wins over the
 * backoff, as in curl.
 */
export function retryWait(
  policy: RetryPolicy,
  o: Outcome,
  tried: number,
  sinceFirstMs: number,
): number | null {
  if (tried >= policy.retries || !transient(o)) return null;
  const wait =
    retryAfterMs(o.headers) ??
    policy.delayMs ??
    Math.min(MAX_RETRY_WAIT_MS, FIRST_RETRY_WAIT_MS * 2 ** tried);
  if (policy.maxTimeMs !== null && sinceFirstMs + wait > policy.maxTimeMs) return null;
  return wait;
}
