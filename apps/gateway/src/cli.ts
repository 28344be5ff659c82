#!/usr/bin/env node
// multisock-gateway --upstream NAME=URL [--upstream NAME=URL ...] [--port N] [--host H]
//                   [--client multisock|undici] [--timeout-ms N]
import { parseArgs } from 'node:util';
import { type GatewayClientKind, startGateway, type Upstream } from './index.js';

const USAGE = `usage: multisock-gateway --upstream NAME=URL [--upstream NAME=URL ...] [--port N] [--host H]
                         [--client multisock|undici] [--timeout-ms N]

Every GET /path?query is sent to URL/path?query of each upstream at once; the JSON answers are
merged into {"NAME": answer, ...}. A failed or late upstream gives a 502 naming it.`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      upstream: { type: 'string', multiple: true },
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      client: { type: 'string', default: 'multisock' },
      'timeout-ms': { type: 'string', default: '5000' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const upstreams: Upstream[] = (values.upstream ?? []).map((spec) => {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new TypeError(`--upstream must be NAME=URL, got ${JSON.stringify(spec)}`);
    return { name: spec.slice(0, eq), url: spec.slice(eq + 1) };
  });
  const gateway = await startGateway({
    upstreams,
    port: Number(values.port),
    host: values.host,
    client: values.client as GatewayClientKind,
    timeoutMs: Number(values['timeout-ms']),
  });
  console.log(`gateway (${gateway.client}) listening on ${gateway.url}`);
  const stop = () => {
    gateway.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  console.error(USAGE);
  process.exit(2);
});
