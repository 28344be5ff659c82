// The shared adapter conformance suite (@multisock/testkit) on the kqueue adapter, in both
// modes. On Linux it runs the adapter's native/kqueue.cc over the kqueue emulation
// (test/emulation); on macOS and the BSDs over the real kqueue.
import { describeAdapterConformance, driveReactor } from '@multisock/testkit';
import { adapter, backendName } from './backend.js';

describeAdapterConformance(`kqueue nested (${backendName})`, () => adapter.kqueue);

describeAdapterConformance(`kqueue reactor (${backendName})`, () =>
  driveReactor('kqueue-reactor', () => new adapter.KqueueReactor()),
);
