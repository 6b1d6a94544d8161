package delivery_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/wedsync/integrations/internal/telemetry/telemetrytest"
	. "github.com/wedsync/integrations/webhook/delivery"
	"github.com/wedsync/integrations/webhook/webhooktest"
)

// A failed attempt and its successful retry show as two HTTP client spans
// and in the metrics documented in docs/telemetry.md.
func TestTelemetrySpansAndMetrics(t *testing.T) {
	rec := telemetrytest.New(t)
	e := newSim(t, WithMeterProvider(rec.MeterProvider), WithTracerProvider(rec.TracerProvider))
	recv := webhooktest.NewReceiver(t)
	recv.Respond(func(n int, _ *http.Request) webhooktest.Response {
		if n == 1 {
			return webhooktest.Response{Status: http.StatusServiceUnavailable}
		}
		return webhooktest.Response{Status: http.StatusNoContent}
	})
	ep := e.endpoint(recv, EndpointInput{})
	id := e.send("sup_1", "booking.confirmed")
	a := e.next()
	require.Equal(t, AttemptFailed, a.Status)
	e.settle()

	m := rec.Collect(t)
	require.Equal(t, map[string]int64{"due": 0, "scheduled": 1, "running": 0}, m.Gauge("wedsync.webhook.queue.depth", "wedsync.queue.state"),
		"the retry waits for its time")

	e.clk.Advance(a.NextAttemptAt.Sub(e.clk.Now()))
	require.Equal(t, AttemptSucceeded, e.next().Status)
	e.settle()

	m = rec.Collect(t)
	require.Equal(t, map[string]int64{"retrying": 1, "succeeded": 1}, m.Sum("wedsync.webhook.attempts", "wedsync.outcome"))
	require.Equal(t, map[string]int64{"": 1}, m.Sum("wedsync.webhook.messages", ""))
	require.Equal(t, uint64(2), m.HistogramCount("http.client.request.duration"))

	ended := rec.Spans()
	require.Len(t, ended, 2)
	for i, s := range ended {
		require.Equal(t, "POST", s.Name())
		attrs := attribute.NewSet(s.Attributes()...)
		v, _ := attrs.Value("wedsync.webhook.message_id")
		require.Equal(t, id, v.AsString())
		v, _ = attrs.Value("wedsync.webhook.endpoint_id")
		require.Equal(t, ep.ID, v.AsString())
		v, _ = attrs.Value("wedsync.webhook.attempt")
		require.Equal(t, int64(i+1), v.AsInt64())
	}
	require.Equal(t, codes.Error, ended[0].Status().Code, "the 503")
	require.NotEqual(t, codes.Error, ended[1].Status().Code)
}

// A vendor URL's secret (in its path or query) reaches neither the spans,
// nor the attempt log, nor the host's logs.
func TestTelemetryAndLogsNeverCarryTheURLsSecret(t *testing.T) {
	rec := telemetrytest.New(t)
	e := newSim(t, WithTracerProvider(rec.TracerProvider))
	ep, err := e.m.CreateEndpoint(context.Background(), EndpointInput{SupplierID: "sup_1",
		URL: "http://127.0.0.1:1/services/T0/B0/XXSECRETPATHXX?token=XXSECRETQUERYXX"}) // port 1: refused
	require.NoError(t, err)
	e.send("sup_1", "booking.confirmed")
	a := e.next()
	require.Equal(t, ep.ID, a.EndpointID)
	require.Equal(t, AttemptFailed, a.Status)
	require.Contains(t, a.Error, "http://127.0.0.1:1/REDACTED?token=REDACTED")
	e.settle()
	for _, s := range rec.Spans() {
		for _, kv := range s.Attributes() {
			require.NotContains(t, kv.Value.Emit(), "XXSECRET", string(kv.Key))
		}
		require.NotContains(t, s.Status().Description, "XXSECRET")
	}
	require.NotEmpty(t, rec.Spans())
	require.NotContains(t, a.Error, "XXSECRET")
	require.Contains(t, e.logs.String(), "webhook attempt failed")
	require.NotContains(t, e.logs.String(), "XXSECRET")
}
