import { packageConfig } from '../../vitest.shared';

export default packageConfig({
  testTimeout: 90_000,
});
