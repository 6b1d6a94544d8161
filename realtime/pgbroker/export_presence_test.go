package pgbroker

import "context"

// RefreshPresence runs one presence refresh (and sweep of expired members)
// now, and reports how many expired members it deleted.
func (b *Broker) RefreshPresence(ctx context.Context) (int64, error) { return b.refreshPresence(ctx) }

// PresenceInstance is the broker's instance id in realtime_presence.
func (b *Broker) PresenceInstance() string { return b.pres.instance }

// Crash stops the broker as a crash of its process would: its goroutines
// end, and its presence members stay in the table (Close, after it, does
// nothing).
func (b *Broker) Crash() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
}
