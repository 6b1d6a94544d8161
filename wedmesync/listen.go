package wedmesync

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/loop"
)

// ListenApplicationName is the application_name of the connections that
// LISTEN for change-log commits (a running Peer's own log in Postgres
// mode, a DBTransport's other side), so that an operator can find them in
// pg_stat_activity.
const ListenApplicationName = "wedsync-wedmesync-listen"

// Bounds of the wait between attempts to LISTEN again after the connection
// was lost or could not be opened: exponential backoff with full jitter,
// so that the instances sharing a database do not reconnect in step.
const (
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 5 * time.Second
)

// listener LISTENs on one change log's channel and signals changed at each
// commit to that log. It holds one connection of its own, taken out of the
// pool for good (hijacked: it no longer counts against the pool's
// MaxConns, but does against the server's max_connections) and closed,
// never returned to the pool with a LISTEN on it. When the connection is
// lost it signals (its reader syncs now and then falls back to its
// interval), and listens again with backoff; once listening again it
// signals once more, for the commits it may have missed meanwhile.
type listener struct {
	pool    *pgxpool.Pool
	channel string
	log     *slog.Logger
	wall    clockwork.Clock // times the backoff, on the real clock whatever the node's WithClock says

	changed chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}

	mu  sync.Mutex
	err error
}

// listen starts listening on channel. The first attempt is made now,
// within ctx, and its failure returned. With retry, a failed first attempt
// is retried in the background, as a lost connection is, and the listener
// is returned with the error; without, listen returns only the error.
// Close stops the listener and closes its connection.
func listen(ctx context.Context, pool *pgxpool.Pool, channel string, log *slog.Logger, retry bool) (*listener, error) {
	conn, err := listenConn(ctx, pool, channel)
	if err != nil && !retry {
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	l := &listener{pool: pool, channel: channel, log: log, wall: clockwork.NewRealClock(),
		changed: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}), err: err}
	go l.run(lctx, conn)
	return l, err
}

// listenConn takes a connection out of pool, names it and LISTENs on
// channel.
func listenConn(ctx context.Context, pool *pgxpool.Pool, channel string) (*pgx.Conn, error) {
	pc, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("wedmesync: LISTEN connection: acquire: %w", err)
	}
	conn := pc.Hijack()
	if _, err := conn.Exec(ctx, "SELECT set_config('application_name', $1, false)", ListenApplicationName); err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("wedmesync: LISTEN connection: set application_name: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("wedmesync: LISTEN %s: %w", channel, err)
	}
	return conn, nil
}

// closeConn closes a LISTEN connection, waiting for the server no longer
// than a few seconds.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}

// run owns the connection (nil: the first attempt failed) until ctx ends.
func (l *listener) run(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	flaps := 0
	if conn == nil {
		flaps = 1 // a failed first attempt waits before the next, as after a flap
	}
	for {
		if conn != nil {
			up := l.wall.Now()
			var err error
			for err == nil {
				if _, err = conn.WaitForNotification(ctx); err == nil {
					l.signal()
				}
			}
			closeConn(conn)
			if ctx.Err() != nil {
				return
			}
			l.setErr(err)
			l.log.Warn("wedmesync: LISTEN connection lost; syncing at the interval until it is back", "channel", l.channel, "error", err)
			l.signal() // the reader syncs now, then at its interval
			// A connection that lived less than the longest wait flapped:
			// wait before the next attempt, longer with each flap in a
			// row, rather than hammer a database that accepts and drops.
			if l.wall.Since(up) < listenBackoffMax {
				flaps++
			} else {
				flaps = 0
			}
		}
		if conn = l.reconnect(ctx, flaps); conn == nil {
			return
		}
		l.setErr(nil)
		l.log.Info("wedmesync: listening for change-log commits again", "channel", l.channel)
		l.signal() // commits made while nobody listened
	}
}

// reconnect LISTENs again: at once when flaps is 0, else after a wait as
// if flaps attempts had failed; then with backoff between failed attempts.
// It returns nil when ctx ends.
func (l *listener) reconnect(ctx context.Context, flaps int) *pgx.Conn {
	bo := backoff.Exponential{Base: listenBackoffMin, Max: listenBackoffMax}
	if flaps > 0 && loop.Sleep(ctx, l.wall, bo.FullJitter(flaps-1)) != nil {
		return nil
	}
	var conn *pgx.Conn
	err := loop.Retry(ctx, l.wall, bo, func(ctx context.Context) error {
		c, err := listenConn(ctx, l.pool, l.channel)
		conn = c
		return err
	}, func(err error, attempt int, wait time.Duration) {
		l.setErr(err)
		l.log.Warn("wedmesync: LISTEN failed; retrying", "channel", l.channel, "error", err, "attempt", attempt+1, "retry_in", wait)
	})
	if err != nil {
		return nil
	}
	return conn
}

func (l *listener) signal() {
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

func (l *listener) setErr(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err = err
}

// Err is why the listener is not listening now (nil while it is).
func (l *listener) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// close stops listening and closes the connection, or waits for ctx.
func (l *listener) close(ctx context.Context) error {
	l.cancel()
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
