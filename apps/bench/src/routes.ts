// The server's routes and their body sizes, shared by the server, the clients and the parent.

export const BODY_12B = 'hello world\n';

export const ROUTES = {
  small: '/12b',
  medium: '/64k',
  large: '/1m',
  held: '/held',
  /** /files/<name>: the 12 B body under any name, for the tools that save files. */
  files: '/files',
} as const;

/** Files the files-5k scenario saves. */
export const FILE_COUNT = 5000;

export const BODY_BYTES: Record<string, number> = {
  [ROUTES.small]: 12,
  [ROUTES.medium]: 64 * 1024,
  [ROUTES.large]: 1024 * 1024,
  [ROUTES.held]: 12,
};

/** How long the server holds a /held transfer before answering. */
export const HELD_MS = 1000;

/**
 * Held transfers start in batches of HELD_BATCH every HELD_BATCH_INTERVAL_MS (10,000 in about
 * half a second, all open together for the second half of the hold). Started all at once they
 * overflow the server's listen backlog (uWS asks for 512), and the dropped handshakes cost
 * seconds of SYN retransmits and some failed transfers, differently for each client.
 */
export const HELD_BATCH = 100;
export const HELD_BATCH_INTERVAL_MS = 5;
