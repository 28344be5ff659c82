// hiper worker: jobs from a Redis stream through a consumer group, at most -c in flight, each
// one's result written to the results stream before the job is acknowledged (finish.ts). Jobs
// a dead worker left pending are claimed after --claim-idle; a job that failed --max-attempts
// times goes to the dead-letter stream. A stop reads nothing more, lets jobs in flight finish
// for --grace and leaves the rest pending for other workers.
import { isAbsolute, join, relative } from 'node:path';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import { errorInfo, type Outcome, succeeded } from '../outcome.js';
import { resultRecord } from '../output/results.js';
import { hostOf, type Job, methodOf } from '../run/jobs.js';
import type { FetchContext } from '../transfer/context.js';
import { fetchOne, newOutcome } from '../transfer/fetch.js';
import { finish, type Write } from './finish.js';
import { jobFields, jobFromEntry, type QueueJob } from './job.js';
import type { Queue } from './queue-url.js';

export interface WorkerOptions {
  queue: Queue;
  group: string;
  consumer: string;
  /** Pending jobs idle this long (ms) belong to a worker presumed dead: claimed. */
  claimIdleMs: number;
  /** Tries of a failing job before it goes to the dead-letter stream. */
  maxAttempts: number;
}

export interface WorkerCounts {
  /** Jobs whose result this worker wrote (ok or not). */
  done: number;
  ok: number;
  /** Failed tries put back in the stream for another try. */
  retried: number;
  dead: number;
  /** Jobs taken over from other consumers (XAUTOCLAIM). */
  claimed: number;
  /** Jobs left pending: stopped in flight, or their result could not be written. */
  leftPending: number;
}

/** [entry id, [field, value, ...]] as XREADGROUP and XAUTOCLAIM return entries. */
type Entry = [string, string[]];

/** How long one XREADGROUP waits for new jobs; a stop does not wait for it. */
const BLOCK_MS = 1000;

export class Worker {
  readonly counts: WorkerCounts = { done: 0, ok: 0, retried: 0, dead: 0, claimed: 0, leftPending: 0 };
  /** Entry ids in flight, and what ends when each is finished. */
  readonly #inFlight = new Map<string, Promise<void>>();
  #slotFreed: (() => void) | null = null;
  #claimCursor = '0-0';
  #index = 0;
  #heartbeat: NodeJS.Timeout | null = null;

  constructor(
    readonly options: WorkerOptions,
    readonly ctx: FetchContext,
    /** Blocking reads go on their own connection, so writes never queue behind one. */
    readonly reader: Redis,
    readonly writer: Redis,
    readonly onOutcome: (o: Outcome) => void,
    readonly report: (line: string) => void,
  ) {}

