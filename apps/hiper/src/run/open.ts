// The open model (--rate): requests start on a fixed schedule whatever the server does, and
// each one's latency counts from the time it was due, so a stall shows in every request it
// delayed (no coordinated omission). Past `cap` requests in flight, due requests queue; their
// latency still counts from when they were due.
import type { Next, Run } from './run.js';

export function runOpen(run: Run, perSecond: number, cap: number, t0: number): Promise<void> {
  const { stop } = run.ctx;
  const interval = 1000 / perSecond;
  return new Promise((resolve) => {
    let scheduled = 0;
    let inFlight = 0;
    let done = false;
    let timer: NodeJS.Timeout | null = null;
    const queue: Array<{ next: Next; due: number }> = [];
    const settle = () => {
      if (done && inFlight === 0 && queue.length === 0) resolve();
    };
    const launch = (next: Next, due: number) => {
      inFlight++;
      void run.execute(next, due).then(() => {
        inFlight--;
        // After a signal, queued requests never start; at the end of --duration they still do
        // (they were due within it), for as long as the grace period lasts.
        if (stop.reason !== null && stop.reason !== 'duration') queue.length = 0;
        const waiting = queue.shift();
        if (waiting) launch(waiting.next, waiting.due);
        settle();
      });
    };
    const tick = () => {
      timer = null;
      const now = performance.now();
      while (!stop.stopping) {
        const due = t0 + scheduled * interval;
        if (due > now) break;
        const next = run.next(due);
        if (next === null) {
          done = true;
          break;
        }
        scheduled++;
        if (inFlight < cap) launch(next, due);
        else queue.push({ next, due });
      }
      if (stop.stopping) done = true;
      if (done) {
        if (stop.reason !== null && stop.reason !== 'duration') queue.length = 0;
        settle();
        return;
      }
      timer = setTimeout(tick, Math.max(0, t0 + scheduled * interval - performance.now()));
    };
    stop.onStop(() => {
      if (timer !== null) {
        clearTimeout(timer);
        tick();
      }
    });
    tick();
  });
}
