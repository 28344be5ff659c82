// How a TypeScript client is driven in a child process. Most clients are promise-shaped: they
// only say how to make one request (`requester`), and `fromRequester` keeps N of them in flight.
// The EpollReactor client runs its own blocking loop and implements Driver directly.
import type { HeldSampler, Recorder } from '../recorder.js';
import { HELD_BATCH, HELD_BATCH_INTERVAL_MS } from '../routes.js';
import type { RunSpec } from '../types.js';

export interface Driver {
  /** Keeps `spec.inflight` transfers of `spec.url` going until the recorder stops, then drains. */
  throughput(recorder: Recorder): Promise<void>;
  /** Quick requests to `url` before the idle baseline (held mode). */
  warmup(url: string): Promise<void>;
  /** Starts `spec.inflight` transfers of `spec.url` at once and waits for all; returns the errors. */
  held(sampler: HeldSampler): Promise<number>;
  close(): Promise<void>;
}

/** One request to a fixed URL: true when it answered 200 with the expected body length. */
export type Requester = () => Promise<boolean>;

export interface RequesterFactory {
  requester(url: string, expectBytes: number): Requester;
  close(): Promise<void>;
}

const WARMUP_SLOTS = 16;
const WARMUP_TOTAL = 256;

/** A Driver from a factory of one-request functions (the same loop for every such client). */
export function fromRequester(spec: RunSpec, factory: RequesterFactory): Driver {
  const safe =
    (request: Requester): Requester =>
    () =>
      request().catch(() => false);
  return {
    async throughput(recorder) {
      const request = safe(factory.requester(spec.url, spec.expectBytes));
      const slot = async (): Promise<void> => {
        while (recorder.complete(await request())) {}
      };
      recorder.start();
      await Promise.all(Array.from({ length: spec.inflight }, slot));
    },
    async warmup(url) {
      const request = safe(factory.requester(url, -1));
      let left = WARMUP_TOTAL;
      const slot = async (): Promise<void> => {
        while (left-- > 0) await request();
      };
      await Promise.all(Array.from({ length: WARMUP_SLOTS }, slot));
    },
    async held(sampler) {
      const request = safe(factory.requester(spec.url, spec.expectBytes));
      const stop = sampler.sampleOnTimer();
      try {
        const pending: Promise<boolean>[] = [];
        for (let started = 0; started < spec.inflight; ) {
          const batch = Math.min(HELD_BATCH, spec.inflight - started);
          for (let i = 0; i < batch; i++) pending.push(request());
          started += batch;
          if (started < spec.inflight) await new Promise((r) => setTimeout(r, HELD_BATCH_INTERVAL_MS));
        }
        const results = await Promise.all(pending);
        return results.filter((ok) => !ok).length;
      } finally {
        stop();
      }
    },
    close: () => factory.close(),
  };
}
