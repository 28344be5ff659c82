// The shared adapter conformance suite (@multisock/testkit) on the kqueue adapter, in both
// modes. On Linux it runs over the kqueue emulation (test/emulation); on macOS and FreeBSD (the
// workflow) over the real kqueue.
import { describeAdapterConformance, driveReactor } from '@multisock/testkit';
import { adapter, backendName } from './backend.js';

describeAdapterConformance(`kqueue nested (${backendName})`, () => adapter.kqueue);

describeAdapterConformance(`kqueue reactor (${backendName})`, () =>
  driveReactor('kqueue-reactor', () => new adapter.KqueueReactor()),
);
