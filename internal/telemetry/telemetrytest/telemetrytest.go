package telemetrytest

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Recorder holds the providers a test passes to a package
// (WithMeterProvider, WithTracerProvider) and what they recorded.
type Recorder struct {
	MeterProvider  *sdkmetric.MeterProvider
	TracerProvider *sdktrace.TracerProvider
	reader         *sdkmetric.ManualReader
	spans          *tracetest.SpanRecorder
}

// New returns providers that record everything, shut down when t ends.
func New(t testing.TB) *Recorder {
	r := &Recorder{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	r.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	r.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	t.Cleanup(func() {
		if err := r.MeterProvider.Shutdown(context.Background()); err != nil {
			t.Errorf("telemetrytest: meter provider shutdown: %v", err)
		}
		if err := r.TracerProvider.Shutdown(context.Background()); err != nil {
			t.Errorf("telemetrytest: tracer provider shutdown: %v", err)
		}
	})
	return r
}

// Spans returns the spans that have ended, in the order they ended.
func (r *Recorder) Spans() []sdktrace.ReadOnlySpan { return r.spans.Ended() }

// Collect reads the metrics now, indexed by name; it fails t on an error.
func (r *Recorder) Collect(t testing.TB) Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("telemetrytest: collect: %v", err)
	}
	m := Metrics{scopes: map[string]string{}, units: map[string]string{}, data: map[string]metricdata.Aggregation{}}
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			m.data[md.Name] = md.Data
			m.scopes[md.Name] = sm.Scope.Name
			m.units[md.Name] = md.Unit
		}
	}
	return m
}

// Metrics is one collection, by metric name.
type Metrics struct {
	data   map[string]metricdata.Aggregation
	scopes map[string]string
	units  map[string]string
}

// Names returns the names of the metrics collected.
func (m Metrics) Names() []string {
	out := make([]string, 0, len(m.data))
	for n := range m.data {
		out = append(out, n)
	}
	return out
}

// Scope returns the instrumentation scope that reported metric name.
func (m Metrics) Scope(name string) string { return m.scopes[name] }

// Unit returns metric name's unit.
func (m Metrics) Unit(name string) string { return m.units[name] }

// Sum adds up the points of an int64 counter (or up-down counter) by the
// value of key ("" for points without it); empty when nothing was
// recorded.
func (m Metrics) Sum(name string, key attribute.Key) map[string]int64 {
	out := map[string]int64{}
	agg, ok := m.data[name]
	if !ok {
		return out
	}
	for _, dp := range agg.(metricdata.Sum[int64]).DataPoints {
		val, _ := dp.Attributes.Value(key)
		out[val.AsString()] += dp.Value
	}
	return out
}

// Gauge returns an int64 gauge's points by the value of key.
func (m Metrics) Gauge(name string, key attribute.Key) map[string]int64 {
	out := map[string]int64{}
	agg, ok := m.data[name]
	if !ok {
		return out
	}
	for _, dp := range agg.(metricdata.Gauge[int64]).DataPoints {
		val, _ := dp.Attributes.Value(key)
		out[val.AsString()] = dp.Value
	}
	return out
}

// HistogramCount returns how many values a float64 histogram recorded, over
// all its points.
func (m Metrics) HistogramCount(name string) uint64 {
	agg, ok := m.data[name]
	if !ok {
		return 0
	}
	var n uint64
	for _, dp := range agg.(metricdata.Histogram[float64]).DataPoints {
		n += dp.Count
	}
	return n
}

// HistogramPoints returns a float64 histogram's points, for tests of their
// attributes.
func (m Metrics) HistogramPoints(name string) []metricdata.HistogramDataPoint[float64] {
	agg, ok := m.data[name]
	if !ok {
		return nil
	}
	return agg.(metricdata.Histogram[float64]).DataPoints
}

// Attr returns the value of key among a span's attributes, as text; "" when
// it is not there.
func Attr(attrs []attribute.KeyValue, key attribute.Key) string {
	for _, kv := range attrs {
		if kv.Key == key {
			return kv.Value.Emit()
		}
	}
	return ""
}
