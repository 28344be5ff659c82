import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import {
  CSelect,
  CurlCode,
  CurlError,
  CurlMultiError,
  type Easy,
  Pause,
  Poll,
  WRITEFUNC_PAUSE,
} from '@multisock/core';
import { openFdCount } from '../fds.js';
import { DRIP_BYTES, type FaultKind, RESET_BODY, startFaultServer } from '../servers/fault.js';
import { patternBytes } from '../servers/pattern.js';
import type { EchoReply } from '../servers/routes.js';
import { startUnacceptingServer } from '../servers/unaccepting.js';
import { startHttpServer } from '../servers/uws.js';
import {
  assert,
  type CheckContext,
  type ConformanceCheck,
  ConformanceError,
  expectCurlError,
  type Session,
  sleep,
  waitFor,
  within,
} from './harness.js';

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

function check(
  id: string,
  title: string,
  timeoutMs: number,
  run: (ctx: CheckContext) => Promise<void>,
): ConformanceCheck {
  return { id, title, timeoutMs, run };
}

function expectBody(easy: Easy, expected: Buffer | string, what: string): void {
  const status = easy.getinfo('RESPONSE_CODE');
  assert(status === 200, `${what}: status ${status}, expected 200`);
  const body = easy.takeBody();
  const want = typeof expected === 'string' ? Buffer.from(expected) : expected;
  if (body.equals(want)) return;
  let at = 0;
  while (at < Math.min(body.length, want.length) && body[at] === want[at]) at++;
  throw new ConformanceError(
    `${what}: body differs (got ${body.length} bytes, expected ${want.length}; first difference at ${at})`,
  );
}

/** Runs `count` transfers made by `make`, at most `parallel` at a time. */
async function runPool(
  session: Session,
  count: number,
  parallel: number,
  make: (i: number) => Easy,
  ms: number,
  after: (easy: Easy) => void,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      after(await session.perform(make(i), ms));
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
}

