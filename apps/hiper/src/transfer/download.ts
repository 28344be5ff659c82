// Saving a body to disk: streamed (the transfer pauses while the disk is behind, so no body is
// ever held whole), written to FILE.part and renamed to FILE once complete. A failed or stopped
// transfer leaves nothing under FILE; with -C - its FILE.part stays for the next run to resume
// with a Range request.
import { constants } from 'node:fs';
import { access, mkdir, open, rename, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { RequestOptions, StreamResponse } from '@multisock/core';
import { errorInfo, HiperError, httpFailure, type Outcome, WRITE_ERROR } from '../outcome.js';
import { type Job, requestOptions } from '../run/jobs.js';
import type { FetchContext } from './context.js';
import { transientStatus } from './retry.js';

/** CURLE_RANGE_ERROR: the server does not answer the range asked for. */
const RANGE_ERROR = 33;

export const PART_SUFFIX = '.part';

function fileError(what: string, path: string, error: unknown): Outcome['error'] {
  const detail = error instanceof Error ? error.message : String(error);
  return errorInfo(
    new HiperError(WRITE_ERROR, 'CURLE_WRITE_ERROR', `cannot ${what} ${path}: ${detail}`, { cause: error }),
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

/**
 * With -C -: how much of the file is already here. FILE.part from an earlier run is resumed;
 * so is a FILE left by another tool, first moved to FILE.part (so that, if this run stops too,
 * FILE holds no truncated body).
 */
async function resumeOffset(final: string, part: string): Promise<number> {
  const partial = await sizeOf(part);
  if (partial !== null) return partial;
  const whole = await sizeOf(final);
  if (whole === null || whole === 0) return 0;
  await rename(final, part);
  return whole;
}

// `bytes 100-199/200` -> { first: 100, total: 200 }; `bytes */200` -> { first: null, total: 200 }.
function contentRange(value: string | null): { first: number | null; total: number | null } | null {
  const m = value === null ? null : /^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/i.exec(value.trim());
  if (!m) return null;
  return { first: m[1] === undefined ? null : Number(m[1]), total: m[2] === '*' ? null : Number(m[2]) };
}

function head(ctx: FetchContext, o: Outcome, res: StreamResponse): void {
  o.status = res.status;
  o.httpVersion = res.httpVersion;
  o.effectiveUrl = res.url;
  o.redirects = res.redirects;
  o.connects += res.connectionsOpened;
  o.timings = res.timings;
  if (ctx.keepHeaders || (ctx.config.retries > 0 && transientStatus(res.status))) o.headers = res.headers;
}

/** A response that is not saved: its body is dropped, which ends the transfer. */
function discard(res: StreamResponse): void {
  res.body.destroy();
}

export async function download(ctx: FetchContext, job: Job, o: Outcome, whole = false): Promise<void> {
  const final = job.output!;
  const part = final + PART_SUFFIX;
  const { config, temp } = ctx;
  if (config.skipExisting && (await exists(final))) {
    o.skipped = true;
    return;
  }
  try {
    if (config.createDirs) await mkdir(dirname(final), { recursive: true });
  } catch (error) {
    o.error = fileError('create the folder of', final, error);
    return;
  }
  let offset = 0;
  if (config.resume && !whole) {
    try {
      offset = await resumeOffset(final, part);
    } catch (error) {
      o.error = fileError('resume', final, error);
      return;
    }
  }
  // Offsets count bytes of the file, so a resumed transfer asks for the body as it is.
  const extra: RequestOptions | undefined =
    offset > 0 ? { headers: [['Range', `bytes=${offset}-`]], decompress: false } : undefined;
  let res: StreamResponse;
  try {
    res = await ctx.client.stream(job.url, requestOptions(job, extra));
  } catch (error) {
    o.error = errorInfo(error);
    return;
  }
  head(ctx, o, res);
  if (config.fail && res.status >= 400) {
    discard(res);
    o.error = httpFailure(res.status);
    return;
  }
  let append = false;
  if (offset > 0) {
    const range = contentRange(res.headers.get('content-range'));
    if (res.status === 206) {
      if (range?.first !== offset) {
        discard(res);
        o.error = {
          code: RANGE_ERROR,
          name: 'CURLE_RANGE_ERROR',
          message: `asked for bytes ${offset}- of ${job.url}, the server sent ${res.headers.get('content-range') ?? 'no Content-Range'}`,
        };
        return;
      }
      append = true;
      o.resumedFrom = offset;
    } else if (res.status === 416) {
      discard(res);
      if (range?.total === offset) {
        // The partial file is the whole body already.
        o.resumedFrom = offset;
        try {
          await rename(part, final);
        } catch (error) {
          o.error = fileError('rename', part, error);
        }
        return;
      }
      // The file on the server is shorter than what is here: fetch it whole again.
      return download(ctx, job, o, true);
    } else if (res.status < 200 || res.status > 299) {
      // An error page is not the rest of the file: the partial file stays as it is.
      discard(res);
      return;
    }
    // 200: the server ignored the Range and sends the whole body.
  }
  const resumable = config.resume;
  if (!resumable) temp.add(part);
  try {
    o.bytes = await save(res, part, append);
  } catch (error) {
    res.body.destroy();
    // The disk's errors have a syscall; the transfer's are CurlErrors.
    o.error =
      (error as NodeJS.ErrnoException).syscall !== undefined
        ? fileError('write', part, error)
        : errorInfo(error);
    if (!resumable) await temp.remove(part);
    return;
  }
  try {
    await rename(part, final);
    temp.done(part);
  } catch (error) {
    o.error = fileError('rename', part, error);
    if (!resumable) await temp.remove(part);
  }
}

/** A body up to this size is gathered first and written in one go; a larger one is streamed
 * to the file as it comes. */
const SMALL_BODY = 64 * 1024;

/**
 * Writes the body to `path` and returns its length. A small body (most of a mirror job) is
 * written in one writeFile; a larger one goes through a FileHandle chunk by chunk, and the
 * Client pauses the transfer while a write waits for the disk, so memory stays bounded. The
 * disk work runs on libuv's thread pool, beside the transfers: creating a file costs 0.1-0.4
 * ms on this machine's disk, more than a small transfer.
 */
async function save(res: StreamResponse, path: string, append: boolean): Promise<number> {
  const chunks = res.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let size = 0;
  for (;;) {
    const next = await chunks.next();
    if (next.done) {
      await writeFile(path, head.length === 1 ? head[0]! : Buffer.concat(head, size), {
        flag: append ? 'a' : 'w',
      });
      return size;
    }
    head.push(next.value);
    size += next.value.length;
    if (size >= SMALL_BODY) break;
  }
  const file = await open(path, append ? 'a' : 'w');
  try {
    for (const chunk of head) await file.write(chunk);
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
      await file.write(next.value);
      size += next.value.length;
    }
  } finally {
    await file.close();
  }
  return size;
}
