// The vitest settings every package shares: separate processes (native addons, fd counts), 30 s
// per test and hook, and a JSON report beside the console one (CI sums them, scripts/test-summary.mjs).
// A package's vitest.config.ts adds only what is its own.
import { defineConfig, mergeConfig, type ViteUserConfig } from 'vitest/config';

const shared = defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
  },
});

export function packageConfig(own: NonNullable<ViteUserConfig['test']> = {}): ViteUserConfig {
  return mergeConfig(shared, defineConfig({ test: own }));
}
