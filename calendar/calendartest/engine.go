package calendartest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
)

// Changes records what a calendar.Sync hands to WithChangeHandler. Safe
// for concurrent use; the zero value is ready.
type Changes struct {
	mu  sync.Mutex
	all []calendar.Change
}

// Handler is the option that records into c.
func (c *Changes) Handler() calendar.Option {
	return calendar.WithChangeHandler(func(_ context.Context, ch calendar.Change) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.all = append(c.all, ch)
	})
}

// Of returns the recorded changes of one kind, in order.
func (c *Changes) Of(kind calendar.ChangeKind) []calendar.Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []calendar.Change
	for _, ch := range c.all {
		if ch.Kind == kind {
			out = append(out, ch)
		}
	}
	return out
}

// StartSync builds and starts an engine with opts, and stops it (within
// 10 s) when t ends.
func StartSync(t testing.TB, opts ...calendar.Option) *calendar.Sync {
	t.Helper()
	s, err := calendar.NewSync(opts...)
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, s.Stop(ctx))
	})
	return s
}

// Settle syncs connection conn and waits until s is idle, twice: a sync
// can queue writes, whose echoes the second sync reads. It gives up after
// 60 s.
func Settle(t testing.TB, s *calendar.Sync, conn string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for range 2 {
		require.NoError(t, s.WaitIdle(ctx))
		require.NoError(t, s.SyncNow(ctx, conn))
		require.NoError(t, s.WaitIdle(ctx))
	}
}
