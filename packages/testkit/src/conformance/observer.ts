import {
  CSelect,
  type Multi,
  NativeTrace,
  Poll,
  SOCKET_TIMEOUT,
  type SocketCallback,
  type TimerCallback,
} from '@multisock/core';

/** One thing the observer saw, in order. `read` marks an action during which libcurl read
 * data (set by a check's DEBUGFUNCTION through markRead). */
export type ObservedEvent =
  | { type: 'socket'; fd: number; what: number; easy: boolean }
  | { type: 'timer'; ms: number }
  | { type: 'action'; fd: number; bits: number; read?: boolean };

const VALID_BITS = CSelect.IN | CSelect.OUT | CSelect.ERR;

/**
 * Sits between libcurl and the adapter under test without touching the adapter, and records
 * every breach of the contract it can see. It learns what libcurl asked for and what the adapter
 * reported in one of two ways, and checks the same invariants on both:
 * - an adapter written in TypeScript: it wraps the SOCKETFUNCTION and TIMERFUNCTION the adapter
 *   installs through the public setopt, and the multi's socketAction the adapter calls;
 * - a native adapter (multisock/loop.h): it reads the core's native trace of every socket and
 *   timer callback, socket_action and loop turn, in order, whenever it is asked anything.
 */
export class Observer {
  readonly #interest = new Map<number, number>();
  readonly #events: ObservedEvent[] = [];
  readonly #violations: string[] = [];
  /** fds REMOVEd in this loop turn: a stale event already fetched by the loop may still arrive
   * for them (docs/contract.md#conformance row 5 allows passing it harmlessly), but not on a later turn. */
  readonly #justRemoved = new Set<number>();
  /** Interest each fd had at any point in this loop turn: readiness fetched before a change
   * may still be dispatched in the same turn. */
  readonly #recentInterest = new Map<number, number>();
  #turnScheduled: NodeJS.Immediate | null = null;
  /** Whether libcurl has a timer outstanding the adapter may fire (set by a value >= 0,
   * cleared by -1 and by the firing itself, docs/contract.md#one-timer, docs/contract.md#timer-only-on-change). */
  #timerPending = false;
  /** Whether libcurl has called the timer callback since the adapter installed it. */
  #timerSeen = false;
  /** The adapter's own view, once attached (attachment.registrations / timerArmed), for an
   * adapter written in TypeScript; a native one reports it in the trace. */
  introspect: { registrations(): number | undefined; timerArmed(): boolean | undefined } | null = null;
  #inTimerCallback = false;
  #inSocketCallback = false;
  /** Throw this from the next socket callback (after the adapter handled it). */
  #throwFromSocketCallback: Error | null = null;
  #lastTimer: number | null = null;
  #socketActions = 0;
  #socketCallbacks = 0;
  #timerCallbacks = 0;

