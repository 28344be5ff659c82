import { packageConfig } from '../../vitest.shared.ts';

export default packageConfig({
  // gc() for the test of an added Easy that loses its last JS reference.
  execArgv: ['--expose-gc'],
});
