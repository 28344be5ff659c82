#!/usr/bin/env node
// node dist/cli.js URL...: fetches every URL through the reactor thread, one line per result.
import { ReactorClient } from './index.js';

const urls = process.argv.slice(2);
if (urls.length === 0) {
  console.error('usage: node dist/cli.js URL...');
  process.exit(2);
}
const client = new ReactorClient();
const results = await Promise.allSettled(urls.map((url) => client.fetch(url)));
for (const [i, outcome] of results.entries()) {
  if (outcome.status === 'fulfilled') {
    const { status, bytes, timeMs } = outcome.value;
    console.log(`${status} ${bytes} B ${timeMs.toFixed(1)} ms ${urls[i]}`);
  } else {
    console.log(`ERR ${(outcome.reason as Error).message}`);
  }
}
await client.close();
process.exitCode = results.some((r) => r.status === 'rejected') ? 1 : 0;
