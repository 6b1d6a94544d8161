package wedmesync

import "context"

// DBTransport reaches the other side directly in the database, when both
// platforms share one Postgres (each in its own schema): a push applies
// the changes to the other side's tables, a pull reads its change log, and
// the other side's commits wake this one through LISTEN/NOTIFY instead of
// a poll. The other side's node is built here over its schema (its
// Authorizer and SharePolicy decide what it sends, as its own process
// would).
//
// The transport holds one connection of its own for as long as it
// listens, taken out of the pool (it counts against the server's
// max_connections, not the pool's MaxConns), named ListenApplicationName.
// When that connection is lost the Peer syncs at its interval, and the
// transport listens again with backoff.
type DBTransport struct {
	peer *Node
	from Side
	l    *listener
}

// NewDBTransport listens to peer's change log (peer must be in Postgres
// mode) and returns the transport; Close stops the listening. It fails
// when it cannot LISTEN now.
func NewDBTransport(ctx context.Context, peer *Node, from Side) (*DBTransport, error) {
	if peer.pool == nil {
		return nil, invalid("peer", "must be in Postgres mode (WithPostgres) for a DBTransport")
	}
	l, err := listen(ctx, peer.pool, logChannel(peer.schema), peer.logger, false)
	if err != nil {
		return nil, err
	}
	return &DBTransport{peer: peer, from: from, l: l}, nil
}

// Changed is signalled when the other side commits a change, and when the
// listening fails (Err says why; the Peer then relies on its interval
// until the transport listens again).
func (t *DBTransport) Changed() <-chan struct{} { return t.l.changed }

// Err is why the transport is not listening now (nil while it is).
func (t *DBTransport) Err() error { return t.l.Err() }

// Close stops listening and waits for the listener, or for ctx.
func (t *DBTransport) Close(ctx context.Context) error { return t.l.close(ctx) }

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
