// Package telemetrytest gives the SDK's tests an OpenTelemetry SDK to read
// what a package reports: a meter provider read by hand and a tracer
// provider that keeps every ended span, both shut down when the test ends,
// and accessors that index one collection by metric name. Only tests import
// it: the library depends on the OpenTelemetry API alone.
package telemetrytest
