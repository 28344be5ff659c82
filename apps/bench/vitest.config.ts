import { packageConfig } from '../../vitest.shared.ts';

export default packageConfig({
  testTimeout: 90_000,
});
