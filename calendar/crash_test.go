package calendar_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/caldav"
	"github.com/wedsync/integrations/calendar/caldav/caldavtest"
	"github.com/wedsync/integrations/internal/crashtest"
	"github.com/wedsync/integrations/internal/pgtest"
)

const (
	crashChildEnv  = "WEDSYNC_CALENDAR_CRASH_CHILD_DB"
	crashSchemaEnv = "WEDSYNC_CALENDAR_CRASH_CHILD_SCHEMA"
	crashDAVEnv    = "WEDSYNC_CALENDAR_CRASH_CHILD_DAV"
)

// crashChild is the worker process: it writes bookings to the parent's
// CalDAV server until it is killed.
func crashChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	pool, err := pgxpool.New(ctx, os.Getenv(crashChildEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 2
	}
	defer pool.Close()
	s, err := crashSync(pool, os.Getenv(crashSchemaEnv), os.Getenv(crashDAVEnv))
	if err == nil {
		err = s.Start(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 2
	}
	<-ctx.Done()
	_ = s.Stop(context.Background())
	return 0
}

func crashSync(pool *pgxpool.Pool, schema, davURL string) (*calendar.Sync, error) {
	srv := &caldavtest.Server{URL: davURL, Kind: caldavtest.KindRadicale}
	dav, err := caldav.New(append(srv.ProviderOptions(), caldav.WithTimeout(5*time.Second))...)
	if err != nil {
		return nil, err
	}
	return calendar.NewSync(calendar.WithPostgres(pool), calendar.WithSchema(schema), calendar.WithEncryptionKey(testKey),
		calendar.WithProvider(dav), calendar.WithTimeout(5*time.Second),
		// Retries within the test's window: under a loaded machine (the whole
		// suite with the race detector) Radicale answers slowly, and the
		// default schedule's 2 and 10 minute waits outlast the four minutes
		// the last worker gets. The test is about loss, not backoff.
		calendar.WithRetrySchedule(0, time.Second, 2*time.Second, 5*time.Second, 10*time.Second, 20*time.Second, 30*time.Second, 30*time.Second, 30*time.Second),
		// A job may run 15 s (a write can make three provider calls; one cut
		// short by JobTimeout would fall back on River's slower retries); a
		// killed worker's jobs come back after RescueAfter (River's rescuer
		// looks every 30 s).
		calendar.WithQueueConfig(calendar.QueueConfig{JobTimeout: 15 * time.Second, RescueAfter: 20 * time.Second, MaxWorkers: 20}))
}

// TestPostgresCrashWritesEachBookingOnce writes 300 bookings to a real
// CalDAV server through worker processes that are killed with SIGKILL at
// random points and restarted: every booking must reach the calendar, none
// twice, and each event must be mapped to its booking (a worker killed
// between its write and its bookkeeping leaves an event its job's rerun
// meets and adopts).
func TestPostgresCrashWritesEachBookingOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts worker processes for about a minute")
	}
	const total, kills = 300, 4
	ctx := context.Background()
	db := pgtest.New(t, "calendar")
	require.NoError(t, calendar.Migrate(ctx, db.Pool, calendar.WithSchema(db.Schema)))
	srv := caldavtest.Start(t)
	creds, cal := srv.Creds("alice"), srv.MakeCalendar(t, "alice", "work")
	s, err := crashSync(db.Pool, db.Schema, srv.URL) // not started: the workers do the work
	require.NoError(t, err)
	conn, err := s.Connect(ctx, calendar.Connection{Supplier: "sup_alice", Provider: caldav.ProviderName, Calendar: cal}, creds)
	require.NoError(t, err)
	base := time.Date(2027, 1, 1, 10, 0, 0, 0, time.UTC)
	for i := range total {
		_, err := s.Book(ctx, calendar.Booking{ID: fmt.Sprintf("bk_%03d", i), Supplier: "sup_alice", Title: fmt.Sprint("Wedding ", i),
			Start: base.Add(time.Duration(i) * 24 * time.Hour), End: base.Add(time.Duration(i)*24*time.Hour + 8*time.Hour)})
		require.NoError(t, err)
	}

	app, err := caldav.New(srv.ProviderOptions()...)
	require.NoError(t, err)
	t.Cleanup(app.CloseIdleConnections)
	tags := func() map[string]int {
		cs, err := app.Changes(ctx, creds, cal, "")
		if err != nil {
			return nil
		}
		seen := map[string]int{}
		for _, ev := range cs.Updated {
			seen[ev.Tag]++
		}
		return seen
	}
	count := func() int {
		n := 0
		for _, c := range tags() {
			n += c
		}
		return n
	}
	// Progress is events in the calendar plus events mapped to their
	// bookings: a worker killed between its write and its bookkeeping
	// leaves an event whose mapping comes when its job runs again (the
	// repeated create meets If-None-Match, reads the event and adopts it),
	// so the last worker runs until both are complete.
	mapped := func() int {
		st, err := s.Connection(ctx, conn.ID)
		if err != nil {
			return 0
		}
		return st.Events
	}
	progress := func() int { return count() + mapped() }
	crashtest.Run(t, crashtest.Config{
		Env:   []string{crashChildEnv + "=" + db.URL, crashSchemaEnv + "=" + db.Schema, crashDAVEnv + "=" + srv.URL},
		Total: 2 * total, Kills: kills,
		Wait: func(ctx context.Context, n int) error {
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for progress() < n {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-tick.C:
				}
			}
			return nil
		},
		Count: progress,
		Done:  func() bool { return len(tags()) >= total && mapped() >= total },
	})

	seen := tags()
	var missing, twice []string
	for i := range total {
		id := fmt.Sprintf("bk_%03d", i)
		switch seen[id] {
		case 0:
			missing = append(missing, id)
		case 1:
		default:
			twice = append(twice, id)
		}
	}
	t.Logf("%d bookings, %d SIGKILLs: %d events in the calendar, %d missing, %d duplicated", total, kills, count(), len(missing), len(twice))
	require.Empty(t, missing, "every booking reaches the calendar")
	require.Empty(t, twice, "and none twice (the event's path comes from the booking: a repeated create meets If-None-Match)")
	require.Len(t, seen, total, "and nothing else is there")
	st, err := s.Connection(ctx, conn.ID)
	require.NoError(t, err)
	met := 0
	if as, err := s.Attempts(ctx, conn.ID, 1000); err == nil {
		for _, a := range as {
			if a.Op == "create" && !a.OK && strings.Contains(a.Error, "exists already") {
				met++
			}
		}
	}
	t.Logf("%d of %d events mapped to their bookings; %d creates met their booking's event (its bookkeeping lost to a kill or a timeout)", st.Events, total, met)
	if st.Events != total {
		logUnmapped(t, db.Pool, db.Schema, conn.ID)
	}
	require.Equal(t, total, st.Events, "each event is mapped to its booking")
}

// logUnmapped logs, for a failed crash test, the provider calls made for
// each booking that has no mapping, oldest first.
func logUnmapped(t *testing.T, pool *pgxpool.Pool, schema, conn string) {
	rows, err := pool.Query(context.Background(), fmt.Sprintf(`SELECT b.id, coalesce(string_agg(a.op || ':' || a.ok::text || ':' || left(coalesce(a.error, ''), 80), ' | ' ORDER BY a.at), '')
		FROM %[1]s.calendar_bookings b LEFT JOIN %[1]s.calendar_attempts a ON a.booking_id = b.id AND a.connection_id = $1
		WHERE NOT EXISTS (SELECT 1 FROM %[1]s.calendar_mappings m WHERE m.connection_id = $1 AND m.booking_id = b.id)
		GROUP BY b.id ORDER BY b.id`, schema), conn)
	if err != nil {
		t.Logf("listing the unmapped bookings: %v", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var id, calls string
		if rows.Scan(&id, &calls) == nil {
			t.Logf("unmapped %s: %s", id, calls)
		}
	}
}
