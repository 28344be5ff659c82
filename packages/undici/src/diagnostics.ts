// undici's diagnostics channels, by name (node:diagnostics_channel channels are global by name,
// so subscribers of undici's own channels, OpenTelemetry's undici instrumentation among them,
// see CurlDispatcher's requests as they see the Agent's). Each message is shaped as undici
// publishes it; publishing costs nothing while a channel has no subscriber.
import diagnostics from 'node:diagnostics_channel';

export const channels = {
  create: diagnostics.channel('undici:request:create'),
  headers: diagnostics.channel('undici:request:headers'),
  bodyChunkReceived: diagnostics.channel('undici:request:bodyChunkReceived'),
  trailers: diagnostics.channel('undici:request:trailers'),
  error: diagnostics.channel('undici:request:error'),
};
