package wedmesync_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/idletest"
	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/wedmesync"
)

// wakeEnv is a WedMe node in Postgres mode whose Peer runs with an hour
// between turns, pushing to a supplier node in memory: only a wake can
// deliver a change in a test's lifetime.
type wakeEnv struct {
	db      *pgtest.DB
	wedme   *wedmesync.Node
	sup     *wedmesync.Node
	peer    *wedmesync.Peer
	applied chan wedmesync.Applied
	stop    func() // ends Run and waits for it
}

func newWakeEnv(t *testing.T) *wakeEnv {
	t.Helper()
	ctx := context.Background()
	e := &wakeEnv{db: pgtest.New(t, "wedmesync_wake"), applied: make(chan wedmesync.Applied, 8)}
	require.NoError(t, wedmesync.Migrate(ctx, e.db.Pool, wedmesync.WithSchema(e.db.Schema)))
	var err error
	e.wedme, err = wedmesync.NewNode(wedmesync.SideWedMe, "wedme1", wedmesync.WithAuthorizer(auth()), wedmesync.WithSharing(everything),
		wedmesync.WithPostgres(e.db.Pool), wedmesync.WithSchema(e.db.Schema))
	require.NoError(t, err)
	e.sup, err = wedmesync.NewNode(wedmesync.SideSupplier, "supplier1", wedmesync.WithAuthorizer(auth()), wedmesync.WithSharing(everything),
		wedmesync.WithAppliedHandler(func(_ context.Context, a wedmesync.Applied) { e.applied <- a }))
	require.NoError(t, err)
	e.peer = e.wedme.NewPeer("supplier-platform", wedmesync.MemoryTransport{Peer: e.sup, From: wedmesync.SideWedMe})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); e.peer.Run(rctx, time.Hour) }()
	var once bool
	e.stop = func() {
		if !once {
			once = true
			cancel()
			<-done
		}
	}
	t.Cleanup(e.stop)
	return e
}

// listeners returns the backends listening on the test schema's change
// log.
func (e *wakeEnv) listeners(ctx context.Context, t *testing.T) []uint32 {
	t.Helper()
	return listenPIDs(ctx, t, e.db.Pool, e.db.Schema)
}

func listenPIDs(ctx context.Context, t *testing.T, pool *pgxpool.Pool, schema string) []uint32 {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT pid FROM pg_stat_activity
		WHERE application_name = $1 AND state = 'idle' AND query LIKE 'LISTEN %' || $2 || '%'`, wedmesync.ListenApplicationName, schema)
	require.NoError(t, err)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
	require.NoError(t, err)
	return pids
}

// waitListening waits until one backend other than the ones in not
// listens on the test schema's change log, and returns it.
func (e *wakeEnv) waitListening(ctx context.Context, t *testing.T, not ...uint32) uint32 {
	t.Helper()
	var pid uint32
	require.Eventually(t, func() bool {
		pids := e.listeners(ctx, t)
		if len(pids) != 1 || (len(not) > 0 && pids[0] == not[0]) {
			return false
		}
		pid = pids[0]
		return true
	}, 10*time.Second, 5*time.Millisecond, "the peer listens on its own change log")
	return pid
}

func (e *wakeEnv) next(t *testing.T) wedmesync.Applied {
	t.Helper()
	select {
	case a := <-e.applied:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("the committed change was not pushed: the peer was not woken by the commit")
		return wedmesync.Applied{}
	}
}

// A change recorded in the host's transaction is pushed when that
// transaction commits, not at the peer's next turn an hour away: the
// peer hears the commit on its LISTEN connection. One rolled back sends
// nothing. Waiting costs nothing, and when Run returns its connection is
// closed.
func TestRecordTxInHostTxIsPushedAtCommit(t *testing.T) {
	e := newWakeEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e.waitListening(ctx, t)
	idletest.RequireIdle(t, "a peer listening for this side's commits, its next turn an hour away")

	rolledBack, err := e.db.Pool.Begin(ctx)
	require.NoError(t, err)
	_, err = e.wedme.RecordTx(ctx, rolledBack, dietary(1))
	require.NoError(t, err)
	require.NoError(t, rolledBack.Rollback(ctx))

	tx, err := e.db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = e.wedme.RecordTx(ctx, tx, dietary(2))
	require.NoError(t, err)
	// The host's transaction goes on: a sync meanwhile finds nothing to
	// push, since nothing is committed yet.
	require.NoError(t, e.peer.SyncOnce(ctx))
	require.Empty(t, e.applied, "nothing reaches the other side before the commit")
	require.NoError(t, tx.Commit(ctx))

	a := e.next(t)
	require.JSONEq(t, "2", string(a.Record.Fields["vegetarian"].Value),
		"the committed change arrives, and first: the rolled-back one, earlier in time, never does")
	require.Empty(t, e.applied)
	require.Equal(t, int64(1), e.sup.Counts()[wedmesync.OutcomeApplied])
	cs, _, err := e.wedme.Changes(ctx, "", 10)
	require.NoError(t, err)
	require.Len(t, cs, 1, "the rolled-back change left nothing in the log")

	e.stop()
	require.Eventually(t, func() bool { return len(e.listeners(ctx, t)) == 0 }, 10*time.Second, 5*time.Millisecond,
		"Run closed its LISTEN connection when its context ended")
}

// A peer whose LISTEN connection is lost listens again on a new one, and
// commits keep waking it.
func TestPeerListensAgainAfterLosingItsConnection(t *testing.T) {
	e := newWakeEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first := e.waitListening(ctx, t)
	var cut bool
	require.NoError(t, e.db.Pool.QueryRow(ctx, "SELECT pg_terminate_backend($1)", first).Scan(&cut))
	require.True(t, cut)
	e.waitListening(ctx, t, first)

	err := pgx.BeginFunc(ctx, e.db.Pool, func(tx pgx.Tx) error {
		_, err := e.wedme.RecordTx(ctx, tx, dietary(5))
		return err
	})
	require.NoError(t, err)
	require.JSONEq(t, "5", string(e.next(t).Record.Fields["vegetarian"].Value))
}
