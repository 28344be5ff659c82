// --queue redis://HOST:PORT/STREAM: where the jobs are, and the streams beside them.
import { UsageError } from '../args/usage-error.js';

export interface Queue {
  /** As given, without the password: for messages. */
  display: string;
  host: string;
  port: number;
  username: string | undefined;
  password: string | undefined;
  /** Redis database number (`?db=N`), 0 by default. */
  db: number;
  tls: boolean;
  /** The stream the jobs are added to and read from. */
  stream: string;
  /** Where workers write one record per finished job: `STREAM:results`. */
  results: string;
  /** Jobs that failed --max-attempts times, with their last error: `STREAM:dead`. */
  dead: string;
}

const FORM = 'redis://HOST:PORT/STREAM';

export function parseQueueUrl(raw: string): Queue {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--queue must look like ${FORM}, got '${raw}'`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new UsageError(`--queue must be a redis:// (or rediss://) URL such as ${FORM}, got '${raw}'`);
  }
  if (url.hostname === '') throw new UsageError(`--queue ${raw}: the host is missing (${FORM})`);
  const stream = decodeURIComponent(url.pathname.slice(1));
  if (stream === '') throw new UsageError(`--queue ${raw}: the stream name is missing (${FORM})`);
  if (stream.includes('/')) throw new UsageError(`--queue ${raw}: a stream name has no '/' (${FORM})`);
  const port = url.port === '' ? 6379 : Number(url.port);
  const dbRaw = url.searchParams.get('db') ?? '0';
  if (!/^\d+$/.test(dbRaw)) throw new UsageError(`--queue ${raw}: db must be a number, got '${dbRaw}'`);
  for (const key of url.searchParams.keys()) {
    if (key !== 'db') throw new UsageError(`--queue ${raw}: unknown parameter '${key}' (only db=N)`);
  }
  const shown = new URL(raw);
  if (shown.password !== '') shown.password = '***';
  return {
    display: shown.toString(),
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port,
    username: url.username === '' ? undefined : decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
    db: Number(dbRaw),
    tls: url.protocol === 'rediss:',
    stream,
    results: `${stream}:results`,
    dead: `${stream}:dead`,
  };
}
