import type { Client } from '@multisock/core';
import type { Config } from '../config.js';
import type { Stop } from '../run/stop.js';
import type { TempFiles } from './temp-files.js';

/** What every request of a run shares. */
export interface FetchContext {
  client: Client;
  config: Config;
  stop: Stop;
  temp: TempFiles;
  /** performance.now() when the run started: Outcome.startMs counts from it. */
  runStart: number;
  /** Keep response headers on every outcome (-w's %header{} and content_type, -v). */
  keepHeaders: boolean;
}
