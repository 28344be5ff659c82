// Drives a gateway with autocannon: a warm-up run, then the measured run. Prints
// {"phase":"measure"} between the two so the parent can read the gateway's CPU time there.
//
//   node dist/autocannon-child.js '{"url":...,"connections":32,"warmupS":1,"durationS":4}'
import autocannon, { type Result } from 'autocannon';

interface Config {
  url: string;
  connections: number;
  warmupS: number;
  durationS: number;
}

function run(url: string, connections: number, duration: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections, duration }, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as Config;
  await run(config.url, config.connections, config.warmupS);
  process.stdout.write(`${JSON.stringify({ phase: 'measure' })}\n`);
  const r = await run(config.url, config.connections, config.durationS);
  const summary = {
    requests: r.requests.total,
    seconds: r.duration,
    latencyP50Ms: r.latency.p50,
    latencyP99Ms: r.latency.p99,
    errors: r.errors + r.timeouts + r.non2xx,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`autocannon child: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
