package telemetrytest_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/goleak"

	"github.com/wedsync/integrations/internal/telemetry/telemetrytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRecorderReadsWhatWasReported(t *testing.T) {
	ctx := context.Background()
	rec := telemetrytest.New(t)
	meter := rec.MeterProvider.Meter("test")
	c, err := meter.Int64Counter("c", metric.WithUnit("{x}"))
	require.NoError(t, err)
	c.Add(ctx, 2, metric.WithAttributes(attribute.String("k", "a")))
	c.Add(ctx, 3, metric.WithAttributes(attribute.String("k", "a")))
	c.Add(ctx, 1)
	h, err := meter.Float64Histogram("h")
	require.NoError(t, err)
	h.Record(ctx, 0.5)
	h.Record(ctx, 1.5, metric.WithAttributes(attribute.String("k", "b")))
	_, span := rec.TracerProvider.Tracer("test").Start(ctx, "s")
	span.SetAttributes(attribute.Int("n", 7))
	span.End()

	m := rec.Collect(t)
	require.ElementsMatch(t, []string{"c", "h"}, m.Names())
	require.Equal(t, "test", m.Scope("c"))
	require.Equal(t, "{x}", m.Unit("c"))
	require.Equal(t, map[string]int64{"a": 5, "": 1}, m.Sum("c", "k"))
	require.Empty(t, m.Sum("missing", "k"))
	require.EqualValues(t, 2, m.HistogramCount("h"))
	require.Len(t, m.HistogramPoints("h"), 2)
	require.Empty(t, m.Gauge("missing", "k"))
	require.Len(t, rec.Spans(), 1)
	require.Equal(t, "7", telemetrytest.Attr(rec.Spans()[0].Attributes(), "n"))
	require.Equal(t, "", telemetrytest.Attr(rec.Spans()[0].Attributes(), "absent"))
}
