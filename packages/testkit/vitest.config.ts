import { packageConfig } from '../../vitest.shared.ts';

export default packageConfig({
  // Builds the test addon (test/native: a native adapter broken on purpose, the scripted
  // driver for native loop tables) before the tests.
  globalSetup: ['./test/native/build.ts'],
});
