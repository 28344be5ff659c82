// undici 7: Pool.request with as many connections as transfers in flight; for HTTP/2 one
// connection carrying every stream (H2CClient for h2c, allowH2 over TLS).
import { readFileSync } from 'node:fs';
import { type Dispatcher, H2CClient, Pool } from 'undici';
import type { RunSpec } from '../types.js';
import type { RequesterFactory } from './driver.js';

export function undiciClient(spec: RunSpec): RequesterFactory {
  const origin = new URL(spec.url).origin;
  const connect = spec.caPath !== null ? { connect: { ca: readFileSync(spec.caPath) } } : {};
  let dispatcher: Dispatcher;
  if (spec.h2 && origin.startsWith('http:'))
    dispatcher = new H2CClient(origin, { pipelining: spec.inflight });
  else if (spec.h2)
    dispatcher = new Pool(origin, { connections: 1, pipelining: spec.inflight, allowH2: true, ...connect });
  else dispatcher = new Pool(origin, { connections: spec.inflight, pipelining: 1, ...connect });
  return {
    requester(url, expectBytes) {
      const path = new URL(url).pathname;
      return async () => {
        const { statusCode, body } = await dispatcher.request({ path, method: 'GET' });
        const bytes = await body.arrayBuffer();
        return statusCode === 200 && (expectBytes < 0 || bytes.byteLength === expectBytes);
      };
    },
    close: () => dispatcher.destroy(),
  };
}
