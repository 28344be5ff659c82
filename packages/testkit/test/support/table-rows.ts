// The unit rows of docs/contract.md#conformance that real libcurl cannot be made to provoke on demand, for any
// native loop table (multisock/loop.h), driven by the scripted fake core (test/native/
// scripted-core.cc): the test plays libcurl's part with socket(), timer() and closed() calls,
// on real socketpairs and Node's real loop, and checks every api->action and api->flush the
// adapter makes. No libcurl is involved (and none is mocked): these rows are about the table.
//
// A new native adapter runs them with describeTableRows('myloop', () => myLoopExternal, options)
// in test/native-table.test.ts. Rows check what loop.h and docs/contract.md promise; what only one design
// shows (one uv_poll per socket, kept across a TRACKED REMOVE) is checked when the options say the
// adapter has that design.
import { CSelect, type NativeLoop, Poll, SOCKET_TIMEOUT } from '@multisock/core';
import { describe, it } from 'vitest';
import { addon, type DriverRecord, ScriptedCore, uvHandles, uvPollsFor } from '../native/index.js';

const FRESH = 1; // MULTISOCK_SOCKET_FRESH
const TRACKED = 2; // MULTISOCK_SOCKET_TRACKED

export interface TableOptions {
  /** The adapter watches each socket with a uv_poll of its own on Node's loop (adapter-libuv's
   * design): the rows then also look at those handles (one per socket, restarted rather than
   * opened again, all closed by detach). */
  uvPollPerSocket?: boolean;
  /** It keeps a TRACKED socket's handle, stopped, from REMOVE until closed() (loop.h allows it;
   * adapter-libuv does). Needs uvPollPerSocket to be seen. */
  keepsTrackedHandles?: boolean;
  /** Readiness IN and OUT of one fd in one turn reaches the core as one action (docs/contract.md#conformance row 9:
   * kqueue may make two calls instead). Default true. */
  coalescesReadiness?: boolean;
}

/** A row failed: the message says what the table did wrong. */
export class TableRowError extends Error {
  override name = 'TableRowError';
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new TableRowError(message);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Waits loop turn by loop turn until `condition` holds, or fails naming `what`. */
async function until(condition: () => boolean, what: string, ms = 1000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new TableRowError(`${what}: not after ${ms} ms`);
    await nextTurn();
  }
}

/** Lets the loop run a while (for "nothing happens" checks and close callbacks). */
async function quiet(ms = 30): Promise<void> {
  await sleep(ms);
  for (let i = 0; i < 3; i++) await nextTurn();
}

type Action = Extract<DriverRecord, { kind: 'action' }>;
const bitsName = (bits: number) =>
  [bits & CSelect.IN ? 'IN' : '', bits & CSelect.OUT ? 'OUT' : '', bits & CSelect.ERR ? 'ERR' : '']
    .filter(Boolean)
    .join('|') || '0';

/** What a row gets: a fresh scripted core on the table, and real fds. */
export interface RowContext {
  readonly core: ScriptedCore;
  readonly options: Required<TableOptions>;
  /** A connected AF_UNIX socketpair, closed after the row. */
  pair(): [number, number];
  /** Closes one of the row's fds now. */
  close(fd: number): void;
  /** Marks the present: actionsSince(mark) are the actions recorded after it. */
  mark(): number;
  actionsSince(mark: number, fd: number): Action[];
  /** The uv_poll handles open for fd (only with options.uvPollPerSocket). */
  polls(fd: number): Array<{ id: number; active: boolean }>;
}

export interface TableRow {
  readonly id: string;
  readonly title: string;
  run(ctx: RowContext): Promise<void>;
}

function row(id: string, title: string, run: (ctx: RowContext) => Promise<void>): TableRow {
  return { id, title, run };
}

function registrations(ctx: RowContext): number | undefined {
  return ctx.core.stats()?.registrations;
}

