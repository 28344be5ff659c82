// The real test servers, certificates and fd checks, without the conformance suite: importing
// this entry point does not load vitest, so applications (apps/bench) can use it.
export { expectFdsBack, openFdCount, openFds } from '../fds.js';
export { type CertificateSet, makeCertificates } from './certificates.js';
export {
  DRIP_BYTES,
  DRIP_INTERVAL_MS,
  FAULT_KINDS,
  type FaultKind,
  type FaultServer,
  HUGE_HEADER_BYTES,
  RESET_BODY,
  RESET_DELAY_MS,
  startFaultServer,
} from './fault.js';
export { findH2o, type H2oOptions, type H2oServer, startH2o } from './h2o.js';
export { type Http2ServerOptions, startHttp2Server } from './http2.js';
export {
  findNginx,
  type NginxLogEntry,
  type NginxOptions,
  type NginxServer,
  startNginx,
} from './nginx.js';
export { PATTERN_PERIOD, patternBytes } from './pattern.js';
export { RAW_ROUTES, startRawHttpServer } from './raw-http.js';
export { type EchoReply, ENCODED_TEXT, MAX_BYTES, MAX_TRAILER_BYTES, trailersFor } from './routes.js';
export type { Http2TestServer, TestServer } from './types.js';
export { startUnacceptingServer, type UnacceptingServer } from './unaccepting.js';
export { startHttpServer, startTlsServer, type UwsServerOptions } from './uws.js';
