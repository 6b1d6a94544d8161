package pglisten_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/pglisten"
	"github.com/wedsync/integrations/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// events records what a Listener told its callbacks, in order.
type events struct {
	mu       sync.Mutex
	log      []string
	notified chan string
	pids     chan uint32
	tried    []error
}

func newEvents() *events {
	return &events{notified: make(chan string, 16), pids: make(chan uint32, 4)}
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, s)
}

func (e *events) snapshot() ([]string, []error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.log...), append([]error(nil), e.tried...)
}

func listener(db *pgtest.DB, channel string, e *events) *pglisten.Listener {
	return &pglisten.Listener{
		// The test's schema names its connections: no other test's (or an
		// earlier run's) can be counted.
		Pool: db.Pool, Channel: channel, ApplicationName: db.Schema, Name: "pglistentest",
		Backoff: backoff.Exponential{Base: time.Millisecond, Max: 10 * time.Millisecond},
		Notify: func(_ context.Context, payload string) bool {
			e.add("notify " + payload)
			e.notified <- payload
			return true
		},
		Lost: func(err error) { e.add("lost") },
		Tried: func(_ context.Context, err error) {
			e.mu.Lock()
			e.tried = append(e.tried, err)
			e.mu.Unlock()
		},
		Listening: func(_ context.Context, conn *pgx.Conn) bool {
			e.add("listening")
			e.pids <- conn.PgConn().PID()
			return true
		},
	}
}

// recv takes the next value from ch, failing the test when none comes
// within 30 seconds (a bound on a failure, not a wait for success).
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s within 30s", what)
		panic("unreachable")
	}
}

func notify(t *testing.T, db *pgtest.DB, channel, payload string) {
	t.Helper()
	_, err := db.Pool.Exec(context.Background(), "SELECT pg_notify($1, $2)", channel, payload)
	require.NoError(t, err)
}

// listeners returns the pids of the connections named after the test's
// schema (the listener's ApplicationName).
func listeners(t *testing.T, db *pgtest.DB) []uint32 {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(),
		"SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()", db.Schema)
	require.NoError(t, err)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
	require.NoError(t, err)
	return pids
}

// requireNoListeners checks that every connection the listener opened is
// closed. A backend leaves pg_stat_activity a moment after its client
// closed the connection, on its own: Postgres is polled for it.
func requireNoListeners(t *testing.T, db *pgtest.DB, msg string) {
	t.Helper()
	require.Eventually(t, func() bool { return len(listeners(t, db)) == 0 }, 10*time.Second, 5*time.Millisecond, msg)
}

// Notifications reach Notify in order; a lost connection is told to Lost,
// replaced with backoff (Tried: nil) and told to Listening, and the new
// connection receives what follows; when Run's context ends it closes its
// connection and returns.
func TestListenerReceivesAndListensAgainAfterALoss(t *testing.T) {
	db := pgtest.New(t, "pglisten")
	e := newEvents()
	l := listener(db, "pglisten_a", e)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := l.Connect(ctx)
	require.NoError(t, err)
	first := conn.PgConn().PID()
	require.Equal(t, []uint32{first}, listeners(t, db), "named ApplicationName, out of the pool")
	require.Zero(t, db.Pool.Stat().AcquiredConns(), "hijacked: the pool no longer counts it")

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); l.Run(runCtx, conn) }()

	notify(t, db, "pglisten_a", "one")
	notify(t, db, "pglisten_a", "two")
	require.Equal(t, "one", recv(t, e.notified, "notification"))
	require.Equal(t, "two", recv(t, e.notified, "notification"))

	var cut bool
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT pg_terminate_backend($1)", first).Scan(&cut))
	require.True(t, cut)
	second := recv(t, e.pids, "new connection")
	require.NotEqual(t, first, second)
	notify(t, db, "pglisten_a", "three")
	require.Equal(t, "three", recv(t, e.notified, "notification"))

	log, tried := e.snapshot()
	require.Equal(t, []string{"notify one", "notify two", "lost", "listening", "notify three"}, log)
	require.NotEmpty(t, tried)
	require.NoError(t, tried[len(tried)-1], "the last attempt listens")

	stop()
	<-done
	requireNoListeners(t, db, "Run closed its connection when its context ended")
}

// Run given no connection (the first Connect failed) tries again after a
// wait and tells Listening once it listens.
func TestListenerRunWithoutAConnectionConnects(t *testing.T) {
	db := pgtest.New(t, "pglisten")
	e := newEvents()
	l := listener(db, "pglisten_b", e)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx, nil) }()
	pid := recv(t, e.pids, "connection")
	require.Equal(t, []uint32{pid}, listeners(t, db))
	notify(t, db, "pglisten_b", "hello")
	require.Equal(t, "hello", recv(t, e.notified, "notification"))
	cancel()
	<-done
	requireNoListeners(t, db, "Run closed its connection when its context ended")
}

// Connect's errors name the component and the step that failed, and leave
// no connection behind.
func TestConnectErrorsNameTheStep(t *testing.T) {
	db := pgtest.New(t, "pglisten")
	l := listener(db, "pglisten_c", newEvents())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := l.Connect(ctx)
	require.ErrorContains(t, err, "pglistentest: LISTEN connection: acquire: ")
	require.True(t, errors.Is(err, context.Canceled))

	// The connection is named, then LISTEN "" fails (a zero-length
	// identifier): the named connection must be closed.
	l.Channel = ""
	_, err = l.Connect(context.Background())
	require.ErrorContains(t, err, `pglistentest: LISTEN connection: LISTEN : `)
	requireNoListeners(t, db, "the connection whose LISTEN failed was closed")

	l.Channel, l.ApplicationName = "pglisten_c", string([]byte{0}) // Postgres refuses a NUL in text
	_, err = l.Connect(context.Background())
	require.ErrorContains(t, err, "pglistentest: LISTEN connection: set application_name: ")
}
