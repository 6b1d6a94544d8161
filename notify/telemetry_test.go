package notify_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"

	"github.com/wedsync/integrations/internal/telemetry/telemetrytest"
	. "github.com/wedsync/integrations/notify"
)

// A failover, a retry, a suppressed channel and an escalation show in the
// metrics and spans that docs/telemetry.md lists.
func TestTelemetryMetricsAndSpans(t *testing.T) {
	rec := telemetrytest.New(t)
	s := newSim(t, WithMeterProvider(rec.MeterProvider), WithTracerProvider(rec.TracerProvider), WithEscalationDelay(time.Minute))
	p := testPrefs()
	p.Categories[CategoryBooking] = CategoryPreferences{Channels: map[Channel]bool{ChannelEmail: true, ChannelSMS: true, ChannelInApp: true}}
	p.Escalation = []Channel{ChannelEmail, ChannelSMS}
	s.setPrefs("sup_1", p)
	s.email.setFail(func(*Message) error { return &ProviderError{Provider: "mail-a", StatusCode: 421} })
	nt := booking("sup_1", "UTC")
	nt.Priority = PriorityCritical
	r := s.send(nt) // email: mail-a fails, mail-b sends; in-app at once; SMS waits
	m := rec.Collect(t)
	require.Equal(t, map[string]int64{"critical": 1}, m.Sum("wedsync.notify.notifications", "wedsync.notify.priority"))
	require.Equal(t, map[string]int64{"queued": 3, "suppressed": 1}, m.Sum("wedsync.notify.routed", "wedsync.notify.status"))
	require.Equal(t, map[string]int64{"sent": 2}, m.Sum("wedsync.notify.sends", "wedsync.outcome"))
	require.Equal(t, map[string]int64{"due": 0, "scheduled": 1, "running": 0}, m.Gauge("wedsync.notify.queue.depth", "wedsync.queue.state"),
		"the escalation waits for its time")
	require.Equal(t, uint64(2), m.HistogramCount("wedsync.notify.provider.duration"))

	s.advance(time.Minute)
	require.NoError(t, s.n.Acknowledge(context.Background(), r.ID))
	m = rec.Collect(t)
	require.Equal(t, map[string]int64{"sms": 1}, m.Sum("wedsync.notify.escalations", "wedsync.notify.channel"))
	require.Equal(t, map[string]int64{"": 1}, m.Sum("wedsync.notify.acknowledgements", ""))

	spans := rec.Spans()
	require.Len(t, spans, 3)
	require.Equal(t, "notify email mail-a", spans[0].Name())
	require.Equal(t, codes.Error, spans[0].Status().Code)
	require.Equal(t, "notify email mail-b", spans[1].Name())
	require.Equal(t, "notify sms sms", spans[2].Name())
}
