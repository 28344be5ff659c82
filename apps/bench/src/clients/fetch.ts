// Node's own fetch (its bundled undici, global dispatcher). TLS trusts the bench CA through
// NODE_EXTRA_CA_CERTS, which the parent sets for every child.
import type { RunSpec } from '../types.js';
import type { RequesterFactory } from './driver.js';

export function fetchClient(_spec: RunSpec): RequesterFactory {
  return {
    requester(url, expectBytes) {
      return async () => {
        const response = await fetch(url);
        const bytes = await response.arrayBuffer();
        return response.status === 200 && (expectBytes < 0 || bytes.byteLength === expectBytes);
      };
    },
    async close() {},
  };
}
