import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Builds adapter-core's script driver (test/script), which the scripted rows use.
    globalSetup: ['../adapter-core/test/script/build.ts'],
    reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
  },
});
