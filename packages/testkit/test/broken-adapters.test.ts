import { openHandleCount } from '@multisock/libuv-bindings';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConformanceCheck,
  type ConformanceEnvironment,
  conformanceChecks,
  describeAdapterConformance,
  runCheck,
  startConformanceEnvironment,
} from '../src/index.js';
import { type Breakage, uvAdapter } from './support/uv-adapter.js';

// Each broken adapter is the correct uv_poll adapter below with one mistake, and each must be
// reported by the check that covers that mistake, with a message that names it. The same checks
// pass against the unbroken adapter, so it is the mistake that fails them.
const byId = (id: string): ConformanceCheck => {
  const found = conformanceChecks.find((c) => c.id === id);
  if (!found) throw new Error(`no check ${id}`);
  return found;
};

const cases: Array<{ breakage: Breakage; label: string; check: string; message: RegExp }> = [
  {
    label: 'ignores REMOVE',
    breakage: { ignoreRemove: true },
    check: 'one-get',
    message: /REMOVE\) attachment\.registrations is 1 but libcurl watches 0/,
  },
  {
    label: 'fires timer 0 synchronously inside the timer callback',
    breakage: { syncTimerZero: true },
    check: 'one-get',
    message: /called synchronously from inside the timer callback/,
  },
  {
    label: 'passes what-bits as ev_bitmask',
    breakage: { whatBitsAsEvents: true },
    check: 'readiness-not-interest',
    message: /reported CSelect\.IN \d+ times when nothing was readable/,
  },
  {
    label: 'edge-triggers (reports readiness once per registration)',
    breakage: { edgeTriggered: true },
    check: 'drip',
    message: /dripped body \(readiness must be level-triggered, CONTRACT 29\): not done after/,
  },
];

let env: ConformanceEnvironment;
beforeAll(async () => {
  env = await startConformanceEnvironment();
});
afterAll(async () => {
  await env?.close();
});

describe('the conformance suite catches broken adapters', () => {
  const checksUsed = [...new Set(cases.map((c) => c.check))];
  for (const id of checksUsed) {
    it(`the unbroken uv_poll adapter passes '${id}'`, async () => {
      const handles = openHandleCount();
      await runCheck(byId(id), () => uvAdapter('uv-correct'), env);
      // Every uv_poll and uv_timer it opened is closed (close callbacks run a turn later).
      await expect.poll(() => openHandleCount(), { timeout: 1000, interval: 10 }).toBe(handles);
    });
  }
  for (const c of cases) {
    it(`an adapter that ${c.label} fails '${c.check}'`, async () => {
      await expect(runCheck(byId(c.check), () => uvAdapter(`uv-broken`, c.breakage), env)).rejects.toThrow(
        c.message,
      );
    });
  }
});

// The whole suite against the unbroken adapter: a reference that every check can pass, built
// on nothing but @multisock/libuv-bindings, independent of the adapter packages.
describeAdapterConformance('uv-reference', () => uvAdapter('uv-reference'));
