import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks',
    // gc() for the memory checks of streamed bodies and backpressure.
    execArgv: ['--expose-gc'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
  },
});
