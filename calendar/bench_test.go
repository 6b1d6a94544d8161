package calendar_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/calendartest"
	"github.com/wedsync/integrations/internal/pgtest"
)

// BenchmarkCheck100k measures a conflict check of one day for a supplier
// with 100,000 busy blocks (and 1,000 bookings), among 100,000 busy blocks
// of other suppliers, on Postgres: the GiST index on (supplier_id, span)
// makes it a range scan. The blocks are seeded with SQL (a sync of 100,000
// events is not what is measured). It reports p50 and p99.
func BenchmarkCheck100k(b *testing.B) {
	db := pgtest.New(b, "calendar")
	ctx := context.Background()
	require.NoError(b, calendar.Migrate(ctx, db.Pool, calendar.WithSchema(db.Schema)))
	p := calendartest.NewProvider("")
	s, err := calendar.NewSync(calendar.WithPostgres(db.Pool), calendar.WithSchema(db.Schema), calendar.WithEncryptionKey(testKey), calendar.WithProvider(p))
	require.NoError(b, err)
	p.AddCalendar("work")
	var conns []string
	for _, sup := range []string{"sup_big", "sup_other"} {
		c, err := s.Connect(ctx, calendar.Connection{Supplier: sup, Provider: p.Name(), Calendar: "work"}, []byte("x"))
		require.NoError(b, err)
		conns = append(conns, c.ID)
	}
	// 100,000 one-hour blocks every 2 hours from 2026: about 23 years, as
	// a dense calendar would have over a few years.
	for i, sup := range []string{"sup_big", "sup_other"} {
		_, err = db.Pool.Exec(ctx, fmt.Sprintf(`INSERT INTO %q.calendar_busy (connection_id, event_id, supplier_id, span, summary)
			SELECT $1, 'ev' || g, $2, tstzrange(t, t + interval '1 hour', '[)'), 'Busy ' || g
			FROM generate_series(1, 100000) g, LATERAL (SELECT timestamptz '2026-01-01 00:00Z' + g * interval '2 hours') AS x(t)`, db.Schema),
			conns[i], sup)
		require.NoError(b, err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		_, err := s.Book(ctx, calendar.Booking{ID: fmt.Sprintf("bk_%d", i), Supplier: "sup_big", Title: "Wedding",
			Start: base.Add(time.Duration(i)*7*24*time.Hour + time.Hour), End: base.Add(time.Duration(i)*7*24*time.Hour + 2*time.Hour)})
		require.NoError(b, err)
	}
	_, err = db.Pool.Exec(ctx, fmt.Sprintf(`ANALYZE %q.calendar_busy; ANALYZE %q.calendar_bookings`, db.Schema, db.Schema))
	require.NoError(b, err)

	var durs []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		day := base.Add(time.Duration(i%7000) * 24 * time.Hour)
		t0 := time.Now()
		cs, err := s.Check(ctx, "sup_big", calendar.Interval{Start: day, End: day.Add(24 * time.Hour)}, calendar.WithBuffers(time.Hour, time.Hour))
		durs = append(durs, time.Since(t0))
		if err != nil || len(cs) < 12 {
			b.Fatalf("check: %v, %d conflicts", err, len(cs))
		}
	}
	b.StopTimer()
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(durs[len(durs)*99/100].Microseconds())/1000, "p99-ms")
}
