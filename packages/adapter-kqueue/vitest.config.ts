import { packageConfig } from '../../vitest.shared.ts';

export default packageConfig({
  // The tests' build of native/kqueue.cc (over the kqueue emulation on Linux, test/emulation)
  // and adapter-core's script driver (test/script), before the tests.
  globalSetup: ['./test/emulation/build.ts', '../adapter-core/test/script/build.ts'],
});
