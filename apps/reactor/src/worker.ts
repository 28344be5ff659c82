// The reactor thread: it owns one Multi and one EpollReactor and runs the loop by hand.
//
// Each turn: take every command waiting on the port (receiveMessageOnPort does not need the
// event loop), run one epoll_wait through reactor.runOnce, then hand finished transfers back.
// With nothing in flight the thread does not spin: it awaits the next command instead.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { EpollReactor } from '@multisock/adapter-epoll';
import { Easy, Multi } from '@multisock/core';
import type { Command, Reply, WorkerOptions } from './protocol.js';

const port = parentPort!;
const options = workerData as WorkerOptions;

const multi = new Multi();
multi.setopt('MAXCONNECTS', options.maxConnects);
const reactor = new EpollReactor();
reactor.attach(multi);

/** Transfers in flight: Easy -> the request id it answers. */
const inFlight = new Map<Easy, number>();
let closing = false;

function reply(message: Reply): void {
  port.postMessage(message);
}

function take(command: Command): void {
  if (command.type === 'close') {
    closing = true;
    return;
  }
  const easy = new Easy();
  try {
    easy.setopt('URL', command.url);
    easy.setopt('NOSIGNAL', true);
    if (command.timeoutMs > 0) easy.setopt('TIMEOUT_MS', command.timeoutMs);
    multi.addHandle(easy);
  } catch (error) {
    easy.close();
    const { code = -1, message = String(error) } = error as { code?: number; message?: string };
    reply({ type: 'error', id: command.id, code, message });
    return;
  }
  inFlight.set(easy, command.id);
}

/** Every finished transfer goes back to the main thread; its Easy is released. */
function collect(): void {
  for (let done = multi.infoRead(); done !== null; done = multi.infoRead()) {
    const { easy, result } = done;
    const id = inFlight.get(easy)!;
    inFlight.delete(easy);
    const body = easy.takeBody();
    if (result === 0) {
      reply({
        type: 'result',
        id,
        status: easy.getinfo('RESPONSE_CODE'),
        bytes: body.length,
        timeMs: easy.getinfo('TOTAL_TIME_T') / 1000,
      });
    } else {
      const error = easy.errorFor(result)!;
      reply({ type: 'error', id, code: result, message: error.message });
    }
    multi.removeHandle(easy);
    easy.close();
  }
}

function nextCommand(): Promise<Command> {
  return new Promise((resolve) => port.once('message', resolve));
}

async function loop(): Promise<void> {
  while (!closing) {
    for (let next = receiveMessageOnPort(port); next !== undefined; next = receiveMessageOnPort(port)) {
      take(next.message as Command);
    }
    if (closing) break;
    if (inFlight.size === 0) {
      take(await nextCommand());
      continue;
    }
    // Blocks in epoll_wait for at most sliceMs (less if libcurl's timer is due sooner).
    reactor.runOnce(options.sliceMs);
    collect();
  }
  // Transfers still in flight are dropped with the multi; the main thread rejects them.
  reactor.close();
  for (const easy of inFlight.keys()) easy.close();
  multi.close();
  port.close();
}

await loop();
