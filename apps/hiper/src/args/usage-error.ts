/** A bad command line: reported with the usage text, exit status 2. The message names the flag. */
export class UsageError extends Error {
  override name = 'UsageError';
}
