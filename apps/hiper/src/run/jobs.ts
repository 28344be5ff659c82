// What each request fetches: a Job per URL (its options built once), and the plan that gives
// the n-th request of a run its Job.
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import type { RequestOptions } from '@multisock/core';
import type { Config } from '../config.js';

export interface Job {
  url: string;
  /** host:port, for the per-host table. */
  host: string;
  method: string;
  /** Where the body is saved, or null. */
  output: string | null;
  /** The request's options, the same for every request of this Job (undefined: the Client's
   * defaults). */
  options: RequestOptions | undefined;
  /** -T: the file to stream, opened anew for every request. */
  upload: { path: string; size: number } | null;
}

/** The n-th request of a run. */
export type Plan = (n: number) => Job;

export function hostOf(url: string): string {
  const u = new URL(url);
  return u.port === '' ? `${u.hostname}:${u.protocol === 'https:' ? 443 : 80}` : u.host;
}

/** The method the command line implies: -X, else POST for -d and PUT for -T. */
export function methodOf(config: Config): string {
  if (config.method !== null) return config.method;
  if (config.body?.kind === 'data') return 'POST';
  if (config.body?.kind === 'upload') return 'PUT';
  return 'GET';
}

export function jobsFor(config: Config): Job[] {
  const method = methodOf(config);
  const upload = config.body?.kind === 'upload' ? config.body : null;
  return config.urls.map((given, i) => {
    // curl -T file http://host/dir/ puts the file under its own name.
    const url =
      upload && given.endsWith('/') ? `${given}${encodeURIComponent(basename(upload.path))}` : given;
    const options: RequestOptions = {};
    if (method !== 'GET') options.method = method;
    if (config.body?.kind === 'data') options.body = config.body.bytes;
    // HTTP/2 over plain http:// is h2c with prior knowledge.
    if (config.http2 && url.startsWith('http:')) options.httpVersion = 'h2c';
    return {
      url,
      host: hostOf(url),
      method,
      output: config.outputs[i] ?? null,
      options: Object.keys(options).length > 0 ? options : undefined,
      upload: upload ? { path: upload.path, size: upload.size } : null,
    };
  });
}

/** The options of one request of `job`: its own, with a fresh upload stream for -T. */
export function requestOptions(job: Job, extra?: RequestOptions): RequestOptions | undefined {
  if (job.upload === null && extra === undefined) return job.options;
  const options: RequestOptions = { ...job.options, ...extra };
  if (job.upload) {
    options.body = createReadStream(job.upload.path);
    options.bodyLength = job.upload.size;
  }
  return options;
}

/** The URLs in turn. */
export function urlPlan(jobs: Job[]): Plan {
  return (n) => jobs[n % jobs.length]!;
}

/** In the demo, every LARGE_EVERY-th request fetches the 1 MiB body instead of the small one. */
export const LARGE_EVERY = 1000;

/** The demo: small GETs, and a 1 MiB one every LARGE_EVERY requests. */
export function demoPlan(base: string): { plan: Plan; jobs: Job[] } {
  const job = (path: string): Job => ({
    url: `${base}${path}`,
    host: hostOf(base),
    method: 'GET',
    output: null,
    options: undefined,
    upload: null,
  });
  const small = job('/small');
  const large = job('/large');
  return { plan: (n) => (n % LARGE_EVERY === LARGE_EVERY - 1 ? large : small), jobs: [small, large] };
}