function expectRegistrations(ctx: RowContext, n: number, when: string): void {
  const got = registrations(ctx);
  check(got === undefined || got === n, `${when}: stats().registrations is ${got}, expected ${n}`);
}

/** The one uv_poll of fd (with options.uvPollPerSocket), or undefined without that design. */
function onePoll(ctx: RowContext, fd: number, when: string): { id: number; active: boolean } | undefined {
  if (!ctx.options.uvPollPerSocket) return undefined;
  const polls = ctx.polls(fd);
  check(polls.length === 1, `${when}: ${polls.length} uv_poll handles open for fd ${fd}, expected 1`);
  return polls[0];
}

function expectNoPoll(ctx: RowContext, fd: number, when: string): void {
  if (!ctx.options.uvPollPerSocket) return;
  const polls = ctx.polls(fd);
  check(polls.length === 0, `${when}: ${polls.length} uv_poll handle(s) still open for fd ${fd}`);
}

function expectOnly(actions: Action[], bits: number, what: string): void {
  const other = actions.find((a) => a.bits !== bits);
  check(
    other === undefined,
    `${what}: an action for fd ${other?.fd} with ${bitsName(other?.bits ?? 0)}, expected ${bitsName(bits)} only`,
  );
}

/** Every row, in the order they run. */
export const tableRows: readonly TableRow[] = [
  row('remove-unknown', 'REMOVE for an fd never registered is a no-op (row 3)', async (ctx) => {
    const { core } = ctx;
    const [a] = ctx.pair();
    check(core.socket(a, Poll.REMOVE, 0) === 0, 'REMOVE of an unknown fd did not return 0');
    check(core.socket(a, Poll.REMOVE, TRACKED) === 0, 'REMOVE of an unknown TRACKED fd did not return 0');
    expectRegistrations(ctx, 0, 'after REMOVE of an unknown fd');
    check(core.lastError() === null, `REMOVE of an unknown fd set lastError: ${core.lastError()}`);
    await quiet();
    check(core.actions(a).length === 0, 'REMOVE of an unknown fd made the fd reported');
    check(core.socket(a, Poll.IN, FRESH) === 0, 'the fd could not be announced after the REMOVE');
    expectRegistrations(ctx, 1, 'after IN');
  }),

  row(
    'out-then-in',
    'OUT then IN replaces the mask: one registration, no lingering OUT (row 1)',
    async (ctx) => {
      const { core } = ctx;
      const [a, b] = ctx.pair();
      check(core.socket(a, Poll.OUT, FRESH) === 0, 'OUT failed');
      await until(
        () => core.actions(a).some((x) => x.bits === CSelect.OUT),
        'OUT reported for a writable socket',
      );
      const first = onePoll(ctx, a, 'watched for OUT');
      check(core.socket(a, Poll.IN, 0) === 0, 'IN after OUT failed');
      // Compared at once: a closed handle's memory may serve a later one.
      check(
        onePoll(ctx, a, 'OUT -> IN')?.id === first?.id,
        'OUT -> IN: the new mask opened a second uv_poll instead of restarting the first',
      );
      expectRegistrations(ctx, 1, 'after OUT then IN');
      const mark = ctx.mark();
      await quiet();
      check(
        ctx.actionsSince(mark, a).length === 0,
        'after IN replaced OUT, the (writable) socket was still reported: what is the whole interest set, not added to it (docs/contract.md#whole-interest-set)',
      );
      addon.writeBytes(b, 1);
      await until(() => ctx.actionsSince(mark, a).length > 0, 'IN reported once there was data');
      expectOnly(ctx.actionsSince(mark, a), CSelect.IN, 'watched for IN after OUT');
    },
  ),

  row('in-inout-in', 'IN -> INOUT -> IN: each mask replaces the last, on one handle (row 2)', async (ctx) => {
    const { core } = ctx;
    const [a, b] = ctx.pair();
    check(core.socket(a, Poll.IN, FRESH) === 0, 'IN failed');
    const first = onePoll(ctx, a, 'watched for IN');
    check(core.socket(a, Poll.INOUT, 0) === 0, 'INOUT failed');
    // Compared right after each change: a closed handle's memory may serve a later one.
    const sameHandle = (when: string) =>
      check(
        onePoll(ctx, a, when)?.id === first?.id,
        `${when}: a mask change opened a second uv_poll (no second uv_poll_init, row 2)`,
      );
    sameHandle('IN -> INOUT');
    let mark = ctx.mark();
    await until(() => ctx.actionsSince(mark, a).length > 0, 'OUT reported after IN -> INOUT');
    expectOnly(ctx.actionsSince(mark, a), CSelect.OUT, 'INOUT with nothing to read');
    check(core.socket(a, Poll.IN, 0) === 0, 'IN after INOUT failed');
    sameHandle('INOUT -> IN');
    mark = ctx.mark();
    await quiet();
    check(ctx.actionsSince(mark, a).length === 0, 'after INOUT -> IN the writable socket was still reported');
    addon.writeBytes(b, 1);
    await until(() => ctx.actionsSince(mark, a).length > 0, 'IN reported after INOUT -> IN');
    expectOnly(ctx.actionsSince(mark, a), CSelect.IN, 'INOUT -> IN');
    expectRegistrations(ctx, 1, 'after IN -> INOUT -> IN');
  }),

  row(
    'remove-then-out',
    'REMOVE then OUT on one fd in one sequence: the old state is gone before the new one exists (row 4)',
    async (ctx) => {
      const { core } = ctx;
      // From the script, one call after the other.
      const [a, b] = ctx.pair();
      check(core.socket(a, Poll.IN, FRESH) === 0, 'IN failed');
      addon.writeBytes(b, 1); // never read: a stays readable
      await until(() => core.actions(a).length > 0, 'IN reported');
      check(core.socket(a, Poll.REMOVE, 0) === 0, 'REMOVE failed');
      expectRegistrations(ctx, 0, 'right after REMOVE, before the new OUT');
      check(core.socket(a, Poll.OUT, FRESH) === 0, `OUT after REMOVE failed: ${core.lastError()}`);
      expectRegistrations(ctx, 1, 'after REMOVE then OUT');
      let mark = ctx.mark();
      await until(() => ctx.actionsSince(mark, a).length > 0, 'OUT reported for the new socket');
      await quiet();
      expectOnly(ctx.actionsSince(mark, a), CSelect.OUT, 'the new socket (the old one watched IN)');
      onePoll(ctx, a, 'after REMOVE then OUT');

      // Inside one dispatch, as libcurl does it from socket_action (13: resolver, happy eyeballs).
      const [c, d] = ctx.pair();
      check(core.socket(c, Poll.IN, FRESH) === 0, 'IN failed');
      core.react(c, [
        ['socket', c, Poll.REMOVE, 0],
        ['socket', c, Poll.OUT, FRESH],
      ]);
      addon.writeBytes(d, 1);
      const reacted = () =>
        core.records.filter((r) => r.kind === 'socket' && r.reaction && r.fd === c) as Array<
          Extract<DriverRecord, { kind: 'socket' }>
        >;
      await until(() => {
        core.sync();
        return reacted().length === 2;
      }, 'the action for fd c ran its reaction');
      check(
        reacted().every((r) => r.rc === 0),
        `REMOVE then OUT inside an action returned ${reacted().map((r) => r.rc)}: ${core.lastError()}`,
      );
      mark = ctx.mark();
      await until(
        () => ctx.actionsSince(mark, c).length > 0,
        'OUT reported for the socket made inside the action',
      );
      await quiet();
      expectOnly(
        ctx.actionsSince(mark, c),
        CSelect.OUT,
        'the socket made inside the action (the old one watched IN)',
      );
      expectRegistrations(ctx, 2, 'after both sequences');
      onePoll(ctx, c, 'after REMOVE then OUT inside an action');
    },
  ),

  row('none', 'NONE keeps the registration with no interest, and is not INOUT (row 8)', async (ctx) => {
    const { core } = ctx;
    const [a, b] = ctx.pair();
    check(core.socket(a, Poll.NONE, FRESH) === 0, `NONE failed: ${core.lastError()}`);
    expectRegistrations(ctx, 1, 'after NONE');
    addon.writeBytes(b, 1); // readable and writable now
    await quiet(50);
    check(
      core.actions(a).length === 0,
      `a socket announced with NONE was reported (${bitsName(core.actions(a)[0]?.bits ?? 0)}): NONE is no interest, not INOUT`,
    );
    const poll = onePoll(ctx, a, 'watched for NONE');
    check(poll === undefined || !poll.active, 'the uv_poll of a NONE socket is started');
    check(core.socket(a, Poll.IN, 0) === 0, 'IN after NONE failed');
    await until(() => core.actions(a).length > 0, 'IN reported after NONE -> IN');
    expectOnly(core.actions(a), CSelect.IN, 'NONE -> IN');
  }),

  row('inout-readiness', 'readiness IN+OUT gives one action with CSelect.IN|OUT (row 9)', async (ctx) => {
    const { core } = ctx;
    const [a, b] = ctx.pair();
    addon.writeBytes(b, 1);
    check(core.socket(a, Poll.INOUT, FRESH) === 0, 'INOUT failed');
    const both = CSelect.IN | CSelect.OUT;
    if (ctx.options.coalescesReadiness) {
      await until(() => core.actions(a).some((x) => x.bits === both), 'one action with IN|OUT');
    } else {
      await until(() => core.actions(a).reduce((u, x) => u | x.bits, 0) === both, 'IN and OUT reported');
    }
    await quiet();
    // Turns end with a flush: no turn may report the fd twice.
    let inTurn = 0;
    let union = 0;
    for (const r of core.records) {
      if (r.kind === 'flush') {
        inTurn = 0;
      } else if (r.kind === 'action' && r.fd === a) {
        inTurn++;
        union |= r.bits;
        const most = ctx.options.coalescesReadiness ? 1 : 2;
        check(
          inTurn <= most,
          `fd ${a} was reported ${inTurn} times in one loop turn, expected ${most} at most`,
        );
      }
    }
    check(union === (CSelect.IN | CSelect.OUT), `readiness reported as ${bitsName(union)}, expected IN|OUT`);
  }),

  row(
    'readiness-not-interest',
    'only CSelect bits reach api->action, and only for what is ready (row 11)',
    async (ctx) => {
      const { core } = ctx;
      const [a, b] = ctx.pair();
      check(core.socket(a, Poll.INOUT, FRESH) === 0, 'INOUT failed');
      await until(() => core.actions(a).length > 0, 'OUT reported for a writable socket');
      await quiet();
      expectOnly(
        core.actions(a),
        CSelect.OUT,
        'INOUT watched, only writable: ev_bitmask is the readiness, not the what-bits',
      );
      addon.writeBytes(b, 1);
      const mark = ctx.mark();
      await until(
        () => ctx.actionsSince(mark, a).some((x) => x.bits & CSelect.IN),
        'IN reported once readable',
      );
      // (Every action of every row is also checked for bits outside CSelect: see runTableRow.)
    },
  ),

  row(
    'level-triggered',
    'unread data is reported again on later turns (level-triggered, 29)',
    async (ctx) => {
      const { core } = ctx;
      const [a, b] = ctx.pair();
      check(core.socket(a, Poll.IN, FRESH) === 0, 'IN failed');
      addon.writeBytes(b, 1); // never read
      await until(() => core.actions(a).length >= 3, 'unread data reported on three turns', 500);
    },
  ),

  row('timer-replaced', 'timer(200) then timer(50) arms one timer, at 50 ms (row 12)', async (ctx) => {
    const { core } = ctx;
    const t0 = performance.now();
    check(core.timer(200) === 0 && core.timer(50) === 0, 'timer() failed');
    const stats = core.stats();
    check(stats === null || stats.timerArmed, 'stats().timerArmed is false after timer(50)');
    await until(() => core.actions(SOCKET_TIMEOUT).length > 0, 'the timer fired', 1000);
    const ms = performance.now() - t0;
    // (libuv measures from its cached loop time, which may be a few ms behind: hence 30.)
    check(ms >= 30 && ms < 190, `the timer fired after ${ms.toFixed(0)} ms, expected about 50`);
    await sleep(Math.max(0, 320 - (performance.now() - t0)));
    const fired = core.actions(SOCKET_TIMEOUT).length;
    check(fired === 1, `the timer fired ${fired} times: the 200 ms value was not replaced`);
  }),

  row('timer-zero', 'timer(0) fires on a later turn, never inside timer() (row 13)', async (ctx) => {
    const { core } = ctx;
    check(core.timer(0) === 0, 'timer(0) failed');
    const inside = core.actions(SOCKET_TIMEOUT);
    check(
      inside.length === 0,
      `timer(0) called api->action from inside timer()${inside[0]?.inside ? ' (refused: CURLM_RECURSIVE_API_CALL)' : ''}: 0 fires on a later turn (docs/contract.md#one-timer, docs/contract.md#no-re-entry)`,
    );
    await until(() => core.actions(SOCKET_TIMEOUT).length > 0, 'timer(0) fired', 200);
    await quiet();
    const fired = core.actions(SOCKET_TIMEOUT);
    check(fired.length === 1, `timer(0) fired ${fired.length} times`);
    const at = core.records.indexOf(fired[0]!);
    check(
      core.records.slice(at + 1).some((r) => r.kind === 'flush'),
      'no api->flush followed the timer action',
    );
  }),

  row('timer-delete', 'timer(-1) disarms (row 14)', async (ctx) => {
    const { core } = ctx;
    check(core.timer(30) === 0 && core.timer(-1) === 0, 'timer() failed');
    const stats = core.stats();
    check(stats === null || !stats.timerArmed, 'stats().timerArmed is true after timer(-1)');
    await sleep(100);
    check(core.actions(SOCKET_TIMEOUT).length === 0, 'the timer fired after timer(-1) deleted it');
  }),

  row('timer-consumed', 'a fired timer is consumed: nothing re-arms it (row 15)', async (ctx) => {
    const { core } = ctx;
    check(core.timer(10) === 0, 'timer(10) failed');
    await until(() => core.actions(SOCKET_TIMEOUT).length > 0, 'the timer fired');
    const stats = core.stats();
    check(stats === null || !stats.timerArmed, 'stats().timerArmed is still true once the timer fired');
    await sleep(80);
    const fired = core.actions(SOCKET_TIMEOUT).length;
    check(fired === 1, `the timer fired ${fired} times for one timer(10)`);
  }),

  row('timer-zero-x3', 'three timer(0) give one action (row 16)', async (ctx) => {
    const { core } = ctx;
    for (let i = 0; i < 3; i++) check(core.timer(0) === 0, 'timer(0) failed');
    await until(() => core.actions(SOCKET_TIMEOUT).length > 0, 'timer(0) fired', 200);
    await quiet();
    const fired = core.actions(SOCKET_TIMEOUT).length;
    check(fired === 1, `three timer(0) gave ${fired} actions: one timer, each value replaces the last`);
  }),

  row(
    'tracked-kept',
    'a TRACKED socket: no events after REMOVE, and closed() releases what was kept',
    async (ctx) => {
      const { core } = ctx;
      const [a, b] = ctx.pair();
      check(core.socket(a, Poll.IN, FRESH | TRACKED) === 0, 'IN failed');
      addon.writeBytes(b, 1); // never read
      await until(() => core.actions(a).length > 0, 'IN reported');
      const first = onePoll(ctx, a, 'watched');
      check(core.socket(a, Poll.REMOVE, TRACKED) === 0, 'REMOVE failed');
      expectRegistrations(ctx, 0, 'after REMOVE of a TRACKED socket');
      let mark = ctx.mark();
      await quiet();
      check(ctx.actionsSince(mark, a).length === 0, 'a REMOVEd TRACKED socket was still reported');
      if (ctx.options.keepsTrackedHandles) {
        const kept = onePoll(ctx, a, 'REMOVEd, TRACKED');
        check(kept?.id === first?.id && !kept?.active, 'the TRACKED socket did not keep its handle, stopped');
      }
      check(core.socket(a, Poll.IN, FRESH | TRACKED) === 0, 'IN again failed');
      mark = ctx.mark();
      await until(() => ctx.actionsSince(mark, a).length > 0, 'IN reported after the announcement again');
      if (ctx.options.keepsTrackedHandles) {
        check(onePoll(ctx, a, 'announced again')?.id === first?.id, 'the kept handle was not used again');
      }
      check(core.socket(a, Poll.REMOVE, TRACKED) === 0, 'REMOVE failed');
      core.closed(a);
      await quiet();
      expectNoPoll(ctx, a, 'after closed()');
      expectRegistrations(ctx, 0, 'after closed()');
    },
  ),

  row('untracked-released', 'an untracked socket is released at REMOVE', async (ctx) => {
    const { core } = ctx;
    const [a, b] = ctx.pair();
    check(core.socket(a, Poll.IN, FRESH) === 0, 'IN failed');
    check(core.socket(a, Poll.REMOVE, 0) === 0, 'REMOVE failed');
    expectRegistrations(ctx, 0, 'after REMOVE');
    addon.writeBytes(b, 1);
    await quiet();
    check(core.actions(a).length === 0, 'a REMOVEd socket was reported');
    expectNoPoll(ctx, a, 'after REMOVE of an untracked socket');
  }),

  row('detach', 'detach leaves nothing: no handle, no timer, no call into the core', async (ctx) => {
    const { core } = ctx;
    const [a, b] = ctx.pair();
    const [c] = ctx.pair();
    check(core.socket(a, Poll.IN, FRESH) === 0, 'IN failed');
    check(core.socket(c, Poll.OUT, FRESH | TRACKED) === 0, 'OUT failed');
    check(core.socket(c, Poll.REMOVE, TRACKED) === 0, 'REMOVE failed'); // kept until closed()
    check(core.timer(20) === 0, 'timer failed');
    addon.writeBytes(b, 1);
    core.detach();
    await quiet(60);
    const late = core.records.slice(core.records.findIndex((r) => r.kind === 'detach'));
    check(
      !late.some((r) => r.kind === 'action' || r.kind === 'flush'),
      'the adapter called into the core after detach',
    );
    expectNoPoll(ctx, a, 'after detach');
    expectNoPoll(ctx, c, 'after detach');
    // The fds are libcurl's: detach must not close them.
    check(addon.writeBytes(a, 1) === 1, 'an fd was unusable after detach');
    // (runTableRow also checks the loop's handles are back to where they were.)
  }),

  row(
    'error-readiness',
    'error readiness (POLLERR): ERR plus the watched directions, watched again while wanted (row 10)',
    async (ctx) => {
      const { core } = ctx;
      const [a, b] = ctx.pair();
      check(core.socket(a, Poll.IN, FRESH) === 0, 'IN failed');
      // Closing a socket with unread data resets its peer: ECONNRESET, POLLERR on a.
      addon.writeBytes(a, 1);
      ctx.close(b);
      await until(() => core.actions(a).length > 0, 'the reset reported');
      const first = core.actions(a)[0]!;
      check(
        (first.bits & CSelect.ERR) !== 0 && (first.bits & CSelect.IN) !== 0,
        `the reset was reported as ${bitsName(first.bits)}, expected ERR with IN (the watched direction: 7.88.1 fails on ERR alone without reading, docs/contract.md#ev_bitmask-is-trusted)`,
      );
      const mark = ctx.mark();
      await until(
        () => ctx.actionsSince(mark, a).length > 0,
        'the socket reported again on a later turn (libuv stops a handle on POLLERR: the adapter must start it again while libcurl wants the fd)',
        500,
      );
      check(core.socket(a, Poll.REMOVE, 0) === 0, 'REMOVE failed');
      const removed = ctx.mark();
      await quiet();
      check(ctx.actionsSince(removed, a).length === 0, 'the socket was reported after its REMOVE');
    },
  ),
];

