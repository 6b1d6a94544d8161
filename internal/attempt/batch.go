package attempt

import (
	"context"
	"sync"
)

// Batcher groups the same database work of concurrent callers into one
// round trip, as a group commit does: a call that finds no flush running
// flushes at once (alone, so a quiet system waits for nothing), and the
// calls that arrive while a flush runs wait and go together into the next
// one, up to Max items. No timer and no goroutine of its own: the caller
// whose item heads the queue runs the flush, and hands the lead to the next
// waiting caller when it is done.
//
// Flush must return one result per item, in order; its error, when not
// nil, is every item's (a failed transaction wrote none of them). Callers
// that must not fail together retry their own item alone on that error
// (the delivery store does: a failed batch of attempt rows costs each
// entry a write of its own, never a repeat of its request).
type Batcher[T, R any] struct {
	// Max bounds the items of one flush. Defaults to 100.
	Max int
	// Flush does the work of items in one round trip. Its context carries
	// the values of the leading caller's, not its cancellation: one caller
	// giving up must not fail the others' work.
	Flush func(ctx context.Context, items []T) ([]R, error)
	// Queued, when not nil, is told how many items wait for a flush each
	// time a call queues one behind a running flush (tests and metrics).
	Queued func(waiting int)

	mu      sync.Mutex
	queue   []*call[T, R]
	running bool
}

type call[T, R any] struct {
	item T
	res  R
	err  error
	lead bool // woken to run the next flush, not with a result
	done chan struct{}
}

// Do queues item and returns its result once a flush has done it.
func (b *Batcher[T, R]) Do(ctx context.Context, item T) (R, error) {
	c := &call[T, R]{item: item, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	lead := !b.running
	b.running = true
	waiting := len(b.queue)
	b.mu.Unlock()
	if !lead && b.Queued != nil {
		b.Queued(waiting)
	}
	for {
		if lead {
			b.flush(ctx)
		}
		<-c.done
		b.mu.Lock()
		lead = c.lead
		if lead {
			c.lead = false
			c.done = make(chan struct{})
		}
		b.mu.Unlock()
		if !lead {
			return c.res, c.err
		}
	}
}

// flush runs one batch from the head of the queue, then passes the lead to
// the first caller still queued, or ends the run when none is.
func (b *Batcher[T, R]) flush(ctx context.Context) {
	max := b.Max
	if max <= 0 {
		max = 100
	}
	b.mu.Lock()
	n := min(len(b.queue), max)
	batch := b.queue[:n:n]
	b.queue = b.queue[n:]
	b.mu.Unlock()

	items := make([]T, len(batch))
	for i, c := range batch {
		items[i] = c.item
	}
	res, err := b.Flush(context.WithoutCancel(ctx), items)
	b.mu.Lock()
	for i, c := range batch {
		c.err = err
		if err == nil && i < len(res) {
			c.res = res[i]
		}
		close(c.done)
	}
	if len(b.queue) > 0 {
		next := b.queue[0]
		next.lead = true
		close(next.done)
	} else {
		b.running = false
	}
	b.mu.Unlock()
}
