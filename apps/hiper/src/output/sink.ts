// Where each measured request's outcome goes: -w on stdout, -v on stderr, --results.
import { closeSync, openSync } from 'node:fs';
import { UsageError } from '../args/usage-error.js';
import type { Config } from '../config.js';
import type { Outcome } from '../outcome.js';
import { ResultsFile } from './results.js';
import { verboseLine } from './verbose.js';
import { formatWriteOut } from './write-out.js';

/** The results file is opened before anything starts, so a path that cannot be written is a
 * bad argument, not a failed run. */
export function openResults(path: string | null): ResultsFile | null {
  if (path === null) return null;
  try {
    closeSync(openSync(path, 'w'));
  } catch (error) {
    throw new UsageError(`cannot write --results ${path}: ${(error as Error).message}`);
  }
  return new ResultsFile(path);
}

/** What happens to each measured request's outcome: -w on stdout, -v on stderr, --results. */
export function outcomeSink(config: Config, results: ResultsFile | null): (o: Outcome) => void {
  const writeOut = config.writeOut;
  if (writeOut === null && !config.verbose && results === null) return () => {};
  return (o) => {
    results?.add(o);
    if (writeOut !== null) process.stdout.write(formatWriteOut(writeOut, o));
    if (config.verbose) process.stderr.write(`${verboseLine(o)}\n`);
  };
}
