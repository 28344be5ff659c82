// vitest globalSetup of the epoll and kqueue adapters' tests: builds the script driver
// (script.cc) before any test runs, so `vitest run` works from a clean clone. Incremental.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const gyp = createRequire(import.meta.url).resolve('@multisock/gyp');
  const result = spawnSync(process.execPath, [gyp], {
    cwd: fileURLToPath(new URL('.', import.meta.url)),
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    throw new Error(
      `building the script driver (adapter-core/test/script) failed: exit ${String(result.status)}`,
    );
  }
}
