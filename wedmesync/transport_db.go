package wedmesync

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"
)

// DBTransport reaches the other side directly in the database, when both
// platforms share one Postgres (each in its own schema): a push applies
// the changes to the other side's tables, a pull reads its change log, and
// the other side's commits wake this one through LISTEN/NOTIFY instead of
// a poll. The other side's node is built here over its schema (its
// Authorizer and SharePolicy decide what it sends, as its own process
// would).
type DBTransport struct {
	peer *Node
	from Side

	changed chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	err     error
}

// NewDBTransport listens to peer's change log (peer must be in Postgres
// mode) and returns the transport; Close stops the listening.
func NewDBTransport(ctx context.Context, peer *Node, from Side) (*DBTransport, error) {
	if peer.pool == nil {
		return nil, invalid("peer", "must be in Postgres mode (WithPostgres) for a DBTransport")
	}
	conn, err := peer.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	ch := logChannel(peer.schema)
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
		conn.Release()
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	t := &DBTransport{peer: peer, from: from, changed: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		defer func() {
			// The connection had a LISTEN: close it rather than return it
			// to the pool with one.
			_ = conn.Conn().Close(context.Background())
			conn.Release()
		}()
		for {
			if _, err := conn.Conn().WaitForNotification(lctx); err != nil {
				if lctx.Err() == nil {
					t.mu.Lock()
					t.err = err
					t.mu.Unlock()
					t.signal() // the reader falls back to its poll
				}
				return
			}
			t.signal()
		}
	}()
	return t, nil
}

func (t *DBTransport) signal() {
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// Changed is signalled when the other side commits a change (and when the
// listening fails: Err says why; the Peer then relies on its interval).
func (t *DBTransport) Changed() <-chan struct{} { return t.changed }

// Err is why the listening stopped, if it did.
func (t *DBTransport) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// Close stops listening and waits for the listener, or for ctx.
func (t *DBTransport) Close(ctx context.Context) error {
	t.cancel()
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Push implements Transport: the other side applies the changes.
func (t *DBTransport) Push(ctx context.Context, changes []Change) error {
	_, err := t.peer.Apply(ctx, t.from, changes)
	return err
}

// Pull implements Transport: the other side's change log after cursor.
func (t *DBTransport) Pull(ctx context.Context, cursor string, limit int) ([]Change, string, error) {
	return t.peer.Changes(ctx, cursor, limit)
}

// changeNotifier is a transport that says when the other side changed.
type changeNotifier interface{ Changed() <-chan struct{} }
