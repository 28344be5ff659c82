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
export { driveReactor, type Reactor, type ReactorDriverOptions } from './reactor-driver.js';
export {
  cselectFor,
  pollEventsFor,
  ReferenceAttachment,
  referenceAdapter,
  WatchedSocket,
} from './reference-adapter.js';
export * from './servers/index.js';