/** Handles of the kinds an adapter opens on Node's loop (polls, timers, idles, checks). */
function loopHandleCount(): number {
  const { POLL, TIMER, IDLE, CHECK } = addon.uvHandleType;
  return uvHandles().filter((h) => !h.closing && [POLL, TIMER, IDLE, CHECK].includes(h.type)).length;
}

/**
 * Runs one row on a fresh scripted core attached to `loop()`'s table. Rejects with a
 * TableRowError naming what the table did wrong. Whatever the row did, afterwards: no action or
 * flush came from inside a table function or after detach, every action had CSelect bits only,
 * and (with uvPollPerSocket) the loop holds no handle more than before.
 */
export async function runTableRow(
  tableRow: TableRow,
  loop: () => NativeLoop,
  options: TableOptions = {},
): Promise<void> {
  const all: Required<TableOptions> = {
    uvPollPerSocket: false,
    keepsTrackedHandles: false,
    coalescesReadiness: true,
    ...options,
  };
  const handlesBefore = all.uvPollPerSocket ? loopHandleCount() : 0;
  const core = new ScriptedCore(loop());
  const open = new Set<number>();
  const ctx: RowContext = {
    core,
    options: all,
    pair() {
      const fds = addon.socketpair();
      for (const fd of fds) open.add(fd);
      return fds;
    },
    close(fd) {
      if (open.delete(fd)) addon.closeFd(fd);
    },
    mark() {
      core.sync();
      return core.records.length;
    },
    actionsSince(mark, fd) {
      core.sync();
      return core.records.slice(mark).filter((r): r is Action => r.kind === 'action' && r.fd === fd);
    },
    polls(fd) {
      return uvPollsFor(fd).map((h) => ({ id: h.id, active: h.active }));
    },
  };
  let failure: unknown;
  try {
    await tableRow.run(ctx);
  } catch (error) {
    failure = error;
  }
  try {
    core.detach();
    await quiet();
    const inside = core.records.find((r) => (r.kind === 'action' || r.kind === 'flush') && r.inside);
    check(
      inside === undefined,
      `api->${inside?.kind} was called from inside a table function (the core refuses it: CURLM_RECURSIVE_API_CALL)`,
    );
    const late = core.records.find((r) => (r.kind === 'action' || r.kind === 'flush') && r.afterDetach);
    check(late === undefined, `api->${late?.kind} was called during or after detach`);
    const bad = core.records.find((r) => r.kind === 'action' && (r.bits & ~7) !== 0) as Action | undefined;
    check(
      bad === undefined,
      `api->action(${bad?.fd}, ${bad?.bits}): bits outside CSelect (docs/contract.md#constants; docs/contract.md#conformance row 11)`,
    );
    if (all.uvPollPerSocket) {
      for (const fd of open) expectNoPoll(ctx, fd, 'after detach');
      const now = loopHandleCount();
      check(
        now === handlesBefore,
        `after detach the loop holds ${now - handlesBefore} handle(s) more than before`,
      );
    }
  } catch (error) {
    failure ??= error;
  } finally {
    for (const fd of open) addon.closeFd(fd);
  }
  if (failure !== undefined) throw failure;
}

/** The rows as a vitest describe('table rows: <name>'), one test per row. */
export function describeTableRows(name: string, loop: () => NativeLoop, options: TableOptions = {}): void {
  describe(`table rows: ${name}`, () => {
    for (const r of tableRows) {
      it(`${name}: ${r.title}`, () => runTableRow(r, loop, options));
    }
  });
}
