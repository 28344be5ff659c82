// The steady-state window of a throughput run, on the real clock.
import { describe, expect, it } from 'vitest';
import { Recorder } from '../src/recorder.js';

function spin(ms: number) {
  const until = performance.now() + ms;
  while (performance.now() < until) {}
}

describe('Recorder', () => {
  it('a start slower than the whole duration (a loaded machine) still leaves a window to measure', () => {
    const recorder = new Recorder(1, 4, 8);
    recorder.start();
    spin(3); // nothing completed before the duration ran out
    let completions = 0;
    do {
      completions++;
      spin(0.2);
    } while (recorder.complete(true) && completions < 100);
    expect(completions).toBe(8);
    const result = recorder.result();
    expect(result).toMatchObject({ completed: 8, errors: 0 });
    expect(result.measured).toBeGreaterThan(0);
    expect(result.reqPerSec).toBeGreaterThan(0);
  });
});
