package pgbroker

import "context"

// ListenerPID is the backend pid of the broker's LISTEN connection.
func (b *Broker) ListenerPID() uint32 { return b.listenPID.Load() }

// Sweep runs one trim sweep now.
func (b *Broker) Sweep(ctx context.Context) (int64, error) { return b.sweep(ctx) }

// WithDeliverHook has fn told the size of each batch of notified
// publications before it is read back.
var WithDeliverHook = withDeliverHook

// Inbox is how many notifications wait for the deliverer.
func (b *Broker) Inbox() int { return len(b.inbox) }
