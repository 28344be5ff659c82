import type { LoopAdapter } from '@multisock/core';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { conformanceCheckIds, conformanceChecks } from './conformance/checks.js';
import { type ConformanceEnvironment, startConformanceEnvironment } from './conformance/environment.js';
import { type ConformanceCheck, runCheck } from './conformance/harness.js';

export { conformanceCheckIds, conformanceChecks, FAULT_EXPECTATIONS } from './conformance/checks.js';
export { type ConformanceEnvironment, startConformanceEnvironment } from './conformance/environment.js';
export {
  type CheckContext,
  type ConformanceCheck,
  ConformanceError,
  runCheck,
  Session,
} from './conformance/harness.js';
export { type ObservedEvent, Observer } from './conformance/observer.js';

/** What describeAdapterConformance takes besides the name and the factory. */
export interface ConformanceOptions {
  /** Check ids to leave out (see conformanceCheckIds), each with the reason, shown as a skipped test. */
  skip?: Record<string, string>;
  /** Run only these check ids. */
  only?: readonly string[];
}

function selectChecks(options: ConformanceOptions): ConformanceCheck[] {
  const known = new Set(conformanceCheckIds);
  for (const id of [...Object.keys(options.skip ?? {}), ...(options.only ?? [])]) {
    if (!known.has(id)) throw new RangeError(`describeAdapterConformance: unknown check id '${id}'`);
  }
  return conformanceChecks.filter((c) => !options.only || options.only.includes(c.id));
}

/**
 * The adapter conformance suite as a vitest `describe('conformance: <name>')`, one test per
 * check, each named after the adapter. `makeAdapter` is called for every check, so state cannot
 * leak from one check to the next. The checks themselves are plain async functions
 * (`conformanceChecks`, `runCheck`) for use outside this wrapper.
 */
export function describeAdapterConformance(
  name: string,
  makeAdapter: () => LoopAdapter,
  options: ConformanceOptions = {},
): void {
  if (typeof name !== 'string' || name === '')
    throw new TypeError('describeAdapterConformance: name must be a string');
  if (typeof makeAdapter !== 'function')
    throw new TypeError('describeAdapterConformance: makeAdapter must be a function');
  const checks = selectChecks(options);
  describe(`conformance: ${name}`, () => {
    let env: ConformanceEnvironment | undefined;
    beforeAll(async () => {
      env = await startConformanceEnvironment();
    });
    afterAll(async () => {
      await env?.close();
    });
    for (const c of checks) {
      const reason = options.skip?.[c.id];
      const title = `${name}: ${c.title}`;
      if (reason !== undefined) {
        it.skip(`${title} (skipped: ${reason})`, () => {});
        continue;
      }
      it(title, { timeout: c.timeoutMs + 5000 }, async () => {
        if (!env) throw new Error('the conformance environment did not start');
        await runCheck(c, makeAdapter, env);
      });
    }
  });
}
