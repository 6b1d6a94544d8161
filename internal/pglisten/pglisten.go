// Package pglisten keeps a LISTEN on one Postgres channel through lost
// connections, for the SDK's Postgres-mode components that wait for
// notifications (realtime/pgbroker, wedmesync): it opens the connection,
// waits for notifications on it, and when the connection is lost listens
// again on a new one, with backoff. Each component says what a
// notification, a loss and a return to listening mean to it; the
// connection handling is written once, here.
package pglisten

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/loop"
)

// closeTimeout bounds the wait for the server when a connection is closed.
const closeTimeout = 5 * time.Second

// Listener listens on one channel. Set its fields, take the first
// connection with Connect, then hand it to Run, which owns it (and every
// later one) until its context ends. The fields must not change once Run
// has started.
type Listener struct {
	// Pool lends each connection, which is then taken out of it for good
	// (hijacked: the pool's connect hooks apply, it no longer counts
	// against the pool's MaxConns but does against the server's
	// max_connections) and closed when done, never returned to the pool
	// with a LISTEN on it. Required.
	Pool *pgxpool.Pool
	// Channel is the channel to LISTEN on. Required.
	Channel string
	// ApplicationName names the connection in pg_stat_activity, so that an
	// operator can find it. Required.
	ApplicationName string
	// Name is the component's, for errors and log lines ("pgbroker").
	// Required.
	Name string
	// Logger hears of each failed attempt to listen again. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// Backoff spaces the attempts to listen again, with full jitter. The
	// first attempt after a loss is immediate, unless the connection lived
	// less than Backoff.Max: then it flapped, and the attempt waits as if
	// one more attempt had failed for each flap in a row, rather than
	// hammer a database that accepts and then drops. Defaults to 100 ms
	// doubling to 5 s.
	Backoff backoff.Exponential
	// Clock times the waits. Defaults to the wall clock, which a component
	// should keep whatever clock its own options set: a fake clock must
	// not hold a reconnect.
	Clock clockwork.Clock

	// Notify handles one notification's payload, on Run's goroutine: Run
	// reads the next notification only after it returns. Returning false
	// stops Run; do so only when ctx has ended. Required.
	Notify func(ctx context.Context, payload string) bool
	// Lost, when not nil, is told why the connection was lost, before Run
	// tries to listen again. It is not called when Run's context ends.
	Lost func(err error)
	// Tried, when not nil, is told of each attempt to listen again after a
	// loss (or after a failed first Connect): err is nil when the attempt
	// listens. Attempts cut short by Run's context ending are not told.
	Tried func(ctx context.Context, err error)
	// Listening, when not nil, is told of each connection that listens
	// again after a loss (or after a failed first Connect), before Run
	// waits on it: what was notified while nobody listened is lost, and a
	// component catches up here. Returning false stops Run.
	Listening func(ctx context.Context, conn *pgx.Conn) bool
}

func (l *Listener) clock() clockwork.Clock {
	if l.Clock == nil {
		return clockwork.NewRealClock()
	}
	return l.Clock
}

func (l *Listener) backoff() backoff.Exponential {
	if l.Backoff.Base <= 0 {
		return backoff.Exponential{Base: 100 * time.Millisecond, Max: 5 * time.Second}
	}
	return l.Backoff
}

// Connect takes a connection out of the pool, names it ApplicationName and
// LISTENs on Channel. Its errors start with "<Name>: LISTEN connection:"
// and name the step that failed.
func (l *Listener) Connect(ctx context.Context) (*pgx.Conn, error) {
	pc, err := l.Pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: LISTEN connection: acquire: %w", l.Name, err)
	}
	conn := pc.Hijack()
	fail := func(step string, err error) (*pgx.Conn, error) {
		closeConn(conn)
		return nil, fmt.Errorf("%s: LISTEN connection: %s: %w", l.Name, step, err)
	}
	if _, err := conn.Exec(ctx, "SELECT set_config('application_name', $1, false)", l.ApplicationName); err != nil {
		return fail("set application_name", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.Channel}.Sanitize()); err != nil {
		return fail("LISTEN "+l.Channel, err)
	}
	return conn, nil
}

// closeConn closes a LISTEN connection, waiting for the server no longer
// than closeTimeout.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = conn.Close(ctx)
}

// Run waits for notifications on conn and hands each to Notify until ctx
// ends; when the connection is lost it tells Lost, listens again (Tried,
// Backoff) and tells Listening. conn nil means the first Connect failed:
// Run waits as after a flap, then tries again. Run closes every connection
// it owned before it returns, which it does once ctx ends or a callback
// returns false.
func (l *Listener) Run(ctx context.Context, conn *pgx.Conn) {
	clk := l.clock()
	flaps := 0
	if conn == nil {
		flaps = 1 // a failed first attempt waits before the next, as after a flap
	}
	for {
		if conn != nil {
			up := clk.Now()
			err := l.receive(ctx, conn)
			closeConn(conn)
			if err == nil || ctx.Err() != nil {
				return
			}
			if l.Lost != nil {
				l.Lost(err)
			}
			// A connection that lived less than the longest wait flapped.
			if clk.Since(up) < l.backoff().Max {
				flaps++
			} else {
				flaps = 0
			}
		}
		if conn = l.reconnect(ctx, clk, flaps); conn == nil {
			return
		}
		if l.Listening != nil && !l.Listening(ctx, conn) {
			closeConn(conn)
			return
		}
	}
}

// receive hands conn's notifications to Notify until the connection fails
// (its error) or Notify says stop (nil).
func (l *Listener) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if !l.Notify(ctx, n.Payload) {
			return nil
		}
	}
}

// reconnect listens again: at once when flaps is 0, else after a wait as
// if flaps attempts had failed; then with backoff between failed attempts.
// It returns nil when ctx ends.
func (l *Listener) reconnect(ctx context.Context, clk clockwork.Clock, flaps int) *pgx.Conn {
	bo := l.backoff()
	if flaps > 0 && loop.Sleep(ctx, clk, bo.FullJitter(flaps-1)) != nil {
		return nil
	}
	log := l.Logger
	if log == nil {
		log = slog.Default()
	}
	var conn *pgx.Conn
	err := loop.Retry(ctx, clk, bo, func(ctx context.Context) error {
		c, err := l.Connect(ctx)
		conn = c
		if l.Tried != nil && (err == nil || ctx.Err() == nil) {
			l.Tried(ctx, err)
		}
		return err
	}, func(err error, attempt int, wait time.Duration) {
		log.Warn(l.Name+": LISTEN failed; retrying", "channel", l.Channel, "err", err, "attempt", attempt+1, "retry_in", wait)
	})
	if err != nil {
		return nil // ctx ended; a failed Connect leaves no connection
	}
	return conn
}
