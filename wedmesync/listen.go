package wedmesync

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/pglisten"
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
// commit to that log. It holds one connection of its own (internal/pglisten:
// out of the pool for good, closed, never returned with a LISTEN on it).
// When the connection is lost it signals (its reader syncs now and then
// falls back to its interval), and listens again with backoff; once
// listening again it signals once more, for the commits it may have missed
// meanwhile.
type listener struct {
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
	l := &listener{changed: make(chan struct{}, 1), done: make(chan struct{})}
	pl := &pglisten.Listener{
		Pool: pool, Channel: channel, ApplicationName: ListenApplicationName, Name: "wedmesync", Logger: log,
		Backoff: backoff.Exponential{Base: listenBackoffMin, Max: listenBackoffMax},
		Notify: func(context.Context, string) bool {
			l.signal()
			return true
		},
		Lost: func(err error) {
			l.setErr(err)
			log.Warn("wedmesync: LISTEN connection lost; syncing at the interval until it is back", "channel", channel, "error", err)
			l.signal() // the reader syncs now, then at its interval
		},
		Tried: func(_ context.Context, err error) {
			if err != nil {
				l.setErr(err)
			}
		},
		Listening: func(context.Context, *pgx.Conn) bool {
			l.setErr(nil)
			log.Info("wedmesync: listening for change-log commits again", "channel", channel)
			l.signal() // commits made while nobody listened
			return true
		},
	}
	conn, err := pl.Connect(ctx)
	if err != nil && !retry {
		return nil, err
	}
	l.err = err
	lctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() {
		defer close(l.done)
		pl.Run(lctx, conn)
	}()
	return l, err
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
