// undici's own APIs (Dispatcher.request and fetch) on undici's Agent and on @multisock/undici's
// CurlDispatcher (libcurl, adapter-libuv): the same calls, only the dispatcher differs. HTTP/1.1
// with as many connections as transfers in flight; HTTP/2 on one connection for every stream.
import { readFileSync } from 'node:fs';
import type { LoopAdapter } from '@multisock/core';
import { Agent, type Dispatcher, fetch, H2CClient } from 'undici';
import type { RunSpec } from '../types.js';
import type { RequesterFactory } from './driver.js';
import { load } from './unavailable.js';

export type DispatcherApi = 'request' | 'fetch';
export type DispatcherEngine = 'agent' | 'curl';

interface CurlModule {
  CurlDispatcher: new (options: Record<string, unknown>) => Dispatcher;
}

async function makeDispatcher(spec: RunSpec, engine: DispatcherEngine): Promise<Dispatcher> {
  const tls = spec.url.startsWith('https:');
  const ca = spec.caPath !== null ? readFileSync(spec.caPath) : undefined;
  if (engine === 'curl') {
    const { CurlDispatcher } = await load<CurlModule>('@multisock/undici');
    const { libuv } = await load<{ libuv: LoopAdapter }>('@multisock/adapter-libuv');
    return new CurlDispatcher({
      loop: libuv,
      httpVersion: spec.h2 ? (tls ? '2' : 'h2c') : '1.1',
      ...(ca ? { ca } : {}),
      ...(spec.h2 ? { maxConnectionsPerHost: 1 } : {}),
    });
  }
  const connect = ca ? { connect: { ca } } : {};
  if (spec.h2 && !tls) {
    return new Agent({ factory: (origin) => new H2CClient(origin, { pipelining: spec.inflight }) });
  }
  if (spec.h2) return new Agent({ allowH2: true, connections: 1, pipelining: spec.inflight, ...connect });
  return new Agent({ connections: spec.inflight, pipelining: 1, ...connect });
}

export async function dispatcherClient(
  spec: RunSpec,
  api: DispatcherApi,
  engine: DispatcherEngine,
): Promise<RequesterFactory> {
  const dispatcher = await makeDispatcher(spec, engine);
  return {
    requester(url, expectBytes) {
      if (api === 'fetch') {
        return async () => {
          const response = await fetch(url, { dispatcher });
          const bytes = await response.arrayBuffer();
          return response.status === 200 && (expectBytes < 0 || bytes.byteLength === expectBytes);
        };
      }
      const { origin, pathname } = new URL(url);
      return async () => {
        const { statusCode, body } = await dispatcher.request({ origin, path: pathname, method: 'GET' });
        const bytes = await body.arrayBuffer();
        return statusCode === 200 && (expectBytes < 0 || bytes.byteLength === expectBytes);
      };
    },
    close: () => dispatcher.close(),
  };
}
