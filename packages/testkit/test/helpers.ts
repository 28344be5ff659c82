import http from 'node:http';
import https from 'node:https';

export interface Received {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request with node:http(s) on a fresh connection (no agent), body collected. */
export function request(
  url: string,
  options: { method?: string; body?: Buffer | string; ca?: string; headers?: Record<string, string> } = {},
): Promise<Received> {
  const target = new URL(url);
  const mod = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      target,
      { method: options.method ?? 'GET', agent: false, ca: options.ca, headers: options.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
