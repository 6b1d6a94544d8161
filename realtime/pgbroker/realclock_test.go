package pgbroker_test

// Real-clock lifecycle: a broker waiting on its LISTEN connection costs
// nothing, and neither Close nor Publish waits on a database that hangs
// past its context.

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/idletest"
	"github.com/wedsync/integrations/internal/migrate"
	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/realtime/pgbroker"
)

func TestRealClockIdleAndCloseWhenTheDatabaseHangs(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	clk := clockwork.NewFakeClock() // drives the trim sweep, so the test can fire it
	b := newBroker(t, db, pgbroker.WithChannel(db.Schema), pgbroker.WithClock(clk), pgbroker.WithTrimInterval(time.Minute))
	rec := newRecorder()
	require.NoError(t, b.Attach(rec))
	p1, err := b.Publish(ctx, "supplier:1", "kpi.updated", json.RawMessage(`{"bookings":1}`), "")
	require.NoError(t, err)
	require.Equal(t, p1, rec.next(t, ctx))
	idletest.RequireIdle(t, "a broker waits on its LISTEN connection, its trim sweep a minute away")

	// Another session takes the history table for itself: every statement
	// of the broker that touches it now waits.
	holder, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = holder.Rollback(context.Background()) })
	q := migrate.Quote(db.Schema)
	_, err = holder.Exec(ctx, "LOCK TABLE "+q+".realtime_history IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)

	// A publish waits no longer than its context.
	pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	start := time.Now()
	_, err = b.Publish(pctx, "supplier:1", "kpi.updated", json.RawMessage(`{"bookings":2}`), "")
	cancel()
	t.Logf("Publish with a 200ms context on a locked table: %s, %v", time.Since(start), err)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 200*time.Millisecond+2*time.Second)

	// The LISTEN goroutine reads a notified row, and the sweep trims: both
	// wait on the lock.
	_, err = db.Pool.Exec(ctx, "SELECT pg_notify($1, $2)", db.Schema,
		fmt.Sprintf(`{"s":%q,"t":"supplier:1","e":%q,"o":1}`, db.Schema, p1.Epoch))
	require.NoError(t, err)
	require.NoError(t, clk.BlockUntilContext(ctx, 1))
	clk.Advance(2 * time.Minute)
	waiting := func(marker string) bool {
		var n int
		err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND state = 'active'
			  AND query LIKE '%' || $1 || '.realtime_history%' AND query LIKE '%' || $2 || '%'`, q, marker).Scan(&n)
		return err == nil && n > 0
	}
	require.Eventually(t, func() bool {
		return waiting("h.event, h.payload, h.origin") && waiting("pg_try_advisory_xact_lock")
	}, 10*time.Second, 5*time.Millisecond, "the broker's row read and its sweep wait on the lock")

	start = time.Now()
	require.NoError(t, b.Close())
	t.Logf("Close with its LISTEN read and its sweep waiting on a lock: %s", time.Since(start))
	require.Less(t, time.Since(start), 2*time.Second)
	require.NoError(t, holder.Rollback(ctx))
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(pgx.Tx) error { return nil }), "the pool still works")
}
