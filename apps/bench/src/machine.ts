// The facts every result is printed with: what ran, where, when.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { pinned } from './process.js';

export interface MachineFacts {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  libcurl: string;
  undici: string;
  uws: string;
  pinned: boolean;
  date: string;
}

function libcurlVersion(): string {
  try {
    // The curl-config the core was built with, as the C program's (main.ts compileC).
    return execFileSync(process.env.CURL_CONFIG || 'curl-config', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown (no curl-config)';
  }
}

function packageVersion(name: string): string {
  try {
    const require = createRequire(import.meta.url);
    const path = require.resolve(`${name}/package.json`);
    return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function machineFacts(): MachineFacts {
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: `${process.platform} ${release()}`,
    node: process.version,
    libcurl: libcurlVersion(),
    undici: packageVersion('undici'),
    uws: packageVersion('@trufflesuite/uws-js-unofficial'),
    pinned: pinned(),
    date: new Date().toISOString(),
  };
}
