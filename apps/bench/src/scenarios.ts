// Every scenario and every client, with what each one means.
import { ROUTES } from './routes.js';
import type { ClientId } from './types.js';

/** 'tool': whole programs run as their users run them (hiper against curl, autocannon and
 * wrk), timed from the outside (tool-runner.ts). */
export type ScenarioKind = 'throughput' | 'held' | 'gateway' | 'tool';

export interface Scenario {
  name: string;
  title: string;
  kind: ScenarioKind;
  /** 'h2': 100 streams on one connection, h2c or h2 over TLS (see h2Transport in main.ts). */
  protocol: 'http' | 'https' | 'h2';
  route: string;
  /** Transfers in flight (throughput), held at once (held), or autocannon connections (gateway). */
  inflight: number;
  /** CPU time is sampled every this many completions. */
  cpuEvery: number;
  clients: readonly ClientId[];
}

/** What each client is, as the table prints it. */
export const CLIENT_LABELS: Record<ClientId, string> = {
  'raw-libuv': 'multisock raw, adapter-libuv',
  'raw-epoll': 'multisock raw, epoll nested',
  'raw-reactor': 'multisock raw, EpollReactor',
  'raw-kqueue': 'multisock raw, kqueue',
  client: 'multisock Client (libuv)',
  undici: 'undici 7 Pool.request',
  'node-http': 'node:http keep-alive agent',
  fetch: "Node's fetch",
  'undici-agent': "undici.request on undici's Agent",
  'undici-curl': 'undici.request on CurlDispatcher (libuv)',
  'fetch-agent': "undici fetch on undici's Agent",
  'fetch-curl': 'undici fetch on CurlDispatcher (libuv)',
  c: 'C: libcurl multi-socket + epoll',
  wrk: "wrk (the server's ceiling)",
  hiper: 'hiper (apps/hiper, default adapter)',
  curl: 'curl --parallel --parallel-max 64',
  autocannon: 'autocannon 9, 64 connections',
};

export const RAW_CLIENTS: readonly ClientId[] = ['raw-libuv', 'raw-epoll', 'raw-reactor', 'raw-kqueue'];
const ENGINE: readonly ClientId[] = [...RAW_CLIENTS, 'client', 'c'];
const NODE: readonly ClientId[] = ['undici', 'node-http', 'fetch'];
const HTTP1: readonly ClientId[] = [...ENGINE, ...NODE, 'wrk'];
/** undici's own APIs on undici's Agent and on @multisock/undici's CurlDispatcher. */
export const DISPATCHER_CLIENTS: readonly ClientId[] = [
  'undici-agent',
  'undici-curl',
  'fetch-agent',
  'fetch-curl',
];
const WITH_DISPATCHERS: readonly ClientId[] = [...HTTP1, ...DISPATCHER_CLIENTS];

export const SCENARIOS: readonly Scenario[] = [
  {
    name: '12b-1',
    title: '12 B body, 1 in flight',
    kind: 'throughput',
    protocol: 'http',
    route: ROUTES.small,
    inflight: 1,
    cpuEvery: 256,
    clients: HTTP1,
  },
  {
    name: '12b-64',
    title: '12 B body, 64 in flight',
    kind: 'throughput',
    protocol: 'http',
    route: ROUTES.small,
    inflight: 64,
    cpuEvery: 256,
    clients: WITH_DISPATCHERS,
  },
  {
    name: '12b-512',
    title: '12 B body, 512 in flight',
    kind: 'throughput',
    protocol: 'http',
    route: ROUTES.small,
    inflight: 512,
    cpuEvery: 256,
    clients: HTTP1,
  },
  {
    name: '64k-16',
    title: '64 KiB body, 16 in flight',
    kind: 'throughput',
    protocol: 'http',
    route: ROUTES.medium,
    inflight: 16,
    cpuEvery: 64,
    clients: WITH_DISPATCHERS,
  },
  {
    name: '1m-4',
    title: '1 MiB body, 4 in flight',
    kind: 'throughput',
    protocol: 'http',
    route: ROUTES.large,
    inflight: 4,
    cpuEvery: 16,
    clients: WITH_DISPATCHERS,
  },
  {
    name: 'h2-100',
    title: 'HTTP/2, 100 streams on one connection, 12 B',
    kind: 'throughput',
    protocol: 'h2',
    route: ROUTES.small,
    inflight: 100,
    cpuEvery: 256,
    clients: [...ENGINE, ...NODE, ...DISPATCHER_CLIENTS],
  },
  {
    name: 'tls-64',
    title: 'TLS, 64 in flight, 12 B',
    kind: 'throughput',
    protocol: 'https',
    route: ROUTES.small,
    inflight: 64,
    cpuEvery: 256,
    clients: WITH_DISPATCHERS,
  },
  {
    name: 'held-10k',
    title: '10,000 transfers held open 1 s by the server',
    kind: 'held',
    protocol: 'http',
    route: ROUTES.held,
    inflight: 10_000,
    cpuEvery: 1,
    clients: [...ENGINE, ...NODE],
  },
  {
    name: 'files-5k',
    title: 'saving 5,000 12 B files to disk, 64 at once (files/s, whole runs timed)',
    kind: 'tool',
    protocol: 'http',
    route: ROUTES.files,
    inflight: 64,
    cpuEvery: 1,
    clients: ['hiper', 'curl'],
  },
  {
    name: 'load-12b-64',
    title: 'load tools, 12 B body, 64 connections',
    kind: 'tool',
    protocol: 'http',
    route: ROUTES.small,
    inflight: 64,
    cpuEvery: 1,
    clients: ['hiper', 'autocannon', 'wrk'],
  },
  {
    name: 'gateway',
    title: 'gateway: 3-upstream fan-out per request, autocannon, 32 connections',
    kind: 'gateway',
    protocol: 'http',
    route: '/merge',
    inflight: 32,
    cpuEvery: 1,
    clients: ['client', 'undici'],
  },
];