  get #concurrency(): number {
    return this.ctx.config.concurrency;
  }

  /** Reads, runs and finishes jobs until a stop; resolves once every job in flight is settled. */
  async run(aborted: Promise<void>): Promise<void> {
    const { stop } = this.ctx;
    const stopped = new Promise<null>((resolve) => stop.onStop(() => resolve(null)));
    // A Redis not reachable yet is waited for, unless a stop comes first.
    const group = this.#ensureGroup();
    group.catch(() => {});
    if ((await Promise.race([group.then(() => true), stopped])) === null) return;
    this.#startHeartbeat();
    let lastClaim = 0;
    // Reads wait for a quarter of -c to be free (one round trip per batch, not per job).
    const batch = Math.max(1, Math.floor(this.#concurrency / 4));
    try {
      while (!stop.stopping) {
        while (
          !stop.stopping &&
          this.#concurrency - this.#inFlight.size < Math.min(batch, this.#concurrency)
        ) {
          await Promise.race([new Promise<void>((r) => (this.#slotFreed = r)), stopped]);
        }
        if (stop.stopping) break;
        const free = this.#concurrency - this.#inFlight.size;
        let entries: Entry[] = [];
        try {
          if (performance.now() - lastClaim >= this.#claimEveryMs) {
            lastClaim = performance.now();
            entries = await this.#claim(free);
          }
          if (entries.length === 0) {
            const reading = this.#read(free);
            // A stop does not wait for a blocked read (the connection's end then rejects it).
            reading.catch(() => {});
            const read = await Promise.race([reading, stopped]);
            // Entries a read returned after a stop stay pending, for other workers to claim.
            if (read === null) break;
            entries = read;
          }
        } catch (error) {
          if (!(await this.#recover(error))) break;
          continue;
        }
        for (const entry of entries) this.#start(entry);
      }
    } finally {
      if (this.#heartbeat) clearInterval(this.#heartbeat);
    }
    // Jobs in flight finish (within --grace); a result whose write Redis never takes (it is
    // down) is given a second after the stop's abort, then left pending.
    const settled = Promise.all(this.#inFlight.values()).then(() => {});
    await Promise.race([settled, aborted.then(() => new Promise<void>((r) => setTimeout(r, 1000).unref()))]);
    this.counts.leftPending += this.#inFlight.size;
  }

  get #claimEveryMs(): number {
    return Math.max(100, Math.min(5000, this.options.claimIdleMs / 2));
  }

  /** Creates the consumer group, reading the stream from its start (MKSTREAM: also before
   * anything was enqueued). An existing group is kept as it is. */
  async #ensureGroup(): Promise<void> {
    const { queue, group } = this.options;
    try {
      await this.writer.xgroup('CREATE', queue.stream, group, '0', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).startsWith('BUSYGROUP')) throw error;
    }
  }

  /** A failed read or claim: the group gone (a Redis that restarted without its data) is made
   * again, anything else reported and retried after a second. False when stopped meanwhile. */
  async #recover(error: unknown): Promise<boolean> {
    const message = (error as Error).message;
    this.report(`hiper worker ${this.options.consumer}: ${message}; trying again`);
    if (message.startsWith('NOGROUP')) {
      try {
        await this.#ensureGroup();
      } catch {}
    }
    return this.ctx.stop.sleep(1000);
  }

  /** New jobs, up to `count`; waits at most BLOCK_MS when there are none (a stream with jobs
   * answers at once). */
  async #read(count: number): Promise<Entry[]> {
    const { queue, group, consumer } = this.options;
    const reply = (await this.reader.call(
      'XREADGROUP',
      'GROUP',
      group,
      consumer,
      'COUNT',
      String(count),
      'BLOCK',
      String(BLOCK_MS),
      'STREAMS',
      queue.stream,
      '>',
    )) as Array<[string, Entry[]]> | null;
    return reply?.[0]?.[1] ?? [];
  }

  /** Takes over up to `count` jobs pending longer than --claim-idle (their worker is presumed
   * dead), walking the pending list with a cursor across calls. */
  async #claim(count: number): Promise<Entry[]> {
    const { queue, group, consumer, claimIdleMs } = this.options;
    const reply = (await this.writer.call(
      'XAUTOCLAIM',
      queue.stream,
      group,
      consumer,
      String(claimIdleMs),
      this.#claimCursor,
      'COUNT',
      String(count),
    )) as [string, Array<Entry | null>];
    this.#claimCursor = reply[0];
    // Entries deleted from the stream meanwhile come back as null (Redis 6.2).
    const entries = reply[1].filter((e): e is Entry => e !== null && !this.#inFlight.has(e[0]));
    this.counts.claimed += entries.length;
    return entries;
  }

  /** Keeps the jobs in flight from looking idle to other workers' claims, however long they
   * take: XCLAIM with JUSTID resets their idle time. */
  #startHeartbeat(): void {
    const { queue, group, consumer, claimIdleMs } = this.options;
    this.#heartbeat = setInterval(
      () => {
        const ids = [...this.#inFlight.keys()];
        if (ids.length === 0) return;
        this.writer.call('XCLAIM', queue.stream, group, consumer, '0', ...ids, 'JUSTID').catch(() => {});
      },
      Math.max(50, claimIdleMs / 3),
    );
    this.#heartbeat.unref();
  }

  #start([entryId, fields]: Entry): void {
    const done = this.#handle(entryId, fields).finally(() => {
      this.#inFlight.delete(entryId);
      this.#slotFreed?.();
    });
    this.#inFlight.set(entryId, done);
  }

  async #handle(entryId: string, fields: string[]): Promise<void> {
    const { config } = this.ctx;
    let job: QueueJob;
    let request: Job;
    try {
      job = jobFromEntry(entryId, fields);
      request = requestFor(job, config);
    } catch (error) {
      // A job no try can cure goes to the dead letters at once.
      const o = newOutcome(badJob(fields), this.#index++, performance.now() - this.ctx.runStart);
      o.error = { code: -1, name: 'HIPER_BAD_JOB', message: (error as Error).message };
      const id = fieldsId(fields) ?? entryId;
      await this.#finish(entryId, { id, url: o.url, attempt: 1 }, o, true);
      return;
    }
    const o = await fetchOne(this.ctx, request, this.#index++, performance.now());
    // Stopped before it finished: no result, so no acknowledgement; another worker runs it.
    if (o.cancelled) {
      this.counts.leftPending++;
      return;
    }
    this.onOutcome(o);
    const failed = !succeeded(o);
    await this.#finish(entryId, job, o, failed && job.attempt >= this.options.maxAttempts);
  }

  /** Writes what `o` came to and acknowledges the job: a result, or (a failure with tries left)
   * the job again for another try, or a result and a dead letter. */
  async #finish(
    entryId: string,
    job: Pick<QueueJob, 'id' | 'url' | 'attempt'> & Partial<QueueJob>,
    o: Outcome,
    dead: boolean,
  ): Promise<void> {
    const { queue, group, consumer } = this.options;
    const writes: Write[] = [];
    const failed = !succeeded(o);
    if (failed && !dead) {
      const again: QueueJob = { ...(job as QueueJob), attempt: job.attempt + 1, lastError: o.error! };
      writes.push({ stream: queue.stream, fields: jobFields(again) });
    } else {
      const record = { id: job.id, ...resultRecord(o), attempt: job.attempt, worker: consumer };
      writes.push({
        stream: queue.results,
        fields: ['id', job.id, 'url', job.url, 'record', JSON.stringify(record)],
      });
      if (dead) {
        writes.push({
          stream: queue.dead,
          fields: [
            'id',
            job.id,
            'url',
            job.url,
            'attempts',
            String(job.attempt),
            'error',
            JSON.stringify(o.error),
          ],
        });
      }
    }
    let finished: boolean;
    try {
      finished = await finish(this.writer, queue.stream, group, entryId, writes);
    } catch (error) {
      // Left pending: claimed again after --claim-idle, by this worker or another.
      this.counts.leftPending++;
      this.report(
        `hiper worker ${consumer}: job ${job.id}: cannot write its result: ${errorInfo(error).message}`,
      );
      return;
    }
    // Already acknowledged: another worker claimed this job and finished it first.
    if (!finished) return;
    if (failed && !dead) this.counts.retried++;
    else {
      this.counts.done++;
      if (!failed) this.counts.ok++;
      if (dead) this.counts.dead++;
    }
  }
}

