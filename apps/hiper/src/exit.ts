/** Exit statuses (README): every request succeeded, some failed, bad arguments, and a run
 * stopped by a signal (128 + its number) after its summary. */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, SIGINT: 130, SIGTERM: 143 } as const;
