import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Builds the kqueue emulation over epoll on Linux (test/emulation) before the tests.
    globalSetup: ['./test/emulation/build.ts'],
    reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
  },
});
