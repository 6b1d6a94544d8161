package wedmesync

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Transport is how one side reaches the other: push its changes, pull the
// other's after a cursor. Implementations: MemoryTransport (one process),
// and, next, HTTP (signed the Standard Webhooks way) and in-database (both
// platforms on one Postgres).
type Transport interface {
	// Push hands changes to the other side, which applies each at most
	// once. An error means some may not have been applied: the caller
	// pushes them all again (duplicates are harmless).
	Push(ctx context.Context, changes []Change) error
	// Pull returns the other side's changes after cursor ("" from the
	// start), at most limit, and the cursor after them.
	Pull(ctx context.Context, cursor string, limit int) ([]Change, string, error)
}

// MemoryTransport reaches a Node in the same process, for tests and the
// demo.
type MemoryTransport struct {
	// Peer is the other side's node.
	Peer *Node
	// From is this side (the side the pushed changes come from).
	From Side
}

// Push implements Transport.
func (t MemoryTransport) Push(ctx context.Context, changes []Change) error {
	_, err := t.Peer.Apply(ctx, t.From, changes)
	return err
}

// Pull implements Transport.
func (t MemoryTransport) Pull(ctx context.Context, cursor string, limit int) ([]Change, string, error) {
	return t.Peer.Changes(ctx, cursor, limit)
}

// BatchSize is how many changes one push or pull carries at most.
const BatchSize = 500

// Peer is this node's replication with the other side over one transport:
// a push cursor into this side's log and a pull cursor into the other's.
// Both only move after the other side (push) or this one (pull) applied
// the changes, so a transport that was down catches up from them.
type Peer struct {
	n    *Node
	t    Transport
	name string

	mu         sync.Mutex
	loaded     bool
	pushCursor string
	pullCursor string
	lastOK     atomic.Int64 // Unix nanoseconds of the last completed sync; read without mu (the lag gauge must not wait for a sync)
}

// NewPeer replicates n with the other side over t. name keys the peer's
// cursors, which the node's store keeps (in Postgres mode they survive a
// restart, so replication resumes where it stopped).
func (n *Node) NewPeer(name string, t Transport) *Peer {
	p := &Peer{n: n, t: t, name: name}
	n.tel.addPeer(p)
	return p
}

// save keeps the cursors; it runs after each batch the other side (push)
// or this one (pull) applied.
func (p *Peer) save(ctx context.Context) error {
	return p.n.store.setCursors(ctx, p.name, p.pushCursor, p.pullCursor, p.n.wall.Now())
}

// SyncOnce pushes what this side has not yet pushed, then pulls and
// applies what the other side has that this one has not pulled, until
// both are drained.
func (p *Peer) SyncOnce(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.loaded {
		var err error
		if p.pushCursor, p.pullCursor, err = p.n.store.cursors(ctx, p.name); err != nil {
			return err
		}
		p.loaded = true
	}
	for {
		batch, next, err := p.n.Changes(ctx, p.pushCursor, BatchSize)
		if err != nil {
			return err
		}
		if next == p.pushCursor {
			break
		}
		// WedMe's fan-out can make a log batch many changes (one per
		// linked supplier): pushed in pieces a transport accepts.
		for len(batch) > 0 {
			piece := batch[:min(len(batch), BatchSize)]
			if err := p.t.Push(ctx, piece); err != nil {
				return fmt.Errorf("wedmesync: push: %w", err)
			}
			batch = batch[len(piece):]
		}
		p.pushCursor = next
		if err := p.save(ctx); err != nil {
			return err
		}
	}
	for {
		batch, next, err := p.t.Pull(ctx, p.pullCursor, BatchSize)
		if err != nil {
			return fmt.Errorf("wedmesync: pull: %w", err)
		}
		if next == p.pullCursor {
			break
		}
		if _, err := p.n.Apply(ctx, p.other(), batch); err != nil {
			return err
		}
		p.pullCursor = next
		if err := p.save(ctx); err != nil {
			return err
		}
	}
	p.lastOK.Store(p.n.wall.Now().UnixNano())
	return nil
}

func (p *Peer) other() Side {
	if p.n.side == SideWedMe {
		return SideSupplier
	}
	return SideWedMe
}

// Run syncs at once, then whenever this side commits a change, when the
// other side commits one (a DBTransport hears it), and every interval,
// until ctx ends. Failures are logged and retried at the next turn.
//
// In Postgres mode Run hears this side's commits through LISTEN/NOTIFY on
// the node's change log: a RecordTx in the host's transaction is pushed
// when that transaction commits, whichever instance of the host made it,
// and a rolled-back one sends nothing. That costs one connection of its
// own per running Peer, taken out of the pool (it counts against the
// server's max_connections, not the pool's MaxConns) and closed when Run
// returns. While it cannot listen, Run logs why, syncs at the interval
// and listens again with backoff. In memory mode Record wakes Run
// directly.
func (p *Peer) Run(ctx context.Context, interval time.Duration) {
	tick := p.n.wall.NewTicker(interval)
	defer tick.Stop()
	var own <-chan struct{} // this side's commits, in Postgres mode
	if p.n.pool != nil {
		l, err := listen(ctx, p.n.pool, logChannel(p.n.schema), p.n.logger, true)
		if err != nil && ctx.Err() == nil {
			p.n.logger.Warn("wedmesync: cannot listen for this side's commits; syncing at the interval until it can", "error", err)
		}
		defer func() { _ = l.close(context.Background()) }()
		own = l.changed
	}
	var remote <-chan struct{} // the other side's commits, when the transport says
	if cn, ok := p.t.(changeNotifier); ok {
		remote = cn.Changed()
	}
	for {
		if err := p.SyncOnce(ctx); err != nil && ctx.Err() == nil {
			p.n.logger.Warn("wedmesync: sync with the other side failed; retrying", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-p.n.wake:
		case <-own:
		case <-remote:
		case <-tick.Chan():
		}
	}
}

// Lag is how long ago this side last completed a sync with the other
// (zero before the first).
func (p *Peer) Lag() time.Duration {
	last := p.lastOK.Load()
	if last == 0 {
		return 0
	}
	return p.n.wall.Since(time.Unix(0, last))
}
