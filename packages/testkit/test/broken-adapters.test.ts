import type { LoopAdapter, Multi } from '@multisock/core';
import { openHandleCount } from '@multisock/libuv-bindings';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConformanceCheck,
  type ConformanceEnvironment,
  conformanceChecks,
  runCheck,
  startConformanceEnvironment,
} from '../src/index.js';
import { addon, type NativeBreakage } from './native/index.js';
import { type Breakage, uvAdapter } from './support/uv-adapter.js';

// Each broken adapter is a correct one with one mistake, made once in TypeScript (the reference
// adapter, test/support/uv-adapter.ts) and once natively (multisock/loop.h, test/native/
// broken-loop.cc). Each must be reported by the check that covers that mistake, with the
// violation that names it, whichever kind of adapter made it: for a TypeScript adapter the
// Observer wraps the JS callbacks, for a native one it reads the core's trace. The same checks
// pass against both adapters without the mistake, so it is the mistake that fails them.
const byId = (id: string): ConformanceCheck => {
  const found = conformanceChecks.find((c) => c.id === id);
  if (!found) throw new Error(`no check ${id}`);
  return found;
};

/** The native test adapter with `breakage` (or none), as a LoopAdapter. */
function nativeAdapter(breakage: NativeBreakage): LoopAdapter {
  return {
    name: `native-${breakage}`,
    attach: (multi: Multi) => multi.attachNativeLoop(addon.brokenLoop(breakage)),
  };
}

const kinds = {
  typescript: (breakage?: Breakage) => uvAdapter(`ts-${breakage ?? 'correct'}`, breakage),
  native: (breakage?: Breakage) => nativeAdapter(breakage ?? 'none'),
} as const;
type Kind = keyof typeof kinds;

const cases: Array<{ breakage: Breakage; label: string; check: string; message: Record<Kind, RegExp> }> = [
  {
    label: 'ignores REMOVE',
    breakage: 'ignoreRemove',
    check: 'one-get',
    message: {
      typescript: /REMOVE\) attachment\.registrations is 1 but libcurl watches 0/,
      native: /REMOVE\) attachment\.registrations is 1 but libcurl watches 0/,
    },
  },
  {
    label: 'fires timer 0 synchronously inside the timer callback',
    breakage: 'syncTimerZero',
    check: 'one-get',
    message: {
      typescript: /socketAction\(-1, 0\) called synchronously from inside the timer callback/,
      // The core refuses it (CURLM_RECURSIVE_API_CALL) and its trace says so.
      native: /socketAction\(-1, 0\) called synchronously from inside a libcurl callback, and refused/,
    },
  },
  {
    label: 'passes what-bits as ev_bitmask',
    breakage: 'whatBitsAsEvents',
    check: 'readiness-not-interest',
    message: {
      typescript: /reported CSelect\.IN \d+ times when nothing was readable/,
      native: /reported CSelect\.IN \d+ times when nothing was readable/,
    },
  },
  {
    label: 'edge-triggers (reports a socket once, then not again until re-announced)',
    breakage: 'edgeTriggered',
    check: 'drip',
    message: {
      typescript:
        /dripped body \(readiness must be level-triggered, docs\/contract\.md#level-triggered\): not done after/,
      native:
        /dripped body \(readiness must be level-triggered, docs\/contract\.md#level-triggered\): not done after/,
    },
  },
];

let env: ConformanceEnvironment;
beforeAll(async () => {
  env = await startConformanceEnvironment();
});
afterAll(async () => {
  await env?.close();
});

for (const kind of Object.keys(kinds) as Kind[]) {
  describe(`the conformance suite catches broken ${kind} adapters`, () => {
    const checksUsed = [...new Set(cases.map((c) => c.check))];
    for (const id of checksUsed) {
      it(`the ${kind} adapter without a mistake passes '${id}'`, async () => {
        const handles = openHandleCount();
        await runCheck(byId(id), () => kinds[kind](), env);
        // Every Poll and Timer of libuv-bindings it opened is closed (close callbacks run a
        // turn later). The native adapter opens its handles natively: the driver's tests
        // (test/native-table.test.ts) count those.
        await expect.poll(() => openHandleCount(), { timeout: 1000, interval: 10 }).toBe(handles);
      });
    }
    for (const c of cases) {
      it(`a ${kind} adapter that ${c.label} fails '${c.check}'`, async () => {
        await expect(runCheck(byId(c.check), () => kinds[kind](c.breakage), env)).rejects.toThrow(
          c.message[kind],
        );
      });
    }
  });
}
