package pgbroker

import "context"

// ListenerPID is the backend pid of the broker's LISTEN connection.
func (b *Broker) ListenerPID() uint32 { return b.listenPID.Load() }

// Sweep runs one trim sweep now.
func (b *Broker) Sweep(ctx context.Context) (int64, error) { return b.sweep(ctx) }
