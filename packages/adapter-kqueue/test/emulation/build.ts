// vitest globalSetup: builds the tests' addon (addon.cc: the adapter's native/kqueue.cc over the
// kqueue emulation on Linux, over the real kqueue elsewhere) before any test runs, so
// `vitest run` works from a clean clone. An incremental build when it is already there.
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
      `building the tests' kqueue addon (test/emulation) failed: exit ${String(result.status)}`,
    );
  }
}
