import { CurlError, Easy, type LoopAdapter, type LoopAttachment, Multi } from '@multisock/core';
import { expectFdsBack, openFdCount, openFds } from '../fds.js';
import type { ConformanceEnvironment } from './environment.js';
import { Observer } from './observer.js';

/** A check failed: the message says what the adapter did wrong. */
export class ConformanceError extends Error {
  override name = 'ConformanceError';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ConformanceError(message);
}

/** Rejects with a ConformanceError naming `what` if `promise` has not settled after `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ConformanceError(`${what}: not done after ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 5 ms until it holds, or fails naming `what`. */
export async function waitFor(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new ConformanceError(`${what}: not true after ${ms} ms`);
    await sleep(5);
  }
}

/** Awaits a transfer that must fail, and returns its CurlError. */
export async function expectCurlError(
  promise: Promise<unknown>,
  ms: number,
  what: string,
): Promise<CurlError> {
  let error: unknown;
  try {
    await within(promise, ms, what);
  } catch (e) {
    error = e;
  }
  if (error instanceof ConformanceError) throw error;
  assert(error !== undefined, `${what}: succeeded, expected a CurlError`);
  assert(error instanceof CurlError, `${what}: expected a CurlError, got ${String(error)}`);
  return error;
}

/** The optional introspection adapters offer (DESIGN: read back nothing private). */
interface Introspection {
  registrations?: unknown;
  timerArmed?: unknown;
}

/** One Multi, observed, with the adapter under test attached. */
export class Session {
  /** The session's multi, attached to the adapter under test. */
  readonly multi = new Multi();
  /** What the adapter did with it, checked against the contract. */
  readonly observer = new Observer(this.multi);
  readonly #easies: Easy[] = [];
  #attachment: LoopAttachment;

  constructor(
    /** The adapter under test. */
    readonly adapter: LoopAdapter,
  ) {
    this.#attachment = this.#attach(adapter);
    this.observer.introspect = {
      registrations: () => this.registrations,
      timerArmed: () => this.timerArmed,
    };
  }

  /** The current attachment of the adapter to this session's multi. */
  get attachment(): LoopAttachment {
    return this.#attachment;
  }

  /** Attaches `adapter` anew (after the check detached the previous attachment). */
  reattach(adapter: LoopAdapter): LoopAttachment {
    this.#attachment = this.#attach(adapter);
    return this.#attachment;
  }

  #attach(adapter: LoopAdapter): LoopAttachment {
    const attachment = adapter.attach(this.multi);
    assert(
      attachment && typeof attachment.detach === 'function',
      `${adapter.name}.attach() must return a LoopAttachment with detach()`,
    );
    return attachment;
  }

  /** attachment.registrations (a count, or a Map/Set of them), if the adapter exposes it. */
  get registrations(): number | undefined {
    const value = (this.attachment as Introspection).registrations;
    if (typeof value === 'number') return value;
    if (value instanceof Map || value instanceof Set) return value.size;
    return undefined;
  }

  /** attachment.timerArmed, if the adapter exposes it. */
  get timerArmed(): boolean | undefined {
    const value = (this.attachment as Introspection).timerArmed;
    return typeof value === 'boolean' ? value : undefined;
  }

  /** A new Easy for `url`, closed with the session. Proxies from the environment are ignored. */
  easy(url: string): Easy {
    const easy = new Easy();
    easy.setopt('URL', url);
    easy.setopt('PROXY', '');
    easy.setopt('NOSIGNAL', 1);
    this.#easies.push(easy);
    return easy;
  }

  /** Performs `easy`; fails if it has not finished within `ms`. */
  perform(easy: Easy, ms: number, what = `GET ${easy.getinfo('EFFECTIVE_URL')}`): Promise<Easy> {
    const promise = within(this.multi.perform(easy), ms, what);
    // A check that fails early leaves some transfers unawaited: their rejection at close() is
    // part of the failure already reported, not an unhandled rejection of its own.
    promise.catch(() => {});
    return promise;
  }

  /** The adapter holds nothing for a multi libcurl watches nothing on (every transfer done). */
  expectNoRegistrations(when: string): void {
    assert(
      this.observer.interest.size === 0,
      `${when}: libcurl still watches fds ${this.observer.watched.join(', ')}`,
    );
    const registrations = this.registrations;
    assert(
      registrations === undefined || registrations === 0,
      `${when}: attachment.registrations is ${registrations}, expected 0`,
    );
  }

  /** After close(): no registration and no timer (docs/contract.md#cleanup; docs/contract.md#conformance row 20). */
  expectReleased(when: string): void {
    const registrations = this.registrations;
    assert(
      registrations === undefined || registrations === 0,
      `${when}: attachment.registrations is ${registrations}, expected 0 after close()`,
    );
    assert(this.timerArmed !== true, `${when}: attachment.timerArmed is still true after close()`);
  }

  /** Closes the multi (if the check did not), then checks what close() must guarantee. */
  async finish(): Promise<void> {
    try {
      if (!this.multi.closed) this.multi.close();
      this.expectReleased('after multi.close()');
      // A late event for a closed multi would show up now (as an Observer violation).
      await sleep(20);
    } finally {
      for (const easy of this.#easies) easy.close();
    }
  }
}

