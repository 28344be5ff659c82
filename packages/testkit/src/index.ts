export {
  type CheckContext,
  type ConformanceCheck,
  type ConformanceEnvironment,
  ConformanceError,
  type ConformanceOptions,
  conformanceCheckIds,
  conformanceChecks,
  describeAdapterConformance,
  FAULT_EXPECTATIONS,
  type ObservedEvent,
  Observer,
  runCheck,
  Session,
  startConformanceEnvironment,
} from './conformance.js';
export { expectFdsBack, openFdCount, openFds } from './fds.js';
export { driveReactor, type Reactor, type ReactorDriverOptions } from './reactor-driver.js';
export { type CertificateSet, makeCertificates } from './servers/certificates.js';
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
} from './servers/fault.js';
export { type Http2ServerOptions, startHttp2Server } from './servers/http2.js';
export { PATTERN_PERIOD, patternBytes } from './servers/pattern.js';
export { type EchoReply, MAX_BYTES } from './servers/routes.js';
export type { Http2TestServer, TestServer } from './servers/types.js';
export { startUnacceptingServer, type UnacceptingServer } from './servers/unaccepting.js';
export { startHttpServer, startTlsServer, type UwsServerOptions } from './servers/uws.js';
