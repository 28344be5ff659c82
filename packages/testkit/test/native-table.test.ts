// The unit rows of docs/contract.md#conformance on native loop tables, through the scripted fake core
// (test/support/table-rows.ts). adapter-libuv's table, and the testkit's own test adapter
// (test/native/broken-loop.cc): without a mistake it passes every row, and each of its mistakes
// fails the row that covers it, so every row is shown able to fail.
import { Multi, Poll } from '@multisock/core';
import { describe, expect, it } from 'vitest';
import { addon, type NativeBreakage, packageLoop } from './native/index.js';
import { describeTableRows, runTableRow, tableRows } from './support/table-rows.js';

const libuvLoop = () => packageLoop('@multisock/adapter-libuv', 'multisock_libuv.node');
describeTableRows('libuv', libuvLoop, { uvPollPerSocket: true, keepsTrackedHandles: true });

// The epoll adapter's nested table: one epoll set per attach, READ and WRITE of an fd in one
// action (adapter-core's poller loop). (kqueue's table runs the same rows through its own
// package's emulation: adapter-core/test/script.)
const epollLoop = () => packageLoop('@multisock/adapter-epoll', 'multisock_epoll.node');
describeTableRows('epoll', epollLoop, { coalescesReadiness: true });

describeTableRows('testkit-uv', () => addon.brokenLoop('none'), {
  uvPollPerSocket: true,
  keepsTrackedHandles: true,
});

const rowById = (id: string) => {
  const found = tableRows.find((r) => r.id === id);
  if (!found) throw new Error(`no row ${id}`);
  return found;
};

const cases: Array<{ breakage: NativeBreakage; row: string; message: RegExp }> = [
  {
    breakage: 'ignoreRemove',
    row: 'untracked-released',
    message: /after REMOVE: stats\(\)\.registrations is 1, expected 0/,
  },
  {
    breakage: 'ignoreRemove',
    row: 'remove-then-out',
    message: /right after REMOVE, before the new OUT: stats\(\)\.registrations is 1/,
  },
  {
    breakage: 'edgeTriggered',
    row: 'level-triggered',
    message: /unread data reported on three turns: not after/,
  },
  {
    breakage: 'syncTimerZero',
    row: 'timer-zero',
    message: /timer\(0\) called api->action from inside timer\(\) \(refused/,
  },
  { breakage: 'whatBitsAsEvents', row: 'readiness-not-interest', message: /with IN\|OUT, expected OUT only/ },
  { breakage: 'noneAsInout', row: 'none', message: /a socket announced with NONE was reported/ },
  { breakage: 'reinitOnChange', row: 'in-inout-in', message: /opened a second uv_poll/ },
  { breakage: 'reinitOnChange', row: 'out-then-in', message: /opened a second uv_poll/ },
  {
    breakage: 'errAlone',
    row: 'error-readiness',
    message: /the reset was reported as ERR, expected ERR with IN/,
  },
  {
    breakage: 'noErrorRestart',
    row: 'error-readiness',
    message: /the socket reported again on a later turn .*: not after/,
  },
  {
    breakage: 'timerPerCall',
    row: 'timer-replaced',
    message: /the timer fired 2 times: the 200 ms value was not replaced/,
  },
  { breakage: 'timerPerCall', row: 'timer-zero-x3', message: /three timer\(0\) gave 3 actions/ },
  {
    breakage: 'repeatingTimer',
    row: 'timer-consumed',
    message: /timerArmed is still true once the timer fired/,
  },
  { breakage: 'ignoresTimerDelete', row: 'timer-delete', message: /timerArmed is true after timer\(-1\)/ },
  {
    breakage: 'ignoresClosed',
    row: 'tracked-kept',
    message: /after closed\(\): 1 uv_poll handle\(s\) still open/,
  },
  { breakage: 'leaksAtDetach', row: 'detach', message: /after detach: 1 uv_poll handle\(s\) still open/ },
];

describe('table rows catch broken tables', () => {
  for (const c of cases) {
    it(`a table that ${c.breakage} fails '${c.row}'`, async () => {
      await expect(
        runTableRow(rowById(c.row), () => addon.brokenLoop(c.breakage), {
          uvPollPerSocket: true,
          keepsTrackedHandles: true,
        }),
      ).rejects.toThrow(c.message);
    });
  }
});

describe('the test addon checks its arguments', () => {
  type Loose = (...args: unknown[]) => unknown;
  const Core = addon.ScriptedCore as unknown as new (...args: unknown[]) => Record<string, Loose>;

  it('ScriptedCore refuses what is not a loop, a wrong receiver and bad script values', () => {
    expect(() => new Core({})).toThrow(/native loop External/);
    expect(() => new Core(42)).toThrow(TypeError);
    const core = new Core(libuvLoop());
    const socket = (Core as unknown as { prototype: Record<string, Loose> }).prototype.socket!;
    expect(() => socket.call(new Multi(), 1, Poll.IN, 0)).toThrow(/Illegal invocation/);
    expect(() => core.socket!(-1, Poll.IN)).toThrow(RangeError);
    expect(() => core.socket!(1.5, Poll.IN)).toThrow(RangeError);
    expect(() => core.socket!(3, 5)).toThrow(RangeError);
    expect(() => core.socket!(3, Poll.IN, 4)).toThrow(RangeError);
    expect(() => core.socket!('3', Poll.IN)).toThrow(TypeError);
    expect(() => core.timer!(-2)).toThrow(RangeError);
    expect(() => core.timer!(Number.NaN)).toThrow(RangeError);
    expect(() => core.react!(1, 'x')).toThrow(TypeError);
    expect(() => core.react!(1, [['bogus']])).toThrow(TypeError);
    expect(() => core.react!(1, [['socket', 1, 9]])).toThrow(RangeError);
    core.detach!();
    expect(() => core.socket!(3, Poll.IN)).toThrow(/detached/);
  });

  it('brokenLoop and the fd helpers refuse bad values', () => {
    const loose = addon as unknown as Record<string, Loose>;
    expect(() => loose.brokenLoop!('nope')).toThrow(RangeError);
    expect(() => loose.brokenLoop!(1)).toThrow(TypeError);
    expect(() => loose.writeBytes!(-1, 1)).toThrow(RangeError);
    expect(() => loose.writeBytes!(1, 0)).toThrow(RangeError);
    expect(() => loose.closeFd!(1e12)).toThrow(RangeError);
    expect(() => loose.drain!('x')).toThrow(TypeError);
  });
});
