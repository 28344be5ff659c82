// @multisock/adapter-libuv: libcurl's multi-socket interface on Node's own event loop.
//
// One uv_poll per socket libcurl announces and one timer, run natively (native/libuv.cc)
// inside libcurl's own socket and timer callbacks: no JavaScript runs per socket event or timer
// update, and finished transfers reach JavaScript once per loop turn.
import { createRequire } from 'node:module';
import {
  CurlMultiCode,
  CurlMultiError,
  type LoopAdapter,
  Multi,
  type NativeLoop,
  type NativeLoopAttachment,
} from '@multisock/core';

export type { LoopAdapter, LoopAttachment, NativeLoopAttachment } from '@multisock/core';

/** What `libuv.attach` returns: detach() plus a read-only view for tests and diagnostics. */
export type LibuvAttachment = NativeLoopAttachment;

/** The `libuv` adapter: one uv_poll per socket on Node's own loop. */
export interface LibuvAdapter extends LoopAdapter {
  readonly name: 'libuv';
  attach(multi: Multi): LibuvAttachment;
}

/** A libuv call the adapter made failed: `code` is libuv's name ('EEXIST'), `errno` positive. */
export class UvLoopError extends Error {
  override name = 'UvLoopError';
  /** The errno, positive. */
  readonly errno: number;

  constructor(errno: number, detail: string) {
    super(detail);
    this.errno = errno;
  }
}

const native = createRequire(import.meta.url)('../build/Release/multisock_libuv.node') as {
  loop: NativeLoop;
};
const makeError = (errno: number, detail: string) => new UvLoopError(errno, detail);

/** The adapter for Node's own event loop. */
export const libuv: LibuvAdapter = {
  name: 'libuv',
  attach(multi: Multi): LibuvAttachment {
    if (!(multi instanceof Multi)) throw new TypeError('libuv.attach: expected a Multi');
    if (multi.closed)
      throw CurlMultiError.fromCode(CurlMultiCode.BAD_HANDLE, 'libuv.attach: the Multi is closed');
    return multi.attachNativeLoop(native.loop, { makeError });
  },
};
