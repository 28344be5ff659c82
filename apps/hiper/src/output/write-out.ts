// curl's -w / --write-out: a format printed after each request, with %{variable}s,
// %header{name} and the \n \t \r \\ escapes. Unknown variables are refused when parsed.
import { UsageError } from '../args/usage-error.js';
import type { Outcome } from '../outcome.js';
import { resultRecord } from './results.js';

type Part = string | ((o: Outcome) => string);

export interface WriteOut {
  readonly parts: readonly Part[];
  /** Some variable needs libcurl's phase timings (the Client reads them only then). */
  readonly needsTimings: boolean;
}

const seconds = (us: number | undefined) => ((us ?? 0) / 1e6).toFixed(6);
const phase =
  (key: 'nameLookup' | 'connect' | 'tlsHandshake' | 'preTransfer' | 'firstByte' | 'redirect') =>
  (o: Outcome) =>
    seconds(o.timings?.[key]);

/** Every variable hiper knows, as curl names it. */
const VARIABLES: Record<string, (o: Outcome) => string> = {
  content_type: (o) => o.headers?.get('content-type') ?? '',
  errormsg: (o) => o.error?.message ?? '',
  exitcode: (o) => String(o.error?.code ?? 0),
  filename_effective: (o) => o.output ?? '',
  http_code: (o) => String(o.status ?? 0).padStart(3, '0'),
  response_code: (o) => String(o.status ?? 0).padStart(3, '0'),
  http_version: (o) => o.httpVersion ?? '0',
  json: (o) => JSON.stringify(resultRecord(o)),
  method: (o) => o.method,
  num_connects: (o) => String(o.connects),
  num_redirects: (o) => String(o.redirects),
  num_retries: (o) => String(o.retries),
  size_download: (o) => String(o.bytes),
  speed_download: (o) => String(o.lastTryMs > 0 ? Math.round((o.bytes * 1000) / o.lastTryMs) : 0),
  time_total: (o) => (o.lastTryMs / 1000).toFixed(6),
  time_namelookup: phase('nameLookup'),
  time_connect: phase('connect'),
  time_appconnect: phase('tlsHandshake'),
  time_pretransfer: phase('preTransfer'),
  time_starttransfer: phase('firstByte'),
  time_redirect: phase('redirect'),
  url: (o) => o.url,
  url_effective: (o) => o.effectiveUrl,
  urlnum: (o) => String(o.index),
};

export const WRITE_OUT_VARIABLES: readonly string[] = Object.keys(VARIABLES);
const TIMING_VARIABLES = new Set([
  'time_namelookup',
  'time_connect',
  'time_appconnect',
  'time_pretransfer',
  'time_starttransfer',
  'time_redirect',
]);

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\' };

/** Parses a -w format; a UsageError names an unknown variable. */
export function parseWriteOut(format: string): WriteOut {
  const parts: Part[] = [];
  let text = '';
  let needsTimings = false;
  const token = /%\{([a-z_]+)\}|%header\{([^}]+)\}|%%|\\([ntr\\])/g;
  let last = 0;
  for (let m = token.exec(format); m !== null; m = token.exec(format)) {
    text += format.slice(last, m.index);
    last = token.lastIndex;
    if (m[0] === '%%') text += '%';
    else if (m[3] !== undefined) text += ESCAPES[m[3]]!;
    else {
      if (text !== '') parts.push(text);
      text = '';
      if (m[2] !== undefined) {
        const name = m[2];
        parts.push((o) => o.headers?.get(name) ?? '');
        continue;
      }
      const name = m[1]!;
      const variable = VARIABLES[name];
      if (!variable) {
        throw new UsageError(
          `--write-out: unknown variable %{${name}} (known: ${WRITE_OUT_VARIABLES.join(', ')}, and %header{name})`,
        );
      }
      if (TIMING_VARIABLES.has(name)) needsTimings = true;
      parts.push(variable);
    }
  }
  text += format.slice(last);
  if (text !== '') parts.push(text);
  return { parts, needsTimings };
}

export function formatWriteOut(w: WriteOut, o: Outcome): string {
  let out = '';
  for (const part of w.parts) out += typeof part === 'string' ? part : part(o);
  return out;
}