  constructor(
    /** The multi observed (its native trace is turned on). */
    readonly multi: Multi,
  ) {
    multi.traceNativeLoop(true);
    const setopt = multi.setopt.bind(multi) as (name: string, value: unknown) => void;
    const socketAction = multi.socketAction.bind(multi);
    const self = this;
    Object.defineProperty(multi, 'setopt', {
      configurable: true,
      writable: true,
      value(name: string, value: unknown) {
        if (name === 'SOCKETFUNCTION' && typeof value === 'function') {
          return setopt(name, self.#wrapSocket(value as SocketCallback));
        }
        if (name === 'TIMERFUNCTION' && typeof value === 'function') {
          self.#timerSeen = false;
          return setopt(name, self.#wrapTimer(value as TimerCallback));
        }
        return setopt(name, value);
      },
    });
    Object.defineProperty(multi, 'socketAction', {
      configurable: true,
      writable: true,
      value(fd: number, bits: number) {
        // Under a native loop the core's trace records JS calls too.
        if (!self.#native) self.#onAction(fd, bits, 'js');
        return socketAction(fd, bits);
      },
    });
  }

  /** fd -> the interest libcurl last announced (Poll bits), for sockets not REMOVEd. */
  get interest(): ReadonlyMap<number, number> {
    this.sync();
    return this.#interest;
  }

  /** Everything seen, in order. */
  get events(): readonly ObservedEvent[] {
    this.sync();
    return this.#events;
  }

  /** Every contract violation seen so far, as a message. */
  get violations(): readonly string[] {
    this.sync();
    return this.#violations;
  }

  /** The last timer value libcurl gave (null before any). */
  get lastTimer(): number | null {
    this.sync();
    return this.#lastTimer;
  }

  /** socketAction calls seen. */
  get socketActions(): number {
    this.sync();
    return this.#socketActions;
  }

  /** Socket callbacks libcurl made. */
  get socketCallbacks(): number {
    this.sync();
    return this.#socketCallbacks;
  }

  /** Timer callbacks libcurl made. */
  get timerCallbacks(): number {
    this.sync();
    return this.#timerCallbacks;
  }

  /** fds announced and not REMOVEd. */
  get watched(): number[] {
    return [...this.interest.keys()];
  }

  /** Marks the action in progress as one during which libcurl read data (from a
   * DEBUGFUNCTION, which runs inside it). */
  markRead(): void {
    this.sync();
    for (let i = this.#events.length - 1; i >= 0; i--) {
      const event = this.#events[i]!;
      if (event.type === 'action') {
        event.read = true;
        return;
      }
    }
  }

  /** Makes the next socket callback fail once the adapter has handled it: the JS callback
   * throws `error` (an adapter written in TypeScript), or the core treats the native adapter's
   * answer as a failure. */
  failNextSocketCallback(error: Error): void {
    this.#throwFromSocketCallback = error;
    this.multi.failNextNativeSocket(error.message);
  }

  /** Records a contract violation. */
  violation(message: string): void {
    if (this.#violations.length < 50 && !this.#violations.includes(message)) this.#violations.push(message);
  }

  /** Whether a native loop drives the multi. */
  get #native(): boolean {
    return this.multi.nativeLoop !== null;
  }

  /** Reads what the native trace recorded since the last call. */
  sync(): void {
    const trace = this.multi.takeNativeTrace();
    const F = NativeTrace.FIELDS;
    for (let i = 0; i + F <= trace.length; i += F) {
      const [kind, a, b, c, d] = [trace[i]!, trace[i + 1]!, trace[i + 2]!, trace[i + 3]!, trace[i + 4]!];
      switch (kind) {
        case NativeTrace.SOCKET:
          this.#onSocket(a, b, (c & NativeTrace.SOCKET_EASY) !== 0);
          this.#afterSocket(a, b, d < 0 ? undefined : d);
          break;
        case NativeTrace.TIMER:
          this.#onTimer(a);
          this.#afterTimer(a, d < 0 ? undefined : d === 1);
          break;
        case NativeTrace.ACTION:
          if ((c & NativeTrace.ACTION_REFUSED) !== 0) {
            this.violation(
              `socketAction(${a}, ${b}) called synchronously from inside a libcurl callback, and refused (docs/contract.md#one-timer, docs/contract.md#no-re-entry)`,
            );
          }
          this.#onAction(a, b, (c & NativeTrace.ACTION_REFUSED) !== 0 ? 'refused' : 'trace');
          break;
        case NativeTrace.TURN:
          this.#turn();
          break;
      }
    }
  }

  // --- what the observer makes of each event -----------------------------------------------------

  #onSocket(fd: number, what: number, easy: boolean): void {
    this.#socketCallbacks++;
    this.#events.push({ type: 'socket', fd, what, easy });
    if (what === Poll.REMOVE) {
      this.#interest.delete(fd);
      this.#justRemoved.add(fd);
    } else {
      this.#interest.set(fd, what);
      this.#justRemoved.delete(fd);
      this.#recentInterest.set(fd, (this.#recentInterest.get(fd) ?? 0) | what);
    }
  }

  #afterSocket(fd: number, what: number, registrations: number | undefined): void {
    if (registrations !== undefined && registrations !== this.#interest.size) {
      const op = what === Poll.REMOVE ? 'REMOVE' : `what=${what}`;
      this.violation(
        `after SOCKETFUNCTION(fd ${fd}, ${op}) attachment.registrations is ${registrations} but libcurl watches ${this.#interest.size} sockets (docs/contract.md#whole-interest-set, docs/contract.md#remove-is-not-close; docs/contract.md#mapping)`,
      );
    }
  }

  #onTimer(ms: number): void {
    this.#timerCallbacks++;
    this.#events.push({ type: 'timer', ms });
    this.#lastTimer = ms;
    this.#timerSeen = true;
    this.#timerPending = ms >= 0;
  }

