// Files being written under a temporary name: removed when a transfer fails or a run stops,
// so no truncated file is ever left under a final name nor any temporary one behind.
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';

export class TempFiles {
  readonly #paths = new Set<string>();

  add(path: string): void {
    this.#paths.add(path);
  }

  /** The file was renamed to its final name (or removed). */
  done(path: string): void {
    this.#paths.delete(path);
  }

  async remove(path: string): Promise<void> {
    this.#paths.delete(path);
    await rm(path, { force: true });
  }

  get size(): number {
    return this.#paths.size;
  }

  /** Removes every file still listed; synchronous, so it also runs on process exit. */
  removeAll(): void {
    for (const path of this.#paths) {
      try {
        rmSync(path, { force: true });
      } catch {
        // nothing more can be done for it
      }
    }
    this.#paths.clear();
  }
}
