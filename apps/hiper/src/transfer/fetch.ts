// One request of a run, tries and waits included: the body counted (request()) or saved to
// disk (download.ts), --fail applied, transient failures retried.
import type { Response } from '@multisock/core';
import { errorInfo, httpFailure, type Outcome } from '../outcome.js';
import { type Job, requestOptions } from '../run/jobs.js';
import type { FetchContext } from './context.js';
import { download } from './download.js';
import { type RetryPolicy, retryWait, transientStatus } from './retry.js';

export function newOutcome(job: Job, index: number, startMs: number): Outcome {
  return {
    index,
    url: job.url,
    effectiveUrl: job.url,
    method: job.method,
    status: null,
    httpVersion: null,
    bytes: 0,
    startMs,
    latencyMs: 0,
    lastTryMs: 0,
    retries: 0,
    redirects: 0,
    connects: 0,
    headers: null,
    timings: null,
    output: job.output,
    resumedFrom: 0,
    skipped: false,
    cancelled: false,
    error: null,
  };
}

/** Resets what one try fills in, before the next. */
function clearTry(o: Outcome): void {
  o.status = null;
  o.httpVersion = null;
  o.bytes = 0;
  o.headers = null;
  o.timings = null;
  o.error = null;
  o.effectiveUrl = o.url;
}

/** A whole body, read by the Client: counted, not kept. */
async function counted(ctx: FetchContext, job: Job, o: Outcome): Promise<void> {
  let res: Response;
  try {
    res = await ctx.client.request(job.url, requestOptions(job));
  } catch (error) {
    o.error = errorInfo(error);
    return;
  }
  o.status = res.status;
  o.httpVersion = res.httpVersion;
  o.bytes = res.body.length;
  o.effectiveUrl = res.url;
  o.redirects = res.redirects;
  o.connects += res.connectionsOpened;
  o.timings = res.timings;
  // Headers are parsed only when something reads them: -w, or a Retry-After to honour.
  if (ctx.keepHeaders || (ctx.config.retries > 0 && transientStatus(res.status))) o.headers = res.headers;
  if (ctx.config.fail && res.status >= 400) o.error = httpFailure(res.status);
}

/**
 * Runs `job` as the request numbered `index`, due at `dueAt` (performance.now() ms): with
 * --rate the time it was scheduled for, so its latency counts from then, not from when it got
 * to start.
 */
export async function fetchOne(ctx: FetchContext, job: Job, index: number, dueAt: number): Promise<Outcome> {
  const o = newOutcome(job, index, dueAt - ctx.runStart);
  const policy: RetryPolicy = {
    retries: ctx.config.retries,
    delayMs: ctx.config.retryDelayMs,
    maxTimeMs: ctx.config.retryMaxTimeMs,
  };
  const first = performance.now();
  for (let tried = 0; ; ) {
    const start = performance.now();
    if (job.output === null) await counted(ctx, job, o);
    else await download(ctx, job, o);
    o.lastTryMs = performance.now() - start;
    if (o.skipped) break;
    if (ctx.stop.aborted && o.error !== null) {
      o.cancelled = true;
      break;
    }
    const wait = ctx.stop.stopping ? null : retryWait(policy, o, tried, performance.now() - first);
    if (wait === null) break;
    // A stop during the wait ends the request with this try's failure.
    if (!(await ctx.stop.sleep(wait))) break;
    tried++;
    o.retries = tried;
    clearTry(o);
  }
  o.latencyMs = performance.now() - dueAt;
  return o;
}
