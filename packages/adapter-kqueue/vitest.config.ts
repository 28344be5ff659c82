import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The tests' build of native/kqueue.cc (over the kqueue emulation on Linux, test/emulation)
    // and adapter-core's script driver (test/script), before the tests.
    globalSetup: ['./test/emulation/build.ts', '../adapter-core/test/script/build.ts'],
    reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
  },
});
