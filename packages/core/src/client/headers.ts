/**
 * A response's header fields in the order they arrived, repeated fields kept (Set-Cookie...).
 * Names are lower-cased; values are the bytes as latin1, trimmed.
 */
export class ResponseHeaders implements Iterable<readonly [string, string]> {
  /** Every field as [lower-cased name, value], in the order received. */
  readonly list: ReadonlyArray<readonly [string, string]>;

  constructor(list: ReadonlyArray<readonly [string, string]>) {
    this.list = list;
  }

  /** Every value of `name`, joined by ', ' as fetch does, or null when absent. */
  get(name: string): string | null {
    const values = this.getAll(name);
    return values.length === 0 ? null : values.join(', ');
  }

  /** Every value of `name` in order (one entry per field line). */
  getAll(name: string): string[] {
    const key = name.toLowerCase();
    const values: string[] = [];
    for (const [n, v] of this.list) if (n === key) values.push(v);
    return values;
  }

  /** Whether a field named `name` (any case) arrived. */
  has(name: string): boolean {
    const key = name.toLowerCase();
    return this.list.some(([n]) => n === key);
  }

  /** The fields as [name, value] pairs, in order (`for (const [name, value] of headers)`). */
  [Symbol.iterator](): Iterator<readonly [string, string]> {
    return this.list[Symbol.iterator]();
  }

  /** Name -> value; repeated fields joined by ', ' (Set-Cookie values lose their boundaries:
   * use getAll for those). */
  toObject(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [n, v] of this.list) out[n] = n in out ? `${out[n]}, ${v}` : v;
    return out;
  }
}

const CR = 13;
const LF = 10;

/**
 * The fields of the LAST response in libcurl's raw header bytes. With redirects and 1xx
 * responses libcurl hands over every response's block one after the other, each starting with
 * its status line; trailers of a chunked body come after the last block's empty line and are
 * not headers of the response, so parsing stops at that empty line.
 */
export function parseLastHeaderBlock(raw: Buffer): ResponseHeaders {
  const start = lastBlockStart(raw);
  const list: Array<[string, string]> = [];
  let pos = start;
  // Skip the status line.
  const first = raw.indexOf(LF, pos);
  if (first < 0) return new ResponseHeaders(list);
  pos = first + 1;
  while (pos < raw.length) {
    let end = raw.indexOf(LF, pos);
    if (end < 0) end = raw.length;
    const lineEnd = end > pos && raw[end - 1] === CR ? end - 1 : end;
    if (lineEnd === pos) break; // the empty line ending the block
    const line = raw.toString('latin1', pos, lineEnd);
    const c = line.charCodeAt(0);
    if ((c === 32 || c === 9) && list.length > 0) {
      // obs-fold (RFC 9112 5.2): a continuation of the previous value.
      const last = list[list.length - 1]!;
      last[1] = `${last[1]} ${line.trim()}`;
    } else {
      const colon = line.indexOf(':');
      if (colon > 0) list.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
    }
    pos = end + 1;
  }
  return new ResponseHeaders(list);
}

const HTTP_SLASH = Buffer.from('HTTP/');
const HTTP = HTTP_SLASH.readUInt32BE(0);

/** The line starts with 'HTTP/': a status line, not a field. */
export function isStatusLine(line: Buffer): boolean {
  return line.length >= 5 && line.readUInt32BE(0) === HTTP && line[4] === HTTP_SLASH[4];
}

/** Offset of the last status line ('HTTP/' at the start of a line that follows an empty line,
 * or at offset 0). */
function lastBlockStart(raw: Buffer): number {
  let found = 0;
  let from = 0;
  for (;;) {
    const at = raw.indexOf(HTTP_SLASH, from);
    if (at < 0) return found;
    if (
      at === 0 ||
      (raw[at - 1] === LF && (raw[at - 2] === LF || (raw[at - 2] === CR && raw[at - 3] === LF)))
    ) {
      found = at;
    }
    from = at + 1;
  }
}
