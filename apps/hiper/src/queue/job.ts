// A job as it sits in the stream: one entry whose fields are strings. `hiper enqueue` writes
// them, the worker reads them back and checks them (anything can XADD to a stream).
import { randomUUID } from 'node:crypto';
import type { ErrorInfo } from '../outcome.js';

export interface QueueJob {
  /** Chosen by whoever enqueues (a UUID by default); results carry it, for deduplication. */
  id: string;
  url: string;
  /** Unset: what the worker's flags imply (GET, POST with -d...). */
  method?: string;
  /** Added to (and replacing same-named) headers of the worker's flags. */
  headers?: Array<[string, string]>;
  /** The request body, as UTF-8 text. */
  body?: string;
  /** Save the body to this file (under the worker's --output-dir when it has one). */
  output?: string;
  /** Which try this is: 1, then one more each time a failure puts the job back. */
  attempt: number;
  /** The failure of the try before. */
  lastError?: ErrorInfo;
}

/** An HTTP token (RFC 9110 5.6.2): methods and header names. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * A job from loose input (a JSON line of `hiper enqueue -f`, or the fields of a stream entry):
 * checked, or an Error saying what is wrong with it. `headers` may be an array of [name, value]
 * pairs, an object, or an array of 'Name: value' strings.
 */
export function checkJob(input: Record<string, unknown>): QueueJob {
  const { url, id, method, headers, body, output, attempt, lastError } = input;
  if (typeof url !== 'string' || url === '') throw new Error('the job has no url');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`not a URL: '${url}'`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new Error(`only http:// and https:// URLs are fetched, got '${url}'`);
  }
  const job: QueueJob = { id: id === undefined ? randomUUID() : String(id), url, attempt: 1 };
  if (job.id === '') throw new Error('the job id is empty');
  if (method !== undefined) {
    if (typeof method !== 'string' || !TOKEN.test(method))
      throw new Error(`not a method: ${JSON.stringify(method)}`);
    job.method = method.toUpperCase();
  }
  if (headers !== undefined) job.headers = checkHeaders(headers);
  if (body !== undefined) {
    if (typeof body !== 'string') throw new Error('body must be a string');
    job.body = body;
  }
  if (output !== undefined) {
    if (typeof output !== 'string' || output === '') throw new Error('output must be a file name');
    job.output = output;
  }
  if (attempt !== undefined) {
    const n = Number(attempt);
    if (!Number.isSafeInteger(n) || n < 1)
      throw new Error(`attempt must be a positive integer, got '${attempt}'`);
    job.attempt = n;
  }
  if (lastError !== undefined) job.lastError = lastError as ErrorInfo;
  return job;
}

function checkHeaders(raw: unknown): Array<[string, string]> {
  const pairs: unknown[][] = [];
  if (Array.isArray(raw)) {
    for (const h of raw) {
      if (typeof h === 'string') {
        const colon = h.indexOf(':');
        if (colon < 1) throw new Error(`a header must look like 'Name: value', got '${h}'`);
        pairs.push([h.slice(0, colon).trim(), h.slice(colon + 1).trim()]);
      } else if (Array.isArray(h) && h.length === 2) pairs.push(h);
      else throw new Error(`a header must be [name, value] or 'Name: value', got ${JSON.stringify(h)}`);
    }
  } else if (raw !== null && typeof raw === 'object') pairs.push(...Object.entries(raw));
  else throw new Error('headers must be an array or an object');
  return pairs.map(([name, value]) => {
    if (typeof name !== 'string' || !TOKEN.test(name))
      throw new Error(`header name ${JSON.stringify(name)} is not an HTTP token`);
    if (typeof value !== 'string' || /[\r\n\0]/.test(value)) {
      throw new Error(`header ${name}: the value must be a string without CR, LF or NUL`);
    }
    return [name, value];
  });
}

/** The entry's fields for XADD, as a flat [field, value, ...] list. */
export function jobFields(job: QueueJob): string[] {
  const fields = ['id', job.id, 'url', job.url];
  if (job.method !== undefined) fields.push('method', job.method);
  if (job.headers !== undefined) fields.push('headers', JSON.stringify(job.headers));
  if (job.body !== undefined) fields.push('body', job.body);
  if (job.output !== undefined) fields.push('output', job.output);
  if (job.attempt > 1) fields.push('attempt', String(job.attempt));
  if (job.lastError !== undefined) fields.push('lastError', JSON.stringify(job.lastError));
  return fields;
}

/** A flat [field, value, ...] list (as XREADGROUP returns an entry) as an object. */
export function fieldsObject(flat: readonly string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
  return fields;
}

/** A stream entry's fields as a job, or an Error saying why they are none. */
export function jobFromEntry(entryId: string, flat: readonly string[]): QueueJob {
  const f: Record<string, unknown> = fieldsObject(flat);
  // An entry added by hand without an id is still one job: its entry id names it.
  f.id ??= entryId;
  for (const key of ['headers', 'lastError'] as const) {
    if (typeof f[key] !== 'string') continue;
    try {
      f[key] = JSON.parse(f[key] as string);
    } catch {
      throw new Error(`${key} is not JSON`);
    }
  }
  return checkJob(f);
}
