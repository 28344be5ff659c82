// Which file each URL's body goes to: -o paired with the URLs in order (as curl pairs them), -O
// for the rest, --output-dir in front of relative paths.
import { isAbsolute, join, resolve } from 'node:path';
import { UsageError } from './usage-error.js';

export interface OutputRequest {
  urls: readonly string[];
  outputs: readonly string[];
  remoteName: boolean;
  outputDir: string | null;
}

/** The last segment of a URL's path, as -O names the file (percent-encoding kept, as curl
 * keeps it, so no / or .. can come out of it). */
export function remoteName(url: string): string {
  const path = new URL(url).pathname;
  const name = path.slice(path.lastIndexOf('/') + 1);
  if (name === '' || name === '.' || name === '..') {
    throw new UsageError(`--remote-name: ${url} has no file name in its path: give it an -o`);
  }
  return name;
}

export function outputPaths(r: OutputRequest): Array<string | null> {
  if (r.outputs.length > r.urls.length) {
    throw new UsageError(
      `--output: ${r.outputs.length} files for ${r.urls.length} URL${r.urls.length === 1 ? '' : 's'} (each -o goes with one URL, in order)`,
    );
  }
  if (r.outputDir !== null && r.outputs.length === 0 && !r.remoteName) {
    throw new UsageError('--output-dir needs -o or -O');
  }
  const paths = r.urls.map((url, i) => {
    const given = r.outputs[i];
    if (given === '-') {
      throw new UsageError('--output -: bodies do not go to stdout (the summary and -w do); name a file');
    }
    const name = given ?? (r.remoteName ? remoteName(url) : null);
    if (name === null || name === '') return null;
    return r.outputDir !== null && !isAbsolute(name) ? join(r.outputDir, name) : name;
  });
  // Two transfers writing one file would race for it: refused before anything starts.
  const seen = new Map<string, string>();
  paths.forEach((path, i) => {
    if (path === null) return;
    const key = resolve(path);
    const other = seen.get(key);
    if (other !== undefined) {
      throw new UsageError(`--output: ${other} and ${r.urls[i]} would both be saved to ${path}`);
    }
    seen.set(key, r.urls[i]!);
  });
  return paths;
}