/** What a check receives. */
export interface CheckContext {
  readonly env: ConformanceEnvironment;
  readonly adapterName: string;
  /** Open fds when the check started (the harness checks they are back at the end). */
  readonly fdBaseline: number;
  /** A new observed Multi with a fresh attachment of the adapter; finished by the harness. */
  session(adapter?: LoopAdapter): Session;
  /** A new adapter from the factory under test. */
  makeAdapter(): LoopAdapter;
}

/** One check of the conformance suite: a plain async function over a CheckContext. */
export interface ConformanceCheck {
  /** Stable id, used by options.skip/only. */
  readonly id: string;
  /** Test title (the suite prefixes the adapter name). */
  readonly title: string;
  /** Upper bound for the whole check. */
  readonly timeoutMs: number;
  run(ctx: CheckContext): Promise<void>;
}

/**
 * Runs one check against an adapter as a plain async function: resolves if the adapter passed,
 * rejects with a ConformanceError (or the error the check met) if it did not. Every session is
 * closed and the process's fds must be back to where they were, whatever happened.
 */
export async function runCheck(
  check: ConformanceCheck,
  makeAdapter: () => LoopAdapter,
  env: ConformanceEnvironment,
): Promise<void> {
  const fds = openFds();
  const fdBaseline = openFdCount();
  const sessions: Session[] = [];
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  let adapterName = '?';
  let failure: unknown;
  try {
    const first = makeAdapter();
    adapterName = first.name;
    const ctx: CheckContext = {
      env,
      adapterName,
      fdBaseline,
      makeAdapter,
      session(adapter = first) {
        const session = new Session(adapter);
        sessions.push(session);
        return session;
      },
    };
    await within(check.run(ctx), check.timeoutMs, check.title);
  } catch (error) {
    failure = error;
  }
  for (const s of sessions) {
    try {
      await s.finish();
    } catch (error) {
      failure ??= error;
    }
  }
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
  // What the Observer saw explains a failure better than its symptom (a transfer that failed or
  // hung), and fails the check even when the transfers happened to succeed.
  const violations = sessions.flatMap((s) => s.observer.violations);
  if (violations.length > 0) {
    const symptom =
      failure === undefined
        ? ''
        : `\n(the check itself failed with: ${(failure as Error).message ?? failure})`;
    failure = new ConformanceError(`contract violations:\n  ${violations.join('\n  ')}${symptom}`, {
      cause: failure,
    });
  }
  if (failure === undefined && uncaught.length > 0) {
    failure = new ConformanceError(`uncaught error in the loop: ${String(uncaught[0])}`, {
      cause: uncaught[0],
    });
  }
  if (failure === undefined) {
    try {
      await expectFdsBack(fds);
    } catch (error) {
      failure = new ConformanceError(`fds leaked: ${(error as Error).message}`);
    }
  } else {
    // Still give the process its fds back before the next check, but report the first failure.
    await expectFdsBack(fds).catch(() => {});
  }
  if (failure !== undefined) throw failure;
}
