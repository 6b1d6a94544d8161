package pgbroker

import (
	"context"
	"time"

	"github.com/wedsync/integrations/realtime"
)

// The LISTEN goroutine only receives: it hands each notification to the
// deliverer (deliverLoop) through the broker's inbox and goes back to the
// connection. The deliverer takes everything waiting in the inbox at once
// (up to deliverBatch) and reads the notified publications back in one
// statement (rowsSQL), so a topic published faster than one round trip
// per publication is read in batches instead of falling behind: the batch
// grows exactly as long as a read takes, with no timer. A quiet broker
// reads each publication alone, as soon as it is notified.

// inboxSize bounds what the LISTEN goroutine may receive ahead of the
// deliverer; past it, notifications wait in Postgres's queue.
const inboxSize = 4096

// deliverBatch bounds the publications read back in one statement.
const deliverBatch = 256

// note is one thing the LISTEN goroutine received, in order: a
// notification, or the mark that the connection was lost and restored
// (the hub resyncs after what came before).
type note struct {
	h      header
	resync bool
}

// post queues n for the deliverer; false when the broker closes first.
func (b *Broker) post(ctx context.Context, n note) bool {
	select {
	case b.inbox <- n:
		return true
	case <-ctx.Done():
		return false
	}
}

// deliverLoop delivers the inbox in order until the broker closes.
func (b *Broker) deliverLoop() {
	defer b.wg.Done()
	ctx := b.ctx
	batch := make([]note, 0, deliverBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-b.inbox:
			batch = append(batch[:0], n)
		}
	fill:
		for len(batch) < deliverBatch {
			select {
			case n := <-b.inbox:
				batch = append(batch, n)
			default:
				break fill
			}
		}
		b.deliver(ctx, batch)
	}
}

// deliver hands a batch to the hub in the order it was received:
// publications (read back together), presence hints and resyncs.
func (b *Broker) deliver(ctx context.Context, batch []note) {
	pubs := make([]header, 0, len(batch))
	flush := func() {
		if len(pubs) > 0 {
			b.deliverPublications(ctx, pubs)
			pubs = pubs[:0]
		}
	}
	for _, n := range batch {
		switch {
		case n.resync:
			flush()
			if h := b.currentHandler(); h != nil {
				h.OnResync()
			}
		case n.h.Kind == kindPresence:
			flush()
			b.dispatchPresence(n.h)
		default:
			pubs = append(pubs, n.h)
		}
	}
	flush()
}

// rowKey names a publication.
type rowKey struct {
	topic  string
	offset uint64
}

// deliverPublications reads the notified publications back from history
// in one statement and hands them to the hub in notification order. The
// content comes from the history table, never from the notification (see
// rowsSQL).
func (b *Broker) deliverPublications(ctx context.Context, hs []header) {
	handler := b.currentHandler()
	if handler == nil {
		b.met.notifiedN(notifyUnattached, len(hs))
		return
	}
	if b.opts.deliverHook != nil {
		b.opts.deliverHook(len(hs))
	}
	topics := make([]string, len(hs))
	offs := make([]int64, len(hs))
	for i, h := range hs {
		topics[i], offs[i] = h.Topic, int64(h.Offset)
	}
	found := make(map[rowKey]realtime.Publication, len(hs))
	rows, err := b.pool.Query(ctx, b.rowsSQL, topics, offs)
	if err == nil {
		for rows.Next() {
			var p realtime.Publication
			var off int64
			var payload []byte
			var created time.Time
			if err = rows.Scan(&p.Topic, &off, &p.Event, &payload, &p.Origin, &created, &p.Epoch); err != nil {
				break
			}
			p.Offset = uint64(off)
			p.Time = created.UTC()
			p.Payload = payload
			found[rowKey{p.Topic, p.Offset}] = p
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		// The database is away: the handler has a gap to fill from History.
		b.met.notifiedN(notifyReadError, len(hs))
		b.log.Warn("pgbroker: cannot read notified publications; resyncing",
			"publications", len(hs), "first_topic", hs[0].Topic, "first_offset", hs[0].Offset, "err", err)
		handler.OnResync()
		return
	}
	for _, h := range hs {
		p, ok := found[rowKey{h.Topic, h.Offset}]
		switch {
		case !ok:
			// Forged, or trimmed before we could read it: a real gap shows
			// at the next publication and the hub fills it from History.
			b.met.notified(notifyNotFound)
			b.log.Warn("pgbroker: ignoring a notification for a publication that is not in history",
				"topic", h.Topic, "offset", h.Offset)
		case p.Epoch != h.Epoch:
			b.met.notified(notifyEpochMismatch)
			b.log.Warn("pgbroker: ignoring a notification whose epoch is not its topic's", "topic", h.Topic, "offset", h.Offset)
		default:
			b.met.notified(notifyDelivered)
			handler.OnPublication(p)
		}
	}
}
