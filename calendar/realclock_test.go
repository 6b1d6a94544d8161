package calendar_test

// The engine on the wall clock, in both modes: with connections whose next
// syncs are minutes away and a write that hangs in its provider, the
// process costs no CPU while it waits, and Stop returns within its context.

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/calendartest"
	"github.com/wedsync/integrations/internal/idletest"
)

// hanging is a provider whose creates wait until released.
type hanging struct {
	*calendartest.Provider
	arrived chan struct{}
	release chan struct{}
}

func (h *hanging) Create(ctx context.Context, creds []byte, cal string, ev *calendar.Event) (*calendar.Event, error) {
	h.arrived <- struct{}{}
	<-h.release // ignores ctx on purpose: a provider stuck in a call
	return h.Provider.Create(ctx, creds, cal, ev)
}

func TestRealClockIdleAndStop(t *testing.T) {
	modes(t, func(t *testing.T, newSync func(...calendar.Option) *calendar.Sync) {
		ctx := context.Background()
		h := &hanging{Provider: calendartest.NewProvider(""), arrived: make(chan struct{}, 1), release: make(chan struct{})}
		defer close(h.release)
		s := newSync(calendar.WithProvider(h)) // its cleanup's Stop waits for the write, released by then
		var conns []string
		for _, sup := range []string{"sup_a", "sup_b", "sup_c"} {
			c := connect(t, s, h.Provider, sup, "cal_"+sup)
			conns = append(conns, c.ID)
		}
		require.NoError(t, s.WaitIdle(ctx))
		for _, id := range conns {
			st, err := s.Connection(ctx, id)
			require.NoError(t, err)
			require.False(t, st.LastSuccess.IsZero())
			require.True(t, st.NextRun.After(time.Now().Add(time.Minute)), "the next sync waits its interval")
		}
		idletest.RequireIdle(t, "three connections waiting for their next periodic sync")

		_, err := s.Book(ctx, calendar.Booking{ID: "bk_1", Supplier: "sup_a", Start: at(5, 11), End: at(5, 23), Title: "Wedding"})
		require.NoError(t, err)
		<-h.arrived
		stopCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		err = s.Stop(stopCtx)
		require.ErrorIs(t, err, context.DeadlineExceeded, "Stop returns when its context ends, with a write still in its provider")
	})
}
