// Package telemetry is how every package of the SDK reports metrics and
// traces: through the OpenTelemetry API only, so that the library never
// pulls in an SDK or an exporter. A host that wants the signals installs an
// SDK (or passes providers with each package's WithMeterProvider and
// WithTracerProvider); a host that does not pays for no-op calls.
//
// Each package makes one Telemetry with its import path as the
// instrumentation scope, creates its instruments from it once, and uses
// HTTPClient for outgoing HTTP calls so that every package's requests carry
// the same semantic-convention span and http.client.request.duration
// histogram. docs/telemetry.md lists every metric and span.
package telemetry