  #afterTimer(ms: number, armed: boolean | undefined): void {
    // (Unless the adapter already fired it inside the callback: reported on its own.)
    if (armed !== undefined && armed !== ms >= 0 && this.#timerPending === ms >= 0) {
      this.violation(
        `after TIMERFUNCTION(${ms}) attachment.timerArmed is ${armed} (one timer: a value arms or replaces it, -1 deletes it; docs/contract.md#one-timer)`,
      );
    }
  }

  /** `source`: a call the wrapped socketAction saw now ('js'), or one the trace recorded (made
   * by a native loop, or by JS while one was attached), possibly refused by the core. */
  #onAction(fd: number, bits: number, source: 'js' | 'trace' | 'refused'): void {
    this.#socketActions++;
    this.#events.push({ type: 'action', fd, bits });
    if (source === 'refused') return;
    if (source === 'js' && this.multi.closed) {
      this.violation(
        `socketAction(${fd}, ${bits}) after the multi was closed (docs/contract.md#cleanup; docs/contract.md#conformance row 20)`,
      );
      return;
    }
    if (source === 'js' && (this.#inTimerCallback || this.#inSocketCallback || this.multi.inCallback)) {
      const where = this.#inTimerCallback ? 'the timer callback' : 'a libcurl callback';
      this.violation(
        `socketAction(${fd}, ${bits}) called synchronously from inside ${where} (docs/contract.md#one-timer, docs/contract.md#no-re-entry)`,
      );
    }
    if (!Number.isInteger(bits) || (bits & ~VALID_BITS) !== 0) {
      this.violation(
        `socketAction(${fd}, ${bits}): ev_bitmask has bits outside CSelect (docs/contract.md#constants)`,
      );
    }
    if (fd === SOCKET_TIMEOUT) {
      // A kick-start right after attaching is harmless; otherwise each timer fires once at most.
      if (!this.#timerPending && this.#timerSeen) {
        this.violation(
          `socketAction(SOCKET_TIMEOUT) with no timer outstanding: libcurl deleted it (-1) or it already fired (docs/contract.md#one-timer, docs/contract.md#timer-only-on-change; docs/contract.md#conformance rows 14, 15, 16)`,
        );
      }
      this.#timerPending = false; // consumed; libcurl announces a new value if it needs one
      return;
    }
    if (!this.#interest.has(fd) && !this.#justRemoved.has(fd)) {
      this.violation(
        `socketAction(${fd}, ${bits}) for a socket libcurl is not watching (REMOVEd or never announced; docs/contract.md#remove-is-not-close; docs/contract.md#mapping)`,
      );
      return;
    }
    const wanted = (this.#interest.get(fd) ?? 0) | (this.#recentInterest.get(fd) ?? 0);
    if ((bits & CSelect.OUT) !== 0 && (bits & CSelect.ERR) === 0 && (wanted & Poll.OUT) === 0) {
      this.violation(
        `socketAction(${fd}, ${bits}) reports OUT for a socket libcurl watches for IN only: 'what' replaces the interest, it is not added to it (docs/contract.md#whole-interest-set)`,
      );
    }
  }

  /** A loop turn ended: readiness fetched earlier cannot be dispatched any more. */
  #turn(): void {
    for (const fd of this.#justRemoved) if (!this.#interest.has(fd)) this.#justRemoved.delete(fd);
    this.#recentInterest.clear();
  }

  // --- an adapter written in TypeScript ----------------------------------------------------------

  #scheduleTurn(): void {
    this.#turnScheduled ??= setImmediate(() => {
      this.#turnScheduled = null;
      this.#turn();
    });
  }

  #wrapSocket(inner: SocketCallback): SocketCallback {
    return (easy, fd, what, clientp, socketp) => {
      this.#onSocket(fd, what, easy !== null);
      this.#scheduleTurn();
      const nested = this.#inSocketCallback;
      this.#inSocketCallback = true;
      let result: number | undefined;
      try {
        result = inner(easy, fd, what, clientp, socketp);
      } finally {
        this.#inSocketCallback = nested;
      }
      this.#afterSocket(fd, what, this.introspect?.registrations());
      const toThrow = this.#throwFromSocketCallback;
      if (toThrow && what !== Poll.REMOVE) {
        this.#throwFromSocketCallback = null;
        throw toThrow;
      }
      return result;
    };
  }

  #wrapTimer(inner: TimerCallback): TimerCallback {
    return (multi, ms, clientp) => {
      this.#onTimer(ms);
      this.#inTimerCallback = true;
      let result: number | undefined;
      try {
        result = inner(multi, ms, clientp);
      } finally {
        this.#inTimerCallback = false;
      }
      this.#afterTimer(ms, this.introspect?.timerArmed());
      return result;
    };
  }
}
