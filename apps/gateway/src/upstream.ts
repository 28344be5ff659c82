// How the gateway reaches its upstreams: the multisock Client on adapter-libuv (the same Node
// loop as uWebSockets.js), or undici for comparison. Both answer the same small interface.
import { libuv } from '@multisock/adapter-libuv';
import { Client } from '@multisock/core';
import { Agent } from 'undici';

/** The HTTP client that reaches the upstreams: the multisock Client, or undici for comparison. */
export type GatewayClientKind = 'multisock' | 'undici';

/** One upstream's answer: its status and whole body. */
export interface UpstreamAnswer {
  status: number;
  body: Buffer;
}

/** How the gateway reaches its upstreams, whichever client does it. */
export interface UpstreamFetcher {
  readonly kind: GatewayClientKind;
  /** GET `url`; rejects when the transfer fails or `signal` aborts it. */
  get(url: string, signal: AbortSignal): Promise<UpstreamAnswer>;
  close(): Promise<void>;
}

/** The multisock Client on adapter-libuv: HTTP/1.1 keep-alive, no redirects. */
export function multisockFetcher(): UpstreamFetcher {
  // HTTP/1.1 keep-alive to each upstream, no redirects: a gateway forwards what it is given.
  const client = new Client({ loop: libuv, httpVersion: '1.1', followRedirects: false });
  return {
    kind: 'multisock',
    async get(url, signal) {
      const response = await client.request(url, { signal });
      return { status: response.status, body: response.body };
    },
    close: () => client.close(),
  };
}

/** undici's Agent (keep-alive 10 s), for comparison. */
export function undiciFetcher(): UpstreamFetcher {
  const agent = new Agent({ keepAliveTimeout: 10_000 });
  return {
    kind: 'undici',
    async get(url, signal) {
      const { statusCode, body } = await agent.request({
        origin: new URL(url).origin,
        path: pathOf(url),
        method: 'GET',
        signal,
      });
      return { status: statusCode, body: Buffer.from(await body.arrayBuffer()) };
    },
    close: () => agent.close(),
  };
}

function pathOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.pathname}${parsed.search}`;
}
