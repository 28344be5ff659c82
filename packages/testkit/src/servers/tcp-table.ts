import { readFileSync } from 'node:fs';

/**
 * Counts the TCP connections accepted on one local port by sampling /proc/net/tcp.
 * uWebSockets.js has no per-connection event for HTTP, so the server samples this table while
 * it handles each request: every connection that carried a request is established at that moment
 * and is identified by its socket inode (never reused while the socket lives).
 */
export class AcceptedConnections {
  readonly #inodes = new Set<string>();
  #portHex = '';

  setPort(port: number): void {
    this.#portHex = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  }

  get count(): number {
    return this.#inodes.size;
  }

  sample(): void {
    let table: string;
    try {
      table = readFileSync('/proc/net/tcp', 'latin1');
    } catch {
      return; // no procfs: the count stays a lower bound
    }
    for (const line of table.split('\n')) {
      const f = line.trim().split(/\s+/);
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const local = f[1];
      const state = f[3];
      const inode = f[9];
      if (local !== this.#portHex || state === '0A' || inode === undefined || inode === '0') continue;
      this.#inodes.add(inode);
    }
  }
}
