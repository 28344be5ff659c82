// node:http (node:https for TLS) with a keep-alive agent; node:http2 on one session for HTTP/2.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { RunSpec } from '../types.js';
import type { RequesterFactory } from './driver.js';

export function nodeHttpClient(spec: RunSpec): RequesterFactory {
  if (spec.h2) return nodeHttp2Client(spec);
  const tls = spec.url.startsWith('https:');
  const agentOptions = { keepAlive: true, maxSockets: spec.inflight, maxFreeSockets: spec.inflight };
  const agent = tls
    ? new https.Agent({ ...agentOptions, ...(spec.caPath !== null ? { ca: readFileSync(spec.caPath) } : {}) })
    : new http.Agent(agentOptions);
  const get = tls ? https.get : http.get;
  return {
    requester(url, expectBytes) {
      return () =>
        new Promise<boolean>((resolve, reject) => {
          get(url, { agent }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => {
              const length = Buffer.concat(chunks).length;
              resolve(res.statusCode === 200 && (expectBytes < 0 || length === expectBytes));
            });
            res.on('error', reject);
          }).on('error', reject);
        });
    },
    async close() {
      agent.destroy();
    },
  };
}

function nodeHttp2Client(spec: RunSpec): RequesterFactory {
  const ca = spec.caPath !== null ? { ca: readFileSync(spec.caPath) } : {};
  const session = http2.connect(new URL(spec.url).origin, ca);
  session.on('error', () => {});
  return {
    requester(url, expectBytes) {
      const path = new URL(url).pathname;
      return () =>
        new Promise<boolean>((resolve, reject) => {
          const stream = session.request({ ':path': path });
          let status = 0;
          const chunks: Buffer[] = [];
          stream.on('response', (headers) => {
            status = Number(headers[':status']);
          });
          stream.on('data', (chunk: Buffer) => chunks.push(chunk));
          stream.on('end', () => {
            const length = Buffer.concat(chunks).length;
            resolve(status === 200 && (expectBytes < 0 || length === expectBytes));
          });
          stream.on('error', reject);
        });
    },
    async close() {
      await new Promise<void>((resolve) => session.close(() => resolve()));
    },
  };
}
