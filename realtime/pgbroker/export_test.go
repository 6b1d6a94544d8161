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

// WithHooks lets a test watch the group commit: queued runs (under the
// broker's lock: it must not block) when a publish joins the queue of a
// topic whose leader is running (not for the publish that starts one),
// with the queue's length; batch runs when a transaction of size
// publishes starts.
func WithHooks(queued, batch func(topic string, n int)) Option {
	return func(o *options) { o.hooks = hooks{queued: queued, batch: batch} }
}
