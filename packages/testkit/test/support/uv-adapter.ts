import {
  CSelect,
  CurlMultiError,
  type LoopAdapter,
  type LoopAttachment,
  type Multi,
  Poll,
  SOCKET_TIMEOUT,
} from '@multisock/core';
import { PollEvent, Timer, Poll as UvPoll } from '@multisock/libuv-bindings';

/** Ways to break the adapter on purpose; with none set it is a correct uv_poll adapter. */
export interface Breakage {
  /** Keep the poll (and the registration) when libcurl says Poll.REMOVE. */
  ignoreRemove?: boolean;
  /** Run socketAction(SOCKET_TIMEOUT) at once, inside the timer callback, when told 0. */
  syncTimerZero?: boolean;
  /** Pass the registered what-bits as ev_bitmask instead of what the poll reported. */
  whatBitsAsEvents?: boolean;
  /** Report readiness once per registration (stop the poll until libcurl announces again). */
  edgeTriggered?: boolean;
}

interface Watch {
  poll: InstanceType<typeof UvPoll>;
  what: number;
}

export interface UvAttachment extends LoopAttachment {
  readonly registrations: number;
  readonly timerArmed: boolean;
}

/** A uv_poll/uv_timer adapter on @multisock/libuv-bindings, optionally broken as `breakage` says. */
export function uvAdapter(name: string, breakage: Breakage = {}): LoopAdapter {
  return {
    name,
    attach(multi: Multi): UvAttachment {
      const watches = new Map<number, Watch>();
      let released = false;

      const act = (fd: number, bits: number) => {
        if (released || multi.closed) return;
        try {
          multi.socketAction(fd, bits);
        } catch (error) {
          // A failed socket/timer callback: the core already failed the transfers (code 11).
          if (!(error instanceof CurlMultiError && error.code === 11)) throw error;
        }
      };
      const timer = new Timer(() => act(SOCKET_TIMEOUT, 0));

      const onEvent = (fd: number, status: number, events: number) => {
        const watch = watches.get(fd);
        if (watch === undefined) return;
        let bits: number;
        if (status < 0) {
          bits = CSelect.ERR | CSelect.IN | CSelect.OUT;
          // libuv stopped the poll on the error: watch again while libcurl still wants it.
          if (watches.get(fd) === watch) startPoll(watch);
        } else {
          bits =
            (events & (PollEvent.READABLE | PollEvent.DISCONNECT) ? CSelect.IN : 0) |
            (events & PollEvent.WRITABLE ? CSelect.OUT : 0);
        }
        if (breakage.whatBitsAsEvents) bits = watch.what;
        if (breakage.edgeTriggered) watch.poll.stop();
        act(fd, bits);
      };
      const startPoll = (watch: Watch) => {
        const events =
          (watch.what & Poll.IN ? PollEvent.READABLE : 0) | (watch.what & Poll.OUT ? PollEvent.WRITABLE : 0);
        if (events === 0) watch.poll.stop();
        else watch.poll.start(events);
      };
      const release = () => {
        released = true;
        for (const watch of watches.values()) watch.poll.close();
        watches.clear();
        timer.close();
      };

      multi.setopt('SOCKETFUNCTION', (_easy, fd, what) => {
        if (what === Poll.REMOVE) {
          if (breakage.ignoreRemove) return 0;
          watches.get(fd)?.poll.close();
          watches.delete(fd);
          return 0;
        }
        let watch = watches.get(fd);
        if (watch === undefined) {
          watch = { poll: new UvPoll(fd, (status, events) => onEvent(fd, status, events)), what };
          watches.set(fd, watch);
        }
        watch.what = what;
        startPoll(watch);
        return 0;
      });
      multi.setopt('TIMERFUNCTION', (_m, ms) => {
        if (ms < 0) timer.stop();
        else if (ms === 0 && breakage.syncTimerZero) act(SOCKET_TIMEOUT, 0);
        else timer.start(ms);
        return 0;
      });
      const unsubscribe = multi.onClose(release);

      return {
        get registrations() {
          return watches.size;
        },
        get timerArmed() {
          return !timer.closed && timer.active;
        },
        detach() {
          if (released) return;
          unsubscribe();
          release();
          if (!multi.closed) {
            multi.setopt('SOCKETFUNCTION', null);
            multi.setopt('TIMERFUNCTION', null);
          }
        },
      };
    },
  };
}
