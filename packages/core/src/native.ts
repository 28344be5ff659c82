// The compiled addon and the shapes of what it exports. Easy and Multi are typed where they are
// subclassed (easy.ts, multi.ts).
import { createRequire } from 'node:module';

export interface OptionDescriptor {
  name: string;
  id: number;
  type: 'long' | 'values' | 'off_t' | 'object' | 'string' | 'slist' | 'cbptr' | 'blob' | 'function';
  alias: boolean;
}

export interface LibcurlInfo {
  version: string;
  versionNum: number;
  ssl: string | null;
  libz: string | null;
  nghttp2: string | null;
  protocols: string[];
  features: number;
}

interface Addon {
  // Typed where they are subclassed: easy.ts and multi.ts.
  Easy: new (
    ...args: unknown[]
  ) => object;
  Multi: new () => object;
  setup(hooks: {
    Easy: unknown;
    CurlError: unknown;
    CurlMultiError: unknown;
    done: symbol;
    scratch: Uint8Array;
    numbers: Float64Array;
  }): void;
  codeInfo(kind: 'easy' | 'multi', code: number): [string, string];
  listOptions(): OptionDescriptor[];
  libcurl: LibcurlInfo;
  constants: { WRITEFUNC_PAUSE: number; READFUNC_PAUSE: number; READFUNC_ABORT: number };
}

const require = createRequire(import.meta.url);
export const addon: Addon = require('../build/Release/multisock_core.node');
