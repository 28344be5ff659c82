// Runs @multisock/gateway in its own process for the gateway scenario. Prints {"port":N} (or
// {"unavailable":reason}), then serves until stdin closes.
//
//   node dist/gateway-child.js '{"client":"multisock","upstreams":{"a":"http://..."}}'
import { load, Unavailable } from './clients/unavailable.js';

/** What this child passes to startGateway (a subset of @multisock/gateway's GatewayOptions). */
interface GatewayOptions {
  client: 'multisock' | 'undici';
  upstreams: Record<string, string>;
  timeoutMs?: number;
}

interface Gateway {
  port: number;
  close(): Promise<void>;
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '') as GatewayOptions;
  let gateway: Gateway;
  try {
    const { startGateway } = await load<{ startGateway(o: GatewayOptions): Promise<Gateway> }>(
      '@multisock/gateway',
    );
    gateway = await startGateway(options);
  } catch (error) {
    if (!(error instanceof Unavailable)) throw error;
    process.stdout.write(`${JSON.stringify({ unavailable: error.message })}\n`);
    return;
  }
  process.stdout.write(`${JSON.stringify({ port: gateway.port })}\n`);
  await new Promise<void>((resolve) => {
    process.stdin.on('end', resolve).on('error', resolve).resume();
  });
  await gateway.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`gateway child: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
