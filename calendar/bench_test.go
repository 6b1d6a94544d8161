package calendar_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/caldav"
	"github.com/wedsync/integrations/calendar/caldav/caldavtest"
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

// BenchmarkSyncOneChangeRadicale measures one change synced incrementally
// against a real CalDAV server, on Postgres, both ways: "pull" is the
// supplier moving an event in their calendar app, then SyncNow until the
// engine is idle with the busy block moved; "push" is a booking moved in
// WedSync until its event in the calendar has moved. The calendar holds
// 200 other events. It reports p50 and p99 of each.
func BenchmarkSyncOneChangeRadicale(b *testing.B) {
	db := pgtest.New(b, "calendar")
	ctx := context.Background()
	require.NoError(b, calendar.Migrate(ctx, db.Pool, calendar.WithSchema(db.Schema)))
	srv := caldavtest.Start(b)
	dav, err := caldav.New(srv.ProviderOptions()...)
	require.NoError(b, err)
	app, err := caldav.New(srv.ProviderOptions()...)
	require.NoError(b, err)
	creds, cal := srv.Creds("alice"), srv.MakeCalendar(b, "alice", "work")
	base := time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)
	for i := range 200 {
		_, err := app.Create(ctx, creds, cal, &calendar.Event{Summary: fmt.Sprintf("Own %d", i), Start: base.Add(time.Duration(i) * 24 * time.Hour), End: base.Add(time.Duration(i)*24*time.Hour + time.Hour)})
		require.NoError(b, err)
	}
	s, err := calendar.NewSync(calendar.WithPostgres(db.Pool), calendar.WithSchema(db.Schema), calendar.WithEncryptionKey(testKey), calendar.WithProvider(dav))
	require.NoError(b, err)
	require.NoError(b, s.Start(ctx))
	defer func() { require.NoError(b, s.Stop(ctx)) }()
	conn, err := s.Connect(ctx, calendar.Connection{Supplier: "sup_alice", Provider: caldav.ProviderName, Calendar: cal}, creds)
	require.NoError(b, err)
	require.NoError(b, s.WaitIdle(ctx))
	ev, err := app.Create(ctx, creds, cal, &calendar.Event{Summary: "Moving", Start: base.Add(-24 * time.Hour), End: base.Add(-23 * time.Hour)})
	require.NoError(b, err)
	bk, err := s.Book(ctx, calendar.Booking{ID: "bk_moving", Supplier: "sup_alice", Title: "Wedding", Start: base.Add(-48 * time.Hour), End: base.Add(-47 * time.Hour)})
	require.NoError(b, err)
	require.NoError(b, s.SyncNow(ctx, conn.ID))
	require.NoError(b, s.WaitIdle(ctx))

	var pushedID string
	all, err := app.Changes(ctx, creds, cal, "")
	require.NoError(b, err)
	for _, e := range all.Updated {
		if e.Tag == "bk_moving" {
			pushedID = e.ID
		}
	}
	require.NotEmpty(b, pushedID)
	var pull, push []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		shift := time.Duration(i+1) * time.Minute
		// Pull: the supplier moves their event.
		ev.Start, ev.End = base.Add(-24*time.Hour+shift), base.Add(-23*time.Hour+shift)
		ev, err = app.Update(ctx, creds, cal, ev, ev.ETag)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := s.SyncNow(ctx, conn.ID); err != nil {
			b.Fatal(err)
		}
		waitFor(b, func() bool {
			cs, err := s.Check(ctx, "sup_alice", calendar.Interval{Start: ev.Start, End: ev.End})
			return err == nil && len(cs) == 1 && cs[0].Interval.Start.Equal(ev.Start)
		})
		pull = append(pull, time.Since(t0))
		// Push: WedSync moves the booking.
		bk.Start, bk.End = base.Add(-48*time.Hour+shift), base.Add(-47*time.Hour+shift)
		t0 = time.Now()
		if bk, err = s.Book(ctx, bk); err != nil {
			b.Fatal(err)
		}
		waitFor(b, func() bool {
			got, err := app.Get(ctx, creds, cal, pushedID)
			return err == nil && got.Start.Equal(bk.Start)
		})
		push = append(push, time.Since(t0))
		if err := s.WaitIdle(ctx); err != nil { // the write's bookkeeping, before the next round
			b.Fatal(err)
		}
	}
	b.StopTimer()
	report := func(name string, ds []time.Duration) {
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, name+"-p99-ms")
	}
	report("pull", pull)
	report("push", push)
}

// waitFor polls cond until it holds (a benchmark measures how soon it
// does; 30 s is a failure).
func waitFor(b *testing.B, cond func() bool) {
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatal("condition not met in 30s")
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkFullSync2000 measures the engine's side of a full sync of a
// calendar of 2,000 events (one in ten a weekly series), on Postgres: the
// listing (from an in-memory provider, so that only the engine is
// measured; calendar/caldav's FullSync2000 measures Radicale's listing),
// the expansion into busy blocks and the writes of mappings and blocks,
// in one transaction. One op is one new connection's first sync.
func BenchmarkFullSync2000(b *testing.B) {
	db := pgtest.New(b, "calendar")
	ctx := context.Background()
	require.NoError(b, calendar.Migrate(ctx, db.Pool, calendar.WithSchema(db.Schema)))
	p := calendartest.NewProvider("")
	p.AddCalendar("big")
	base := time.Date(2027, 1, 4, 9, 0, 0, 0, london)
	for i := range 2000 {
		ev := calendar.Event{Summary: fmt.Sprint("Event ", i), Start: base.Add(time.Duration(i) * 5 * time.Hour), End: base.Add(time.Duration(i)*5*time.Hour + time.Hour)}
		if i%10 == 0 {
			ev.Recurrence = []string{"RRULE:FREQ=WEEKLY;COUNT=20"}
		}
		p.Put("big", ev)
	}
	s, err := calendar.NewSync(calendar.WithPostgres(db.Pool), calendar.WithSchema(db.Schema), calendar.WithEncryptionKey(testKey), calendar.WithProvider(p))
	require.NoError(b, err)
	require.NoError(b, s.Start(ctx))
	defer func() { require.NoError(b, s.Stop(ctx)) }()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c, err := s.Connect(ctx, calendar.Connection{Supplier: fmt.Sprint("sup_", i), Provider: p.Name(), Calendar: "big", ReadOnly: true}, []byte("x"))
		if err != nil {
			b.Fatal(err)
		}
		waitFor(b, func() bool {
			st, err := s.Connection(ctx, c.ID)
			return err == nil && !st.LastSuccess.IsZero()
		})
	}
	b.StopTimer()
	st, err := s.Connections(ctx, "sup_0")
	require.NoError(b, err)
	require.Equal(b, 2000, st[0].Events)
}
