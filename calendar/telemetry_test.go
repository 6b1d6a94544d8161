package calendar_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/calendartest"
	"github.com/wedsync/integrations/internal/telemetry/telemetrytest"
)

// A write, a sync with a conflict, a refused booking and a failed sync
// show in the metrics and spans docs/telemetry.md lists.
func TestTelemetryMetricsAndSpans(t *testing.T) {
	rec := telemetrytest.New(t)
	ctx := context.Background()
	p := calendartest.NewProvider("")
	s := start(t, calendar.WithProvider(p), calendar.WithMeterProvider(rec.MeterProvider), calendar.WithTracerProvider(rec.TracerProvider))
	c := connect(t, s, p, "sup_1", "work")
	// The connection's first sync ends before the booking is written, so
	// that our create comes back in a later listing, after its mapping
	// committed: as our echo. (Listed while the push is in flight, it
	// could be adopted by its tag or left as stale, each correct:
	// adopt_test.go covers those.)
	settle(t, s, c.ID)
	_, err := s.Book(ctx, calendar.Booking{ID: "bk_1", Supplier: "sup_1", Start: at(5, 11), End: at(5, 23), Title: "Wedding"})
	require.NoError(t, err)
	_, err = s.Book(ctx, calendar.Booking{ID: "bk_2", Supplier: "sup_1", Start: at(5, 12), End: at(5, 13), Title: "Clash"})
	require.ErrorIs(t, err, calendar.ErrConflict)
	settle(t, s, c.ID)
	p.Put("work", calendar.Event{Summary: "Dentist", Start: at(5, 9), End: at(5, 12)})
	settle(t, s, c.ID)
	p.FailNext("changes", &calendar.ProviderError{Provider: "fake", Op: "changes", Status: 503})
	require.NoError(t, s.SyncNow(ctx, c.ID))
	require.NoError(t, s.WaitIdle(ctx))

	m := rec.Collect(t)
	require.Equal(t, map[string]int64{"ok": 7, "failed": 1}, m.Sum("wedsync.calendar.syncs", "wedsync.outcome"))
	require.Equal(t, map[string]int64{"create": 1}, m.Sum("wedsync.calendar.writes", "wedsync.calendar.op"))
	require.Equal(t, map[string]int64{"": 1}, m.Sum("wedsync.calendar.conflicts", ""))
	require.Equal(t, map[string]int64{"": 1}, m.Sum("wedsync.calendar.bookings.refused", ""))
	applied := m.Sum("wedsync.calendar.events.applied", "wedsync.calendar.kind")
	require.Equal(t, map[string]int64{"busy": 1, "echo": 1}, applied)
	depth := m.Gauge("wedsync.calendar.queue.depth", "wedsync.queue.state")
	require.Zero(t, depth["due"]+depth["running"])
	// The next periodic sync waits for its time, beside the ones SyncNow
	// superseded (they do nothing when their time comes).
	require.GreaterOrEqual(t, depth["scheduled"], int64(1))
	require.Equal(t, uint64(9), m.HistogramCount("wedsync.calendar.provider.duration"))

	var failed int
	for _, sp := range rec.Spans() {
		require.Contains(t, []string{"calendar changes fake", "calendar create fake"}, sp.Name())
		if sp.Status().Code == codes.Error {
			failed++
		}
	}
	require.Equal(t, 1, failed)
}
