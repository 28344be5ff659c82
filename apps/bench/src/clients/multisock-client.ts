// multisock's Client on adapter-libuv (Node's own loop): a promise per request, easy handles
// and connections reused, bodies collected natively.
import { readFileSync } from 'node:fs';
import { libuv } from '@multisock/adapter-libuv';
import { Client, type ClientOptions } from '@multisock/core';
import type { RunSpec } from '../types.js';
import type { RequesterFactory } from './driver.js';

export function multisockClient(spec: RunSpec): RequesterFactory {
  const tls = spec.url.startsWith('https:');
  const options: ClientOptions = { loop: libuv, httpVersion: spec.h2 ? (tls ? '2' : 'h2c') : '1.1' };
  if (spec.caPath !== null) options.ca = readFileSync(spec.caPath);
  // HTTP/2: every stream on one connection, as the other clients do.
  if (spec.h2) options.maxConnectionsPerHost = 1;
  const client = new Client(options);
  return {
    requester(url, expectBytes) {
      return async () => {
        const response = await client.request(url);
        return response.status === 200 && (expectBytes < 0 || response.body.length === expectBytes);
      };
    },
    close: () => client.close(),
  };
}