function fieldsId(fields: string[]): string | null {
  const i = fields.findIndex((f, n) => n % 2 === 0 && f === 'id');
  return i >= 0 ? (fields[i + 1] ?? null) : null;
}

/** What a bad job's result shows of it. */
function badJob(fields: string[]): Job {
  const i = fields.findIndex((f, n) => n % 2 === 0 && f === 'url');
  const url = i >= 0 ? (fields[i + 1] ?? '') : '';
  return { url, host: '', method: '', output: null, options: undefined, upload: null };
}

/** The request a job makes: the worker's flags (config), with the job's method, headers, body
 * and output file over them. */
export function requestFor(job: QueueJob, config: Config): Job {
  const method = job.method ?? (job.body !== undefined ? 'POST' : methodOf(config));
  const request: Job = {
    url: job.url,
    host: hostOf(job.url),
    method,
    output: job.output === undefined ? null : outputPath(job.output, config.outputDir),
    options: undefined,
    upload: null,
  };
  const options: NonNullable<Job['options']> = {};
  if (method !== 'GET') options.method = method;
  if (job.body !== undefined) options.body = Buffer.from(job.body);
  else if (config.body?.kind === 'data') options.body = config.body.bytes;
  else if (config.body?.kind === 'upload')
    request.upload = { path: config.body.path, size: config.body.size };
  if (job.headers !== undefined) options.headers = job.headers;
  if (config.http2 && job.url.startsWith('http:')) options.httpVersion = 'h2c';
  if (Object.keys(options).length > 0) request.options = options;
  return request;
}

/** A job's file, under --output-dir when the worker has one (and then never outside it). */
function outputPath(output: string, outputDir: string | null): string {
  if (outputDir === null) return output;
  const path = isAbsolute(output) ? output : join(outputDir, output);
  const inside = relative(outputDir, path);
  if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) {
    throw new Error(`output ${output} is outside --output-dir ${outputDir}`);
  }
  return path;
}
