package pgbroker_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/internal/telemetry/telemetrytest"
	"github.com/wedsync/integrations/realtime/pgbroker"
)

// Publishes, notifications by outcome, a LISTEN reconnect and a sweep
// show in the metrics docs/realtime.md lists; each publish is a producer
// span under the caller's.
func TestTelemetry(t *testing.T) {
	ctx := testCtx(t)
	rec := telemetrytest.New(t)
	mp, tp := rec.MeterProvider, rec.TracerProvider

	db := pgtest.New(t, "pgbroker")
	fake := clockwork.NewFakeClockAt(time.Now().Add(-time.Hour)) // ages history only
	b := newBroker(t, db, pgbroker.WithChannel(db.Schema), pgbroker.WithMeterProvider(mp), pgbroker.WithTracerProvider(tp),
		pgbroker.WithClock(fake), pgbroker.WithHistoryTTL(time.Minute), pgbroker.WithTrimInterval(1000*time.Hour),
		pgbroker.WithReconnectBackoff(10*time.Millisecond, 100*time.Millisecond))
	pubs := newRecorder()
	require.NoError(t, b.Attach(pubs))

	pctx, parent := tp.Tracer("host").Start(ctx, "booking.confirm")
	p1, err := b.Publish(pctx, "supplier:1", "kpi.updated", json.RawMessage(`{"bookings":1}`), "")
	require.NoError(t, err)
	require.Equal(t, p1, pubs.next(t, ctx))
	parent.End()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = b.Publish(canceled, "supplier:1", "kpi.updated", json.RawMessage(`{}`), "")
	require.Error(t, err)

	// The LISTEN connection is killed and comes back.
	_, err = db.Pool.Exec(ctx, "SELECT pg_terminate_backend($1)", b.ListenerPID())
	require.NoError(t, err)
	select {
	case <-pubs.resync:
	case <-ctx.Done():
		t.Fatal("no resync")
	}
	// A notification that is not JSON, and one naming a row that does
	// not exist: both read before p2, which follows them.
	_, err = db.Pool.Exec(ctx, `SELECT pg_notify($1, 'not json')`, db.Schema)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `SELECT pg_notify($1, $2)`, db.Schema, `{"s":"`+db.Schema+`","t":"supplier:1","e":"`+p1.Epoch+`","o":99}`)
	require.NoError(t, err)

	p2, err := b.Publish(ctx, "supplier:1", "kpi.updated", json.RawMessage(`{"bookings":2}`), "")
	require.NoError(t, err)
	require.Equal(t, p2, pubs.next(t, ctx))

	// Both publications outlive the TTL; the sweep deletes them.
	fake.Advance(p2.Time.Add(time.Minute + time.Millisecond).Sub(fake.Now()))
	n, err := b.Sweep(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, n)

	m := rec.Collect(t)
	for _, name := range m.Names() {
		require.Equal(t, "github.com/wedsync/integrations/realtime/pgbroker", m.Scope(name), name)
	}
	require.Equal(t, map[string]int64{"ok": 2, "error": 1}, m.Sum("wedsync.realtime.pgbroker.publishes", "wedsync.outcome"))
	require.EqualValues(t, 3, m.HistogramCount("wedsync.realtime.pgbroker.publish.duration"))
	require.Equal(t, map[string]int64{"delivered": 2, "malformed": 1, "not_found": 1},
		m.Sum("wedsync.realtime.pgbroker.notifications", "wedsync.outcome"))
	require.Equal(t, map[string]int64{"ok": 1}, m.Sum("wedsync.realtime.pgbroker.listen.reconnects", "wedsync.outcome"))
	require.Equal(t, map[string]int64{"": 2}, m.Sum("wedsync.realtime.pgbroker.trimmed", ""))

	var publishes []sdktrace.ReadOnlySpan
	for _, s := range rec.Spans() {
		if s.Name() == "pgbroker.publish" {
			publishes = append(publishes, s)
		}
	}
	require.Len(t, publishes, 3)
	s := publishes[0]
	require.Equal(t, trace.SpanKindProducer, s.SpanKind())
	require.Equal(t, parent.SpanContext().SpanID(), s.Parent().SpanID(), "a child of the caller's span")
	attrs := attribute.NewSet(s.Attributes()...)
	v, _ := attrs.Value("messaging.destination.name")
	require.Equal(t, "supplier:1", v.AsString())
	v, _ = attrs.Value("messaging.message.id")
	require.Equal(t, p1.ID(), v.AsString())
	v, _ = attrs.Value("messaging.batch.message_count")
	require.EqualValues(t, 1, v.AsInt64(), "a lone publish had its transaction to itself")
	require.Equal(t, codes.Error, publishes[1].Status().Code, "the canceled publish")
}