/** A name other than localhost that /etc/hosts maps to 127.0.0.1 (so resolving it sends no packet). */
function loopbackAlias(): string | null {
  let hosts: string;
  try {
    hosts = readFileSync('/etc/hosts', 'utf8');
  } catch {
    return null;
  }
  for (const line of hosts.split('\n')) {
    const [address, ...names] = line.replace(/#.*/, '').trim().split(/\s+/);
    if (address !== '127.0.0.1') continue;
    const name = names.find(
      (n) => n !== 'localhost' && !n.endsWith('.localhost') && /^[a-z0-9.-]+$/i.test(n),
    );
    if (name) return name;
  }
  return null;
}

/** A loopback port nothing listens on: bound by the kernel, then released. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** libcurl's code for each fault, per libcurl version (7.88.1's first; a later libcurl may use the others). */
export const FAULT_EXPECTATIONS: Record<
  Exclude<FaultKind, 'reset-after-body'>,
  { codes: readonly number[]; maxMs: number; timeoutMs?: number }
> = {
  'reset-after-headers': { codes: [56], maxMs: 1500 }, // CURLE_RECV_ERROR
  stall: { codes: [28], maxMs: 1500, timeoutMs: 300 }, // CURLE_OPERATION_TIMEDOUT
  'short-body': { codes: [18], maxMs: 1500 }, // CURLE_PARTIAL_FILE
  'malformed-status': { codes: [1, 8], maxMs: 1500 }, // 7.88.1: "Unsupported HTTP version in response"
  'close-on-accept': { codes: [52], maxMs: 1500 }, // CURLE_GOT_NOTHING
  drip: { codes: [28], maxMs: 1500, timeoutMs: 300 }, // a body that outlasts TIMEOUT_MS
  'huge-headers': { codes: [27, 100], maxMs: 1500 }, // 7.88.1: OUT_OF_MEMORY; >= 8.6: TOO_LARGE
};

/** Why a wrong code usually comes from the adapter rather than libcurl. */
const CODE_HINTS: Record<number, string> = {
  55: ': CURLE_SEND_ERROR on 7.88.1 means ev_bitmask was CSelect.ERR alone, and libcurl failed without reading; report error readiness as ERR plus IN/OUT (docs/contract.md#ev_bitmask-is-trusted; docs/contract.md#conformance row 10)',
  28: ': the transfer hung until a timeout',
};

const faultChecks: ConformanceCheck[] = (
  Object.keys(FAULT_EXPECTATIONS) as Array<keyof typeof FAULT_EXPECTATIONS>
).map((kind) =>
  check(
    `fault-${kind}`,
    `fault server '${kind}' ends with libcurl's error in bounded time`,
    5000,
    async (ctx) => {
      const expectation = FAULT_EXPECTATIONS[kind];
      const server = await startFaultServer(kind);
      try {
        const s = ctx.session();
        const easy = s.easy(`${server.url}/fault`);
        if (expectation.timeoutMs) easy.setopt('TIMEOUT_MS', expectation.timeoutMs);
        const t0 = performance.now();
        const error = await expectCurlError(s.multi.perform(easy), expectation.maxMs + 1000, `fault ${kind}`);
        const ms = performance.now() - t0;
        assert(
          expectation.codes.includes(error.code),
          `fault ${kind}: CurlError ${error.code} (${error.codeName}), expected ${expectation.codes.join(' or ')}${CODE_HINTS[error.code] ?? ''}`,
        );
        assert(
          ms <= expectation.maxMs,
          `fault ${kind}: took ${ms.toFixed(0)} ms, expected <= ${expectation.maxMs}`,
        );
        if (expectation.timeoutMs) {
          assert(
            ms >= expectation.timeoutMs * 0.9,
            `fault ${kind}: timed out after ${ms.toFixed(0)} ms, before TIMEOUT_MS ${expectation.timeoutMs}`,
          );
        }
        s.expectNoRegistrations(`after fault ${kind}`);
      } finally {
        await server.close();
      }
    },
  ),
);

/** Every check of the suite, in the order they run. */
export const conformanceChecks: readonly ConformanceCheck[] = [
  check('one-get', 'one GET', 5000, async (ctx) => {
    const s = ctx.session();
    const easy = s.easy(`${ctx.env.http.url}/small`);
    await s.perform(easy, 3000);
    expectBody(easy, 'hello world\n', 'GET /small');
    s.expectNoRegistrations('after one GET');
  }),

  check('keepalive-200', '200 GETs, 32 in flight, reuse kept-alive connections', 10_000, async (ctx) => {
    const s = ctx.session();
    // libcurl's default cache holds 4 x the handles added; perform() removes each finished handle,
    // so a batch of completions in one loop callback would shrink it and close live connections.
    s.multi.setopt('MAXCONNECTS', 64);
    const server = ctx.env.http;
    const before = { requests: server.requests, connections: server.connections };
    const easies = Array.from({ length: 32 }, () => s.easy(`${server.url}/small`));
    let opened = 0;
    // Each Easy is added again as soon as it finishes: 32 handles, 200 transfers.
    await runPool(
      s,
      200,
      32,
      (i) => easies[i % 32]!,
      5000,
      (e) => {
        expectBody(e, 'hello world\n', 'GET /small');
        opened += e.getinfo('NUM_CONNECTS') as number; // connections this transfer had to open
      },
    );
    const requests = server.requests - before.requests;
    const connections = server.connections - before.connections;
    assert(requests === 200, `the server saw ${requests} requests, expected 200`);
    assert(
      opened <= 32,
      `libcurl opened ${opened} connections for 32 in flight: connections were not reused`,
    );
    assert(connections < requests, `the server accepted ${connections} connections for ${requests} requests`);
    s.expectNoRegistrations('after 200 GETs');
  }),

  check('body-exact', 'byte-exact bodies: 64 KiB, 10 MiB, chunked 1 MiB', 15_000, async (ctx) => {
    const s = ctx.session();
    const url = ctx.env.http.url;
    const cases: Array<[string, number]> = [
      [`${url}/bytes/65536`, 65_536],
      [`${url}/bytes/10485760`, 10_485_760],
      [`${url}/chunked/1048576`, 1_048_576],
    ];
    // In parallel, so the adapter has several busy sockets at once.
    const easies = cases.map(([u]) => s.easy(u));
    await Promise.all(easies.map((e) => s.perform(e, 10_000)));
    cases.forEach(([u, n], i) => {
      expectBody(easies[i]!, patternBytes(n), `GET ${u.slice(url.length)}`);
    });
    s.expectNoRegistrations('after the bodies');
  }),

  check('post-echo', 'POST a 1 MiB body (/echo)', 8000, async (ctx) => {
    const s = ctx.session();
    const body = patternBytes(1024 * 1024);
    const easy = s.easy(`${ctx.env.http.url}/echo`);
    easy.setopt('POSTFIELDSIZE', body.length);
    easy.setopt('COPYPOSTFIELDS', body);
    await s.perform(easy, 5000);
    const echo = JSON.parse(easy.takeBody().toString()) as EchoReply;
    assert(echo.method === 'POST', `echo: method ${echo.method}`);
    assert(
      echo.bodyLength === body.length,
      `echo: the server received ${echo.bodyLength} bytes, expected ${body.length}`,
    );
    assert(echo.bodySha256 === sha256(body), 'echo: the server received different bytes than were sent');
    s.expectNoRegistrations('after the POST');
  }),

  check(
    'readiness-not-interest',
    'ev_bitmask reports readiness, not the what-bits (an 8 MiB upload is woken by OUT alone)',
    10_000,
    async (ctx) => {
      const s = ctx.session();
      const body = patternBytes(8 * 1024 * 1024);
      const easy = s.easy(`${ctx.env.http.url}/echo`);
      easy.setopt('POSTFIELDSIZE', body.length);
      easy.setopt('POSTFIELDS', body);
      easy.setopt('HTTPHEADER', ['Expect:']); // no 100-continue pause: upload at once
      // libcurl announces IN|OUT while it uploads (it also reads, for an early answer), but until
      // the server answers the socket is only writable. Reads are seen through the debug callback,
      // which runs inside the action that made them.
      easy.setopt('VERBOSE', 1);
      easy.setopt('DEBUGFUNCTION', (type) => {
        if (type === 1 || type === 3) s.observer.markRead(); // HEADER_IN, DATA_IN
      });
      await s.perform(easy, 8000);
      const echo = JSON.parse(easy.takeBody().toString()) as EchoReply;
      assert(echo.bodyLength === body.length, `upload: the server received ${echo.bodyLength} bytes`);
      let inWithoutData = 0;
      let inoutCalls = 0;
      const interest = new Map<number, number>();
      for (const event of s.observer.events) {
        if (event.type === 'socket') interest.set(event.fd, event.what);
        if (event.type !== 'action' || event.fd < 0) continue;
        if (interest.get(event.fd) === Poll.INOUT) inoutCalls++;
        if ((event.bits & CSelect.IN) !== 0 && !event.read) inWithoutData++;
      }
      // A few spurious wake-ups are allowed (libuv documents them); one per written chunk is not.
      assert(
        inWithoutData <= 3,
        `socketAction reported CSelect.IN ${inWithoutData} times when nothing was readable (of ${inoutCalls} calls while libcurl wanted IN|OUT): the bitmask must be the readiness, not the interest (docs/contract.md#constants, docs/contract.md#ev_bitmask-is-trusted)`,
      );
      s.expectNoRegistrations('after the upload');
    },
  ),

  check('tls-verified', 'TLS verified against the test CA (CAINFO), 4 MiB byte-exact', 8000, async (ctx) => {
    const s = ctx.session();
    const small = s.easy(`${ctx.env.tls.url}/small`);
    small.setopt('CAINFO', ctx.env.certs.caCertPath);
    const big = s.easy(`${ctx.env.tls.url}/bytes/4194304`);
    big.setopt('CAINFO', ctx.env.certs.caCertPath);
    await Promise.all([s.perform(small, 5000), s.perform(big, 6000)]);
    expectBody(small, 'hello world\n', 'TLS GET /small');
    expectBody(big, patternBytes(4_194_304), 'TLS GET /bytes/4194304');
    assert(small.getinfo('SSL_VERIFYRESULT') === 0, 'TLS: SSL_VERIFYRESULT is not 0');
    s.expectNoRegistrations('after TLS');
  }),

  check(
    'tls-unknown-ca',
    'TLS with an unknown CA is refused with CURLE_PEER_FAILED_VERIFICATION (60)',
    5000,
    async (ctx) => {
      const s = ctx.session();
      const easy = s.easy(`${ctx.env.tls.url}/small`);
      easy.setopt('CAINFO', ctx.env.otherCerts.caCertPath);
      const error = await expectCurlError(s.multi.perform(easy), 3000, 'TLS with an unknown CA');
      assert(
        error.code === CurlCode.PEER_FAILED_VERIFICATION,
        `TLS with an unknown CA: CurlError ${error.code} (${error.codeName}), expected 60`,
      );
      s.expectNoRegistrations('after the refused TLS handshake');
    },
  ),

  check('h2c-prior-knowledge', 'HTTP/2 without TLS (h2c, prior knowledge)', 5000, async (ctx) => {
    const s = ctx.session();
    const server = ctx.env.h2c;
    const before = server.streams;
    const easy = s.easy(`${server.url}/bytes/1048576`);
    easy.setopt('HTTP_VERSION', 5); // CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
    await s.perform(easy, 3000);
    expectBody(easy, patternBytes(1_048_576), 'h2c GET /bytes/1048576');
    assert(easy.getinfo('HTTP_VERSION') === 3, 'h2c: the transfer did not use HTTP/2');
    assert(server.streams - before === 1, 'h2c: the server saw no HTTP/2 stream');
    s.expectNoRegistrations('after the h2c transfer');
  }),

  // Multiplexing runs over TLS: libcurl 7.88.1 fails a prior-knowledge (h2c) transfer that
  // reuses a connection with CURLE_HTTP2 (curl/curl#10634, fixed in 8.0.0 by #10643).
  check(
    'h2-multiplex',
    'HTTP/2 over TLS: 6 streams share one socket until the last ends',
    8000,
    async (ctx) => {
      const s = ctx.session();
      const server = ctx.env.h2;
      s.multi.setopt('PIPELINING', 2); // CURLPIPE_MULTIPLEX
      const before = { sessions: server.sessions, streams: server.streams };
      const count = 6;
      const stillWatched: boolean[] = [];
      const transfers = Array.from({ length: count }, (_, i) => {
        const easy = s.easy(`${server.url}/slow/${60 * (i + 1)}`);
        easy.setopt('HTTP_VERSION', 4); // CURL_HTTP_VERSION_2TLS
        easy.setopt('PIPEWAIT', 1);
        easy.setopt('CAINFO', ctx.env.certs.caCertPath);
        return s.perform(easy, 5000).then((e) => {
          const registrations = s.registrations;
          stillWatched.push(
            s.observer.interest.size > 0 && (registrations === undefined || registrations > 0),
          );
          return e;
        });
      });
      const done = await Promise.all(transfers);
      for (const e of done) expectBody(e, 'slow', 'h2 GET /slow');
      for (const e of done) assert(e.getinfo('HTTP_VERSION') === 3, 'h2: a transfer did not use HTTP/2');
      const sessions = server.sessions - before.sessions;
      const streams = server.streams - before.streams;
      assert(sessions === 1, `h2: ${sessions} connections, expected all ${count} streams on one`);
      assert(streams === count, `h2: ${streams} streams, expected ${count}`);
      const announced = new Set(
        s.observer.events.flatMap((e) => (e.type === 'socket' && e.what !== Poll.REMOVE ? [e.fd] : [])),
      );
      assert(announced.size === 1, `h2: libcurl announced ${announced.size} sockets, expected 1`);
      // Every completion but the last found the shared socket still watched (docs/contract.md#shared-sockets).
      assert(
        stillWatched.slice(0, -1).every(Boolean),
        `h2: the shared socket was not watched at every completion but the last: ${JSON.stringify(stillWatched)}`,
      );
      s.expectNoRegistrations('after the last stream');
    },
  ),

  check('maxconnects-1', 'MAXCONNECTS=1 with 8 parallel transfers', 8000, async (ctx) => {
    const s = ctx.session();
    s.multi.setopt('MAXCONNECTS', 1);
    const fdsWithMulti = openFdCount(); // the multi holds a wakeup socketpair of its own
    const server = ctx.env.http;
    const easies = Array.from({ length: 8 }, () => s.easy(`${server.url}/bytes/65536`));
    await Promise.all(easies.map((e) => s.perform(e, 5000)));
    for (const e of easies) expectBody(e, patternBytes(65_536), 'GET /bytes/65536');
    const opened = easies.reduce((n, e) => n + (e.getinfo('NUM_CONNECTS') as number), 0);
    assert(opened >= 2, 'MAXCONNECTS=1: the transfers did not run in parallel');
    s.expectNoRegistrations('after the transfers');
    // libcurl closed every connection but one (without a callback, docs/contract.md#idle-connections-close-silently): client and
    // server end of that one may remain.
    await waitFor(() => openFdCount() <= fdsWithMulti + 2, 2000, 'MAXCONNECTS=1: surplus connections closed');
  }),

  check('remove-mid-transfer', 'removeHandle mid-transfer leaves nothing registered', 5000, async (ctx) => {
    const s = ctx.session();
    const server = ctx.env.http;
    const requestsBefore = server.requests;
    const easy = s.easy(`${server.url}/slow/3000`);
    const outcome = s.multi.perform(easy).then(
      () => null,
      (e: unknown) => e,
    );
    await waitFor(() => server.requests > requestsBefore, 2000, 'the request reached the server');
    const fds = s.observer.watched;
    assert(fds.length === 1, `libcurl watches ${fds.length} sockets for one transfer waiting for its answer`);
    s.multi.removeHandle(easy);
    s.expectNoRegistrations('right after removeHandle'); // REMOVE comes inside remove_handle (docs/contract.md#when-callbacks-fire)
    const error = await within(outcome, 1000, 'the removed transfer settles');
    assert(error instanceof CurlError, 'a removed transfer must reject its perform() promise');
    await sleep(100);
    assert(
      s.timerArmed !== true,
      'timerArmed is still true with no transfer left (libcurl sent -1, docs/contract.md#when-callbacks-fire)',
    );
    s.expectNoRegistrations('100 ms after removeHandle');
  }),

  check('pause-unpause', 'pause from WRITEFUNCTION, unpause from a timer', 8000, async (ctx) => {
    const s = ctx.session();
    const n = 1024 * 1024;
    const easy = s.easy(`${ctx.env.http.url}/bytes/${n}`);
    const chunks: Buffer[] = [];
    let pauses = 0;
    let registrationsWhilePaused: number | undefined;
    let watchedWhilePaused = -1;
    easy.setopt('WRITEFUNCTION', (data) => {
      // Pause twice: at the first chunk and half way. libcurl hands the same chunk again later.
      const received = chunks.reduce((a, c) => a + c.length, 0);
      if ((pauses === 0 && received === 0) || (pauses === 1 && received >= n / 2)) {
        pauses++;
        setTimeout(() => {
          watchedWhilePaused = s.observer.interest.size;
          registrationsWhilePaused = s.registrations;
          easy.pause(Pause.CONT);
        }, 80);
        return WRITEFUNC_PAUSE;
      }
      chunks.push(Buffer.from(data));
      return data.length;
    });
    const t0 = performance.now();
    await s.perform(easy, 5000);
    const body = Buffer.concat(chunks);
    assert(pauses === 2, `paused ${pauses} times, expected 2`);
    assert(body.equals(patternBytes(n)), `paused transfer: body differs (${body.length} bytes)`);
    assert(performance.now() - t0 >= 150, 'the pauses did not hold the transfer');
    // libcurl REMOVEs a paused transfer's socket (docs/contract.md#when-callbacks-fire) and announces it again on unpause.
    assert(watchedWhilePaused === 0, `while paused libcurl still watched ${watchedWhilePaused} sockets`);
    assert(
      registrationsWhilePaused === undefined || registrationsWhilePaused === 0,
      `while paused the adapter kept ${registrationsWhilePaused} registrations after REMOVE`,
    );

    // easy.pause() called inside WRITEFUNCTION, i.e. inside socketAction: libcurl re-enters the
    // socket and timer callbacks from there (docs/contract.md#when-callbacks-fire, docs/contract.md#no-re-entry; docs/contract.md#conformance row 17).
    const nested = s.easy(`${ctx.env.http.url}/bytes/${n}`);
    const nestedChunks: Buffer[] = [];
    let nestedPaused = false;
    nested.setopt('WRITEFUNCTION', (data) => {
      nestedChunks.push(Buffer.from(data));
      if (!nestedPaused) {
        nestedPaused = true;
        nested.pause(Pause.RECV);
        setTimeout(() => nested.pause(Pause.CONT), 50);
      }
      return data.length;
    });
    await s.perform(nested, 4000, 'a transfer paused by easy.pause() inside its WRITEFUNCTION');
    assert(Buffer.concat(nestedChunks).equals(patternBytes(n)), 'paused inside WRITEFUNCTION: body differs');

    // Pause and unpause from outside any callback, while waiting for an answer.
    const slow = s.easy(`${ctx.env.http.url}/slow/200`);
    const pending = s.perform(slow, 4000);
    await sleep(50);
    slow.pause(Pause.ALL);
    await sleep(300);
    slow.pause(Pause.CONT);
    await pending;
    expectBody(slow, 'slow', 'GET /slow/200 paused and resumed');
    s.expectNoRegistrations('after the paused transfers');
  }),

  check('close-in-flight', 'close() with transfers in flight releases everything', 5000, async (ctx) => {
    const s = ctx.session();
    const server = ctx.env.http;
    const requestsBefore = server.requests;
    const outcomes = Array.from({ length: 4 }, () =>
      s.multi.perform(s.easy(`${server.url}/slow/5000`)).then(
        () => null,
        (e: unknown) => e,
      ),
    );
    await waitFor(() => server.requests - requestsBefore >= 4, 2000, 'the 4 requests reached the server');
    s.multi.close();
    s.expectReleased('right after close() with 4 transfers in flight');
    const errors = await within(Promise.all(outcomes), 500, 'the transfers settle after close()');
    assert(
      errors.every((e) => e instanceof CurlMultiError || e instanceof CurlError),
      'every transfer in flight rejects at close()',
    );
    await sleep(100); // a late event or timer for the closed multi is a violation (Observer)
  }),

  check('timeout-stall', 'TIMEOUT_MS against a stalled server fails with 28', 5000, async (ctx) => {
    const server = await startFaultServer('stall');
    try {
      const s = ctx.session();
      const easy = s.easy(`${server.url}/`);
      easy.setopt('TIMEOUT_MS', 250);
      const t0 = performance.now();
      const error = await expectCurlError(s.multi.perform(easy), 3000, 'TIMEOUT_MS 250');
      const ms = performance.now() - t0;
      assert(
        error.code === CurlCode.OPERATION_TIMEDOUT,
        `TIMEOUT_MS: CurlError ${error.code} (${error.codeName}), expected 28`,
      );
      assert(ms >= 225 && ms < 1000, `TIMEOUT_MS 250 fired after ${ms.toFixed(0)} ms`);
      s.expectNoRegistrations('after the timeout');
    } finally {
      await server.close();
    }
  }),

  check(
    'connect-timeout',
    'CONNECTTIMEOUT_MS against a listener that never accepts fails with 28',
    5000,
    async (ctx) => {
      const server = await startUnacceptingServer();
      try {
        const s = ctx.session();
        const easy = s.easy(`${server.url}/`);
        easy.setopt('CONNECTTIMEOUT_MS', 250);
        const t0 = performance.now();
        const error = await expectCurlError(s.multi.perform(easy), 3000, 'CONNECTTIMEOUT_MS 250');
        const ms = performance.now() - t0;
        assert(
          error.code === CurlCode.OPERATION_TIMEDOUT,
          `CONNECTTIMEOUT_MS: CurlError ${error.code} (${error.codeName}), expected 28`,
        );
        assert(ms >= 225 && ms < 1000, `CONNECTTIMEOUT_MS 250 fired after ${ms.toFixed(0)} ms`);
        s.expectNoRegistrations('after the connect timeout');
      } finally {
        await server.close();
      }
    },
  ),

  check('drip', 'a body dripped one byte per 10 ms arrives whole', 5000, async (ctx) => {
    const server = await startFaultServer('drip');
    try {
      const s = ctx.session();
      const easy = s.easy(`${server.url}/`);
      // libcurl's interest stays IN for the whole body: only level-triggered readiness delivers it.
      await s.perform(
        easy,
        4000,
        'the dripped body (readiness must be level-triggered, docs/contract.md#level-triggered)',
      );
      const body = easy.takeBody();
      assert(body.length === DRIP_BYTES, `drip: ${body.length} bytes, expected ${DRIP_BYTES}`);
      s.expectNoRegistrations('after the drip');
    } finally {
      await server.close();
    }
  }),

  ...faultChecks,

  check(
    'reset-after-body',
    'a complete response followed at once by a reset still succeeds',
    5000,
    async (ctx) => {
      const server = await startFaultServer('reset-after-body');
      try {
        const s = ctx.session();
        const easy = s.easy(`${server.url}/`);
        let outcome: unknown = null;
        await s.multi.perform(easy).catch((e: unknown) => {
          outcome = e;
        });
        if (outcome instanceof CurlError) {
          throw new ConformanceError(
            `a whole body followed by an RST failed with ${outcome.code} (${outcome.codeName})${CODE_HINTS[outcome.code] ?? ''}`,
          );
        }
        assert(outcome === null, `a whole body followed by an RST: ${String(outcome)}`);
        expectBody(easy, RESET_BODY, 'the body before the reset');
        s.expectNoRegistrations('after the reset');
      } finally {
        await server.close();
      }
    },
  ),

  check('redirects', 'FOLLOWLOCATION through 5 redirects on one connection', 5000, async (ctx) => {
    const s = ctx.session();
    const easy = s.easy(`${ctx.env.http.url}/redirect/5`);
    easy.setopt('FOLLOWLOCATION', 1);
    await s.perform(easy, 3000);
    expectBody(easy, 'done', 'GET /redirect/5');
    assert(easy.getinfo('REDIRECT_COUNT') === 5, 'redirects: REDIRECT_COUNT is not 5');
    s.expectNoRegistrations('after the redirects');
  }),

  check(
    'resolver-fd',
    'a host name through the threaded resolver: its fd, then the socket',
    5000,
    async (ctx) => {
      const s = ctx.session();
      const alias = loopbackAlias();
      // libcurl resolves "localhost" itself; a name from /etc/hosts goes through its threaded
      // resolver. Unless the thread wins the race with libcurl's first look, the socketpair end is
      // announced (IN), REMOVEd, and usually its very number handed to the TCP socket within one
      // socketAction (docs/contract.md#fd-reuse, docs/contract.md#non-network-fds): not asserted, as it is libcurl's timing, but exercised.
      // Without such a name: plain localhost.
      const easy = s.easy(`http://${alias ?? 'localhost'}:${ctx.env.http.port}/small`);
      easy.setopt('IPRESOLVE', 1); // CURL_IPRESOLVE_V4: the servers listen on 127.0.0.1 only
      await s.perform(easy, 3000);
      expectBody(easy, 'hello world\n', `GET http://${alias ?? 'localhost'}/small`);
      s.expectNoRegistrations('after the resolved transfer');
    },
  ),

  check(
    'connect-refused',
    'a refused connection fails with CURLE_COULDNT_CONNECT (7), error readiness handled',
    5000,
    async (ctx) => {
      const port = await closedPort();
      const s = ctx.session();
      const easy = s.easy(`http://127.0.0.1:${port}/`);
      const t0 = performance.now();
      const error = await expectCurlError(s.multi.perform(easy), 2000, 'connect to a closed port');
      assert(
        error.code === CurlCode.COULDNT_CONNECT,
        `connect to a closed port: CurlError ${error.code} (${error.codeName}), expected 7`,
      );
      assert(performance.now() - t0 < 1000, 'a refused connect took more than 1 s to fail');
      s.expectNoRegistrations('after the refused connect');
    },
  ),

  check(
    'happy-eyeballs-refused',
    'localhost on a refused port: ::1 then 127.0.0.1, the fd closed and reused within one call',
    5000,
    async (ctx) => {
      const port = await closedPort();
      const s = ctx.session();
      // libcurl tries both families of localhost; when the first is refused its socket is
      // REMOVEd and closed, and the next socket usually gets the same fd number inside the same
      // socketAction (docs/contract.md#fd-reuse). The observer flags any event that reaches the
      // old registration afterwards.
      const easy = s.easy(`http://localhost:${port}/`);
      const error = await expectCurlError(
        s.multi.perform(easy),
        2000,
        'connect to localhost on a closed port',
      );
      assert(
        error.code === CurlCode.COULDNT_CONNECT,
        `localhost on a closed port: CurlError ${error.code} (${error.codeName}), expected 7`,
      );
      s.expectNoRegistrations('after both families were refused');
    },
  ),

  check(
    'idle-connection-closed',
    'an idle cached connection closed by the server stays unwatched',
    5000,
    async (ctx) => {
      const server = await startHttpServer();
      try {
        const s = ctx.session();
        const first = s.easy(`${server.url}/small`);
        await s.perform(first, 3000);
        s.expectNoRegistrations('with the connection idle in the cache');
        await server.close(); // the server closes the kept-alive connection; libcurl is not told (docs/contract.md#idle-connections-close-silently)
        await sleep(100);
        const next = s.easy(`${ctx.env.http.url}/small`);
        await s.perform(next, 3000);
        expectBody(next, 'hello world\n', 'GET /small after the idle connection died');
        s.expectNoRegistrations('after the next transfer');
      } finally {
        await server.close();
      }
    },
  ),

  check(
    'callback-error',
    'a failing socket callback fails the transfers with 42, and the adapter carries on',
    5000,
    async (ctx) => {
      const s = ctx.session();
      s.observer.failNextSocketCallback(new Error('injected by the conformance suite'));
      const easy = s.easy(`${ctx.env.http.url}/small`);
      const error = await expectCurlError(
        s.multi.perform(easy),
        3000,
        'the transfer whose socket callback threw',
      );
      assert(
        error.code === CurlCode.ABORTED_BY_CALLBACK,
        `a throwing socket callback: CurlError ${error.code}, expected 42 (ABORTED_BY_CALLBACK)`,
      );
      s.expectNoRegistrations('after the aborted transfer');
      const again = s.easy(`${ctx.env.http.url}/small`);
      await s.perform(again, 3000, 'a transfer after the aborted one');
      expectBody(again, 'hello world\n', 'GET /small after the abort');
      s.expectNoRegistrations('after the next transfer');
    },
  ),

  check(
    'two-multis',
    'two multis on one adapter: closing one leaves the other running',
    6000,
    async (ctx) => {
      const adapter = ctx.makeAdapter();
      const a = ctx.session(adapter);
      const b = ctx.session(adapter);
      const url = ctx.env.http.url;
      const slowA = a.multi.perform(a.easy(`${url}/slow/3000`)).then(
        () => null,
        (e: unknown) => e,
      );
      const slowB = b.easy(`${url}/slow/300`);
      const pendingB = b.perform(slowB, 3000);
      await sleep(100);
      a.multi.close();
      a.expectReleased('multi A closed');
      assert((await slowA) !== null, "multi A's transfer rejects at close()");
      await pendingB;
      expectBody(slowB, 'slow', "multi B's transfer");
      const more = b.easy(`${url}/bytes/65536`);
      await b.perform(more, 3000);
      expectBody(more, patternBytes(65_536), 'multi B after A closed');
      b.expectNoRegistrations('multi B idle');
    },
  ),

  check(
    'detach',
    'detach() drops registrations and the timer; a new attachment drives the multi',
    5000,
    async (ctx) => {
      const s = ctx.session();
      const url = ctx.env.http.url;
      const first = s.easy(`${url}/small`);
      await s.perform(first, 3000);
      s.attachment.detach();
      const registrations = s.registrations;
      assert(
        registrations === undefined || registrations === 0,
        `after detach(): ${registrations} registrations`,
      );
      assert(s.timerArmed !== true, 'after detach(): timerArmed is still true');
      const again = s.reattach(ctx.makeAdapter());
      try {
        const second = s.easy(`${url}/small`);
        await s.perform(second, 3000, 'a transfer under a second attachment');
        expectBody(second, 'hello world\n', 'GET /small after re-attaching');
      } finally {
        s.multi.close();
        again.detach(); // after close(): must be harmless
      }
    },
  ),
];

/** Ids of every check, for options.skip / options.only. */
export const conformanceCheckIds: readonly string[] = conformanceChecks.map((c) => c.id);
