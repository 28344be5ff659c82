// multisock's raw contract API: a Multi on one loop adapter, Easy handles reused, bodies and
// headers collected natively (no WRITEFUNCTION), the same libcurl options as the C program.
import { Easy, type LoopAdapter, Multi } from '@multisock/core';
import type { HeldSampler, Recorder } from '../recorder.js';
import { HELD_BATCH, HELD_BATCH_INTERVAL_MS } from '../routes.js';
import type { RunSpec } from '../types.js';
import type { Driver, RequesterFactory } from './driver.js';

const CURL_HTTP_VERSION_2TLS = 4;
const CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE = 5;
const CURLPIPE_MULTIPLEX = 2;

/** The options every transfer gets, in TypeScript and in C alike. */
export function newEasy(spec: RunSpec, url: string): Easy {
  const easy = new Easy();
  easy.setopt('URL', url);
  easy.setopt('NOSIGNAL', 1);
  // No proxy, and no proxy environment lookups per transfer: PROXY "" plus NOPROXY "*".
  easy.setopt('PROXY', '');
  easy.setopt('NOPROXY', '*');
  if (spec.caPath !== null) easy.setopt('CAINFO', spec.caPath);
  if (spec.h2) {
    // h2c with prior knowledge for http://, ALPN h2 for https://.
    const tls = url.startsWith('https:');
    easy.setopt('HTTP_VERSION', tls ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    easy.setopt('PIPEWAIT', 1); // wait for the one connection and multiplex on it
  }
  return easy;
}

export function newMulti(spec: RunSpec): Multi {
  const multi = new Multi();
  if (spec.h2) {
    multi.setopt('PIPELINING', CURLPIPE_MULTIPLEX);
    multi.setopt('MAX_HOST_CONNECTIONS', 1);
  }
  return multi;
}

/** Reads a finished transfer's outcome and empties its native buffers for the next one. */
function finished(easy: Easy, expectBytes: number): boolean {
  const body = easy.takeBody();
  easy.takeHeaders();
  return easy.getinfo('RESPONSE_CODE') === 200 && (expectBytes < 0 || body.length === expectBytes);
}

/** On an adapter nested in Node's loop: one multi.perform() promise per transfer. */
export function rawNested(spec: RunSpec, adapter: LoopAdapter): RequesterFactory {
  const multi = newMulti(spec);
  const attachment = adapter.attach(multi);
  const every: Easy[] = [];
  return {
    requester(url, expectBytes) {
      const free: Easy[] = [];
      return async () => {
        let easy = free.pop();
        if (easy === undefined) {
          easy = newEasy(spec, url);
          every.push(easy);
        }
        try {
          await multi.perform(easy);
          return finished(easy, expectBytes);
        } catch {
          easy.takeBody();
          easy.takeHeaders();
          return false;
        } finally {
          free.push(easy);
        }
      };
    },
    async close() {
      for (const easy of every) easy.close();
      attachment.detach();
      multi.close();
    },
  };
}

/** Structural type of EpollReactor (and KqueueReactor): attach, then runOnce in a loop. */
export interface Reactor {
  attach(multi: Multi): { detach(): void };
  runOnce(timeoutMs?: number): number;
  close(): void;
}

/**
 * On a reactor the application runs: a blocking loop, completions read with infoRead after each
 * turn and the Easy re-added at once, the way a C program drives libcurl.
 */
export function rawReactor(spec: RunSpec, reactor: Reactor): Driver {
  const multi = newMulti(spec);
  const attachment = reactor.attach(multi);
  const every: Easy[] = [];
  const make = (url: string): Easy => {
    const easy = newEasy(spec, url);
    every.push(easy);
    return easy;
  };
  /** Runs until no transfer is active and `tick` (which may start more and returns how many
   * it started, and how long the reactor may wait for it) has nothing left to start. */
  const loop = (
    active: number,
    onDone: (easy: Easy, ok: boolean) => boolean,
    expectBytes: number,
    tick?: () => { started: number; waitMs: number },
  ) => {
    let waitMs = 1000;
    for (;;) {
      if (tick) {
        const t = tick();
        active += t.started;
        waitMs = t.waitMs;
      }
      if (active === 0 && waitMs < 0) break;
      if (active === 0 && !tick) break;
      reactor.runOnce(waitMs < 0 ? 1000 : waitMs);
      for (let msg = multi.infoRead(); msg !== null; msg = multi.infoRead()) {
        const easy = msg.easy;
        const ok = msg.result === 0 && finished(easy, expectBytes);
        if (msg.result !== 0) {
          easy.takeBody();
          easy.takeHeaders();
        }
        multi.removeHandle(easy);
        active--;
        if (onDone(easy, ok)) {
          multi.addHandle(easy);
          active++;
        }
      }
    }
  };
  return {
    async throughput(recorder: Recorder) {
      recorder.start();
      for (let i = 0; i < spec.inflight; i++) multi.addHandle(make(spec.url));
      loop(spec.inflight, (_easy, ok) => recorder.complete(ok), spec.expectBytes);
    },
    async warmup(url: string) {
      let started = 0;
      const slots = Math.min(16, spec.inflight);
      for (; started < slots; started++) multi.addHandle(make(url));
      loop(
        slots,
        () => {
          if (started >= 256) return false;
          started++;
          return true;
        },
        -1,
      );
    },
    async held(sampler: HeldSampler) {
      let errors = 0;
      let started = 0;
      let nextBatch = performance.now();
      // Batches as fromRequester's held() starts them; -1 once everything has started.
      const tick = () => {
        sampler.sample();
        if (started >= spec.inflight) return { started: 0, waitMs: -1 };
        const now = performance.now();
        if (now < nextBatch) return { started: 0, waitMs: Math.ceil(nextBatch - now) };
        const batch = Math.min(HELD_BATCH, spec.inflight - started);
        for (let i = 0; i < batch; i++) multi.addHandle(make(spec.url));
        started += batch;
        nextBatch = now + HELD_BATCH_INTERVAL_MS;
        return { started: batch, waitMs: started < spec.inflight ? HELD_BATCH_INTERVAL_MS : -1 };
      };
      loop(
        0,
        (_easy, ok) => {
          if (!ok) errors++;
          return false;
        },
        spec.expectBytes,
        tick,
      );
      return errors;
    },
    async close() {
      for (const easy of every) easy.close();
      attachment.detach();
      multi.close();
      reactor.close();
    },
  };
}
