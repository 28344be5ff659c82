import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Builds the test addon (test/native: a native adapter broken on purpose, the scripted
    // driver for native loop tables) before the tests.
    globalSetup: ['./test/native/build.ts'],
    reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
  },
});
