import { packageConfig } from '../../vitest.shared.ts';

export default packageConfig({
  // gc() for the memory checks of streamed bodies and backpressure.
  execArgv: ['--expose-gc'],
  testTimeout: 60_000,
});
