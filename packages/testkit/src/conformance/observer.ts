import {
  CSelect,
  type Multi,
  Poll,
  SOCKET_TIMEOUT,
  type SocketCallback,
  type TimerCallback,
} from '@multisock/core';

/** One thing the observer saw, in order. */
export type ObservedEvent =
  | { type: 'socket'; fd: number; what: number; easy: boolean }
  | { type: 'timer'; ms: number }
  | { type: 'action'; fd: number; bits: number };

const VALID_BITS = CSelect.IN | CSelect.OUT | CSelect.ERR;

/**
 * Sits between libcurl and the adapter under test without touching the adapter: it wraps the
 * SOCKETFUNCTION and TIMERFUNCTION the adapter installs through the public setopt, and the
 * multi's socketAction the adapter calls. From that it knows what libcurl asked for and what the
 * adapter reported, and records every breach of the contract it can see.
 */
export class Observer {
  /** fd -> the interest libcurl last announced (Poll bits), for sockets not REMOVEd. */
  readonly interest = new Map<number, number>();
  readonly events: ObservedEvent[] = [];
  readonly violations: string[] = [];
  /** fds REMOVEd in this loop turn: a stale event already fetched by the loop may still arrive
   * for them (CONTRACT (b)5 allows passing it harmlessly), but not on a later turn. */
  readonly #justRemoved = new Set<number>();
  /** Interest each fd had at any point in this loop turn: readiness fetched before a change
   * may still be dispatched in the same turn. */
  readonly #recentInterest = new Map<number, number>();
  #recentClear: NodeJS.Immediate | null = null;
  /** Whether libcurl has a timer outstanding the adapter may fire (set by a value >= 0,
   * cleared by -1 and by the firing itself, CONTRACT 18, 20). */
  #timerPending = false;
  /** Whether libcurl has called the timer callback since the adapter installed it. */
  #timerSeen = false;
  /** The adapter's own view, once attached (attachment.registrations / timerArmed). */
  introspect: { registrations(): number | undefined; timerArmed(): boolean | undefined } | null = null;
  #inTimerCallback = false;
  #inSocketCallback = false;
  /** Throw this from the next socket callback (after the adapter handled it). */
  #throwFromSocketCallback: Error | null = null;
  #lastTimer: number | null = null;
  socketActions = 0;
  socketCallbacks = 0;
  timerCallbacks = 0;

  constructor(readonly multi: Multi) {
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
        self.#onSocketAction(fd, bits);
        return socketAction(fd, bits);
      },
    });
  }

  /** The last timer value libcurl gave (null before any). */
  get lastTimer(): number | null {
    return this.#lastTimer;
  }

  /** Makes the next socket callback throw `error` once the adapter has handled it. */
  failNextSocketCallback(error: Error): void {
    this.#throwFromSocketCallback = error;
  }

  violation(message: string): void {
    if (this.violations.length < 50 && !this.violations.includes(message)) this.violations.push(message);
  }

  /** fds announced and not REMOVEd. */
  get watched(): number[] {
    return [...this.interest.keys()];
  }

  #wrapSocket(inner: SocketCallback): SocketCallback {
    return (easy, fd, what, clientp, socketp) => {
      this.socketCallbacks++;
      this.events.push({ type: 'socket', fd, what, easy: easy !== null });
      if (what === Poll.REMOVE) {
        this.interest.delete(fd);
        this.#justRemoved.add(fd);
        setImmediate(() => {
          if (!this.interest.has(fd)) this.#justRemoved.delete(fd);
        });
      } else {
        this.interest.set(fd, what);
        this.#justRemoved.delete(fd);
        this.#remember(fd, what);
      }
      const nested = this.#inSocketCallback;
      this.#inSocketCallback = true;
      let result: number | undefined;
      try {
        result = inner(easy, fd, what, clientp, socketp);
      } finally {
        this.#inSocketCallback = nested;
      }
      const registrations = this.introspect?.registrations();
      if (registrations !== undefined && registrations !== this.interest.size) {
        const op = what === Poll.REMOVE ? 'REMOVE' : `what=${what}`;
        this.violation(
          `after SOCKETFUNCTION(fd ${fd}, ${op}) attachment.registrations is ${registrations} but libcurl watches ${this.interest.size} sockets (CONTRACT 4, 9, (c))`,
        );
      }
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
      this.timerCallbacks++;
      this.events.push({ type: 'timer', ms });
      this.#lastTimer = ms;
      this.#timerSeen = true;
      this.#timerPending = ms >= 0;
      this.#inTimerCallback = true;
      let result: number | undefined;
      try {
        result = inner(multi, ms, clientp);
      } finally {
        this.#inTimerCallback = false;
      }
      const armed = this.introspect?.timerArmed();
      // (Unless the adapter already fired it inside the callback: reported on its own.)
      if (armed !== undefined && armed !== ms >= 0 && this.#timerPending === ms >= 0) {
        this.violation(
          `after TIMERFUNCTION(${ms}) attachment.timerArmed is ${armed} (one timer: a value arms or replaces it, -1 deletes it; CONTRACT 18)`,
        );
      }
      return result;
    };
  }

  #onSocketAction(fd: number, bits: number): void {
    this.socketActions++;
    this.events.push({ type: 'action', fd, bits });
    if (this.multi.closed) {
      this.violation(`socketAction(${fd}, ${bits}) after the multi was closed (CONTRACT 34, (b)20)`);
      return;
    }
    if (this.#inTimerCallback || this.#inSocketCallback || this.multi.inCallback) {
      const where = this.#inTimerCallback ? 'the timer callback' : 'a libcurl callback';
      this.violation(
        `socketAction(${fd}, ${bits}) called synchronously from inside ${where} (CONTRACT 18, 21)`,
      );
    }
    if (!Number.isInteger(bits) || (bits & ~VALID_BITS) !== 0) {
      this.violation(`socketAction(${fd}, ${bits}): ev_bitmask has bits outside CSelect (CONTRACT 1)`);
    }
    if (fd === SOCKET_TIMEOUT) {
      // A kick-start right after attaching is harmless; otherwise each timer fires once at most.
      if (!this.#timerPending && this.#timerSeen) {
        this.violation(
          `socketAction(SOCKET_TIMEOUT) with no timer outstanding: libcurl deleted it (-1) or it already fired (CONTRACT 18, 20; (b)14, 15, 16)`,
        );
      }
      this.#timerPending = false; // consumed; libcurl announces a new value if it needs one
      return;
    }
    if (!this.interest.has(fd) && !this.#justRemoved.has(fd)) {
      this.violation(
        `socketAction(${fd}, ${bits}) for a socket libcurl is not watching (REMOVEd or never announced; CONTRACT 9, (c) REMOVE)`,
      );
      return;
    }
    const wanted = (this.interest.get(fd) ?? 0) | (this.#recentInterest.get(fd) ?? 0);
    if ((bits & CSelect.OUT) !== 0 && (bits & CSelect.ERR) === 0 && (wanted & Poll.OUT) === 0) {
      this.violation(
        `socketAction(${fd}, ${bits}) reports OUT for a socket libcurl watches for IN only: 'what' replaces the interest, it is not added to it (CONTRACT 4)`,
      );
    }
  }

  #remember(fd: number, what: number): void {
    this.#recentInterest.set(fd, (this.#recentInterest.get(fd) ?? 0) | what);
    this.#recentClear ??= setImmediate(() => {
      this.#recentClear = null;
      this.#recentInterest.clear();
    });
  }
}
