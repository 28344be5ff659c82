import type { LoopAdapter, LoopAttachment, Multi } from '@multisock/core';

/** A loop the application runs itself (EpollReactor, KqueueReactor). */
export interface Reactor {
  attach(multi: Multi): LoopAttachment;
  /** Waits up to `timeoutMs` for events, dispatches them, returns how many. */
  runOnce(timeoutMs: number): number;
  close(): void;
}

/** What driveReactor takes. */
export interface ReactorDriverOptions {
  /** How long one runOnce may block Node's loop while transfers are active (default 1 ms). */
  sliceMs?: number;
  /** How often an idle reactor is looked at (default 1 ms). */
  idleMs?: number;
}

/**
 * Presents a reactor as a LoopAdapter for the conformance suite. The reactor does all the work
 * (its own registrations, timers and dispatch); the driver only calls runOnce in short slices
 * from Node's loop, because the suite's servers live on that loop and a reactor blocking the
 * thread would starve them. One reactor per adapter: multis attached through the same adapter
 * share it, as an application would share one.
 */
export function driveReactor(
  name: string,
  makeReactor: () => Reactor,
  options: ReactorDriverOptions = {},
): LoopAdapter {
  const sliceMs = options.sliceMs ?? 1;
  const idleMs = options.idleMs ?? 1;
  let reactor: Reactor | null = null;
  let live = 0;
  let pump: NodeJS.Timeout | NodeJS.Immediate | null = null;
  let running = false;

  const stopPump = () => {
    if (pump === null) return;
    clearTimeout(pump as NodeJS.Timeout);
    clearImmediate(pump as NodeJS.Immediate);
    pump = null;
  };
  const tick = () => {
    pump = null;
    if (reactor === null) return;
    running = true;
    let dispatched: number;
    try {
      dispatched = reactor.runOnce(sliceMs);
    } finally {
      running = false;
    }
    if (reactor === null) return;
    pump = dispatched > 0 ? setImmediate(tick) : setTimeout(tick, idleMs);
  };
  const release = () => {
    if (--live > 0) return;
    stopPump();
    const r = reactor;
    reactor = null;
    // close() is not allowed inside runOnce: a multi closed from a callback closes it later.
    if (r !== null) running ? setImmediate(() => r.close()) : r.close();
  };

  return {
    name,
    attach(multi: Multi): LoopAttachment {
      reactor ??= makeReactor();
      const inner = reactor.attach(multi);
      live++;
      if (pump === null) pump = setImmediate(tick);
      let released = false;
      const once = () => {
        if (released) return;
        released = true;
        release();
      };
      const unsubscribe = multi.onClose(() => setImmediate(once));
      // Forward the attachment's own introspection (registrations, timerArmed...) unchanged.
      return new Proxy(inner, {
        get(target, key) {
          if (key === 'detach') {
            return () => {
              target.detach();
              unsubscribe();
              once();
            };
          }
          // The target as receiver: its getters may read #private fields.
          const value: unknown = Reflect.get(target, key, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    },
  };
}
