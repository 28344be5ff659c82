import { WRITEFUNC_PAUSE } from '../constants.js';
import { Easy } from '../easy.js';
import type { EasyOptions, WriteFunction } from '../generated/types.js';
import {
  initialOptions,
  type OptionName,
  type OptionValue,
  pipewaitFor,
  REQUEST_OPTION_DEFAULTS,
  setOption,
} from './easy-options.js';
import type { HttpVersion } from './options.js';

/** An Easy lent to one request, with what that request changed on it. */
export class PooledEasy {
  /** Option names set for the current request, to put back on release. */
  touched: OptionName[] = [];
  /** The request set options that only curl_easy_reset undoes (a body). */
  dirty = false;
  /** The write callback's last answer was a pause: libcurl holds body bytes for this handle. */
  holding = false;
  /** PIPEWAIT as set on the handle (a new or reset handle has 0). */
  pipewait = false;
  constructor(readonly easy: Easy) {}

  /** setopt for this request only: undone when the handle goes back to the pool. */
  set<K extends OptionName>(name: K, value: EasyOptions[K]): void {
    this.setAny(name, value);
  }

  /** set() with a name known only at run time. */
  setAny(name: OptionName, value: OptionValue): void {
    setOption(
      this.easy,
      name,
      name === 'WRITEFUNCTION' && typeof value === 'function' ? this.#watch(value as WriteFunction) : value,
    );
    if (!this.touched.includes(name)) this.touched.push(name);
  }

  /** The write callback, noting whether libcurl keeps the chunk it refused (a pause). */
  #watch(write: WriteFunction): WriteFunction {
    return (chunk: Buffer) => {
      const answer = write(chunk);
      this.holding = answer === WRITEFUNC_PAUSE;
      return answer;
    };
  }

  /** setopt of an option that only reset() undoes. */
  setDirty<K extends OptionName>(name: K, value: EasyOptions[K]): void {
    setOption(this.easy, name, value);
    this.dirty = true;
  }
}

/**
 * Easy handles reused across requests: a handle keeps the Client's options between uses, and
 * only what a request changed is set back (one or two setopt calls) instead of curl_easy_reset
 * plus the whole setup. Measured here: 0.3 us per request against 2.4 us for reset() and
 * setup. Connections live in the Multi, so they are reused either way.
 *
 * A reused handle must be indistinguishable from a new one, but libcurl keeps state in a handle
 * across transfers that no setopt undoes, and some that curl_easy_reset does not undo either
 * (libcurl 7.88.1 and 8.14.1 read):
 * - the retry count of Curl_retry_request (transfer.c, state.retrycount): each transfer that
 *   was retried on a dead reused connection (HTTP/2 GOAWAY, a server closing a keep-alive
 *   connection) adds one, and once a handle has retried 5 times in its life its next retry
 *   fails with "Connection died, tried 5 times before giving up". Only curl_easy_reset clears
 *   it (curl 8.17.0 clears it per transfer, curl PR 19066). A retry goes through Curl_follow
 *   (FOLLOW_RETRY), which sets REDIRECT_TIME, as does every redirect;
 * - the body bytes held for a paused transfer (state.tempwrite, 7.88.1): multi_done frees them
 *   only when no other transfer uses the connection, so a transfer dropped while paused on a
 *   multiplexed HTTP/2 connection leaves them to the handle's next transfer, whose first pause
 *   appends to them (sendf.c pausewrite) and whose resume delivers them (curl_easy_pause);
 *   curl_easy_reset does not free them;
 * - the saved errno (state.os_errno, CURLINFO_OS_ERRNO) before 8.8.0, never reset;
 * - state.disableexpect after a 417 response (a redirect-like retry, so REDIRECT_TIME is set);
 * - the receive buffer kept after a transfer on a shared connection, which makes
 *   setopt(BUFFERSIZE) fail on that handle until its next transfer ends alone.
 * So a handle goes back to the pool only after a plain transfer: no redirect or retry, no
 * error, no errno, no data held. Any other is closed and a new one made when needed (about
 * 10 us, against the extra round trip a redirect or retry cost anyway). The checks cost one
 * native call per request (Easy.carriesState). TLS sessions cached in the handle are kept on purpose: libcurl
 * matches them against the whole TLS configuration (Curl_ssl_config_matches).
 */
export class EasyPool {
  #idle: PooledEasy[] = [];
  #initial: Array<[OptionName, OptionValue]>;
  #closed = false;

  constructor(
    readonly base: ReadonlyMap<OptionName, OptionValue>,
    readonly maxIdle: number,
  ) {
    this.#initial = initialOptions(base);
  }

  get idle(): number {
    return this.#idle.length;
  }

  /** A handle for a request to `url`: PIPEWAIT is set as pipewaitFor() says for it. */
  acquire(url = '', httpVersion: HttpVersion = '2'): PooledEasy {
    let pooled = this.#idle.pop();
    if (!pooled) {
      const easy = new Easy();
      this.#setup(easy);
      pooled = new PooledEasy(easy);
    }
    const pipewait = pipewaitFor(url, httpVersion);
    if (pooled.pipewait !== pipewait) {
      pooled.easy.setopt('PIPEWAIT', pipewait ? 1 : 0);
      pooled.pipewait = pipewait;
    }
    return pooled;
  }

  /** Takes a handle back once its transfer is over (removed from the Multi). */
  release(pooled: PooledEasy): void {
    const { easy } = pooled;
    if (this.#closed || easy.closed || this.#idle.length >= this.maxIdle || carriesState(pooled)) {
      easy.close();
      return;
    }
    if (pooled.dirty) {
      try {
        easy.reset();
        pooled.pipewait = false;
        this.#setup(easy);
      } catch {
        // setopt(BUFFERSIZE) is refused while libcurl still holds the receive buffer.
        easy.close();
        return;
      }
    } else {
      for (const name of pooled.touched) {
        setOption(easy, name, this.base.has(name) ? this.base.get(name) : REQUEST_OPTION_DEFAULTS.get(name));
      }
    }
    pooled.touched.length = 0;
    pooled.dirty = false;
    pooled.holding = false;
    this.#idle.push(pooled);
  }

  /** Closes every idle handle; handles released later are closed too. */
  close(): void {
    this.#closed = true;
    for (const pooled of this.#idle) pooled.easy.close();
    this.#idle = [];
  }

  #setup(easy: Easy): void {
    for (const [name, value] of this.#initial) setOption(easy, name, value);
  }
}

/** Whether the finished transfer left state in its handle that a new handle does not have. */
function carriesState({ easy, holding }: PooledEasy): boolean {
  return holding || easy.carriesState();
}
