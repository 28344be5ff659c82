import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

const TABLE = '/proc/net/tcp';

/**
 * Counts the TCP connections accepted on one local port from /proc/net/tcp. uWebSockets.js has
 * no per-connection event for HTTP, so requests trigger reads of the table, off the request path:
 * the table lists every socket of the network namespace (thousands of TIME_WAIT entries after a
 * test run, about 10 ms to read), so it is read asynchronously, one read at a time, again
 * whenever requests arrived during the last one. Each connection is identified by its socket
 * inode. A connection opened, served and closed entirely within one read can be missed, so
 * the count is a lower bound; reading `count` takes one synchronous read first, so connections
 * still open then are always in it.
 */
export class AcceptedConnections {
  readonly #inodes = new Set<string>();
  #portHex = '';
  #dirty = false;
  #reading = false;
  #stopped = false;

  setPort(port: number): void {
    this.#portHex = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  }

  get count(): number {
    if (this.#portHex && !this.#stopped) {
      try {
        this.#parse(readFileSync(TABLE, 'latin1'));
      } catch {
        // no procfs: the count stays what the asynchronous reads found
      }
    }
    return this.#inodes.size;
  }

  /** A request arrived: make sure a read of the table starts after it. */
  noteRequest(): void {
    this.#dirty = true;
    if (!this.#reading && !this.#stopped) void this.#readLoop();
  }

  /** Stops reading (the count stays as it was). */
  stop(): void {
    this.#stopped = true;
  }

  async #readLoop(): Promise<void> {
    this.#reading = true;
    try {
      while (this.#dirty && !this.#stopped) {
        this.#dirty = false;
        const table = await readFile(TABLE, 'latin1').catch(() => null);
        if (table === null) return;
        this.#parse(table);
      }
    } finally {
      this.#reading = false;
    }
  }

  #parse(table: string): void {
    let at = table.indexOf(this.#portHex);
    while (at !== -1) {
      const start = table.lastIndexOf('\n', at) + 1;
      const end = table.indexOf('\n', at);
      const f = table
        .slice(start, end === -1 ? undefined : end)
        .trim()
        .split(/\s+/);
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const inode = f[9];
      if (f[1] === this.#portHex && f[3] !== '0A' && inode !== undefined && inode !== '0')
        this.#inodes.add(inode);
      at = end === -1 ? -1 : table.indexOf(this.#portHex, end);
    }
  }
}
