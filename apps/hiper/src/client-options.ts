// The Client a command line asks for: its options, and the libcurl options it has no option of
// its own for (RESOLVE, MAX_RECV_SPEED_LARGE, FORBID_REUSE, COOKIEFILE).
import { Client, type ClientOptions, type EasyOptions, type LoopAdapter } from '@multisock/core';
import { UsageError } from './args/usage-error.js';
import type { Config } from './config.js';
import type { ResultsFile } from './output/results.js';
import { openResults } from './output/sink.js';

/**
 * The Client a run sends with and the results file it writes to. Both refusals came from the
 * command line, so both are UsageErrors: options no request could be sent with (a
 * Transfer-Encoding or Content-Length header...) and a results file that cannot be opened.
 */
export async function openRun(
  config: Config,
  loop: LoopAdapter,
): Promise<{ client: Client; results: ResultsFile | null }> {
  let client: Client;
  try {
    client = new Client(clientOptions(config, loop));
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) throw new UsageError(error.message);
    throw error;
  }
  try {
    return { client, results: openResults(config.resultsPath) };
  } catch (error) {
    await client.close();
    throw new UsageError((error as Error).message);
  }
}

export function clientOptions(config: Config, loop: LoopAdapter): ClientOptions {
  const curl: Partial<EasyOptions> = {};
  if (config.resolve.length > 0) curl.RESOLVE = config.resolve;
  if (config.limitRate !== null) {
    // curl's --limit-rate holds each transfer to the speed, both ways.
    curl.MAX_RECV_SPEED_LARGE = config.limitRate;
    curl.MAX_SEND_SPEED_LARGE = config.limitRate;
  }
  if (config.noKeepalive) curl.FORBID_REUSE = 1;
  if (config.cookieFile !== null) curl.COOKIEFILE = config.cookieFile;
  const options: ClientOptions = {
    loop,
    httpVersion: config.http2 ? '2' : '1.1',
    headers: config.headers,
    rejectUnauthorized: !config.insecure,
    followRedirects: config.followRedirects,
    maxRedirections: config.maxRedirects,
    decompress: config.compressed,
    // Every connection of a run stays reusable.
    maxIdleConnections: Math.max(256, config.concurrency),
    // hiper measures each request's time itself; libcurl's phases only for -w's time_*.
    timings: config.writeOut?.needsTimings ?? false,
  };
  if (config.timeoutMs !== null) options.timeout = Math.ceil(config.timeoutMs);
  if (config.connectTimeoutMs !== null) options.connectTimeout = Math.ceil(config.connectTimeoutMs);
  if (config.ca) options.ca = config.ca;
  if (config.cert) {
    options.cert = config.cert;
    // A PEM file with both the certificate and its key is enough, as for curl.
    options.key = config.key ?? config.cert;
  }
  if (config.proxy !== null) options.proxy = config.proxy;
  if (config.perHost !== null) options.maxConnectionsPerHost = config.perHost;
  if (Object.keys(curl).length > 0) options.curlOptions = curl;
  return options;
}
