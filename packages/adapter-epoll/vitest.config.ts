import { packageConfig } from '../../vitest.shared.ts';

export default packageConfig({
  // Builds adapter-core's script driver (test/script), which the scripted rows use.
  globalSetup: ['../adapter-core/test/script/build.ts'],
});
