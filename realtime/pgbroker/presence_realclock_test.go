package pgbroker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/idletest"
	"github.com/wedsync/integrations/internal/migrate"
	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/realtime/pgbroker"
)

// On the wall clock, with the shortest TTL (a refresh every third of a
// second): the presence refresher costs next to nothing between its
// round trips, and neither a Track nor Close waits on a database that
// hangs past its bound (a session holds the presence table).
func TestPresenceRealClockIdleAndCloseWhenTheDatabaseHangs(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	b := newBroker(t, db, pgbroker.WithChannel(db.Schema), pgbroker.WithPresenceTTL(time.Second))
	rec := newPresenceRecorder()
	require.NoError(t, b.Attach(rec))
	for _, id := range []string{"A:1:1", "A:1:2", "A:1:3"} {
		require.NoError(t, b.Track(ctx, member("supplier:1", id, "user-1", `{"page":"dashboard"}`)))
		rec.next(t, ctx)
	}
	idletest.RequireIdle(t, "a broker refreshes 3 presence members every 333ms")
	rec.none(t) // refreshes that change nothing say nothing

	holder, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = holder.Rollback(context.Background()) })
	q := migrate.Quote(db.Schema)
	_, err = holder.Exec(ctx, "LOCK TABLE "+q+".realtime_presence IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)

	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	start := time.Now()
	err = b.Track(tctx, member("supplier:1", "A:1:4", "user-1", `{}`))
	cancel()
	t.Logf("Track with a 200ms context on a locked table: %s, %v", time.Since(start), err)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 200*time.Millisecond+2*time.Second)

	// The refresher waits on the lock.
	require.Eventually(t, func() bool {
		var n int
		err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND state = 'active'
			  AND query LIKE '%UPDATE ' || $1 || '.realtime_presence SET expires_at%'`, q).Scan(&n)
		return err == nil && n > 0
	}, 10*time.Second, 5*time.Millisecond, "the refresh waits on the lock")

	// Close stops the refresher at once; its deletion of the members
	// waits on the lock for its bound (1 s), then gives up.
	start = time.Now()
	require.NoError(t, b.Close())
	t.Logf("Close with its refresh and its cleanup waiting on a lock: %s", time.Since(start))
	require.Less(t, time.Since(start), time.Second+2*time.Second)
	require.NoError(t, holder.Rollback(ctx))
	n := 0
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM "+q+".realtime_presence").Scan(&n))
	require.Equal(t, 3, n, "the members Close could not delete are left to expire")
}
