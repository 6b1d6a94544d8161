package calendar_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/calendartest"
)

// Credentials a provider refreshed during a call are stored, sealed, and
// used for the next call.
func TestRefreshedCredentialsAreStored(t *testing.T) {
	modes(t, func(t *testing.T, newSync func(...calendar.Option) *calendar.Sync) {
		ctx := context.Background()
		p := calendartest.NewProvider("")
		s := newSync(calendar.WithProvider(p))
		c := connect(t, s, p, "sup_1", "work")
		settle(t, s, c.ID)
		require.Equal(t, `{"token":"x"}`, string(p.LastCredentials()))
		p.RefreshCredentials([]byte(`{"token":"refreshed"}`))
		require.NoError(t, s.SyncNow(ctx, c.ID))
		require.NoError(t, s.WaitIdle(ctx))
		require.NoError(t, s.SyncNow(ctx, c.ID))
		require.NoError(t, s.WaitIdle(ctx))
		require.Equal(t, `{"token":"refreshed"}`, string(p.LastCredentials()), "the next call uses what the provider handed back")
	})
}

// A provider that will not renew the credentials stops the connection's
// syncing, marks it and tells the host; Reconnect starts it again and
// writes what waited.
func TestReconnectNeededStopsAndReconnectResumes(t *testing.T) {
	modes(t, func(t *testing.T, newSync func(...calendar.Option) *calendar.Sync) {
		ctx := context.Background()
		p := calendartest.NewProvider("")
		var ch changes
		s := newSync(calendar.WithProvider(p), ch.Handler())
		c := connect(t, s, p, "sup_1", "work")
		settle(t, s, c.ID)

		p.FailNext("changes", fmt.Errorf("token endpoint said invalid_grant: %w", calendar.ErrReconnect))
		require.NoError(t, s.SyncNow(ctx, c.ID))
		require.NoError(t, s.WaitIdle(ctx))
		st, err := s.Connection(ctx, c.ID)
		require.NoError(t, err)
		require.True(t, st.NeedsReconnect)
		got := ch.Of(calendar.ChangeReconnectNeeded)
		require.Len(t, got, 1)
		require.Equal(t, "sup_1", got[0].Supplier)

		// While it waits: no syncs, no writes.
		calls := p.Calls("changes")
		_, err = s.Book(ctx, calendar.Booking{ID: "bk_1", Supplier: "sup_1", Start: at(5, 11), End: at(5, 23), Title: "Wedding"})
		require.NoError(t, err)
		require.NoError(t, s.WaitIdle(ctx))
		require.Equal(t, calls, p.Calls("changes"))
		require.Empty(t, p.Events("work"))

		require.NoError(t, s.Reconnect(ctx, c.ID, []byte(`{"token":"new"}`)))
		require.NoError(t, s.WaitIdle(ctx))
		// The reconnect's sync is incremental (the cursor is still good);
		// the next full listing writes what waited. Force one.
		p.InvalidateCursors("work")
		settle(t, s, c.ID)
		st, err = s.Connection(ctx, c.ID)
		require.NoError(t, err)
		require.False(t, st.NeedsReconnect)
		require.Equal(t, `{"token":"new"}`, string(p.LastCredentials()))
		evs := p.Events("work")
		require.Len(t, evs, 1, "the booking made while the connection waited is written")
		require.Equal(t, "bk_1", evs[0].Tag)
	})
}

// With a callback URL, each connection gets a watch, renewed before it
// expires (the old one stopped), found by LookupWatch, and stopped on
// Disconnect.
func TestWatchOpenedRenewedLookedUpAndStopped(t *testing.T) {
	modes(t, func(t *testing.T, newSync func(...calendar.Option) *calendar.Sync) {
		ctx := context.Background()
		p := calendartest.NewProvider("")
		p.SetWatchTTL(10 * time.Hour) // under a day: each sync renews it
		s := newSync(calendar.WithProvider(p), calendar.WithCallbackURL("https://wedsync.example/calendar/notify"))
		c := connect(t, s, p, "sup_1", "work")
		require.NoError(t, s.WaitIdle(ctx))
		ws := p.Watches()
		require.Len(t, ws, 1)
		var first calendar.Watch
		for _, w := range ws {
			first = w
		}
		require.Len(t, first.Token, 64)
		conn, w, ok := s.LookupWatch(ctx, first.ID)
		require.True(t, ok)
		require.Equal(t, c.ID, conn)
		require.Equal(t, first.Token, w.Token)
		st, err := s.Connection(ctx, c.ID)
		require.NoError(t, err)
		require.WithinDuration(t, first.Expires, st.WatchExpires, time.Second)

		require.NoError(t, s.SyncNow(ctx, c.ID))
		require.NoError(t, s.WaitIdle(ctx))
		require.Equal(t, []string{first.ID}, p.Stopped(), "renewed: the old watch is stopped")
		_, _, ok = s.LookupWatch(ctx, first.ID)
		require.False(t, ok, "the old watch no longer finds the connection")
		require.Len(t, p.Watches(), 1)

		_, _, ok = s.LookupWatch(ctx, "forged")
		require.False(t, ok)
		require.NoError(t, s.Disconnect(ctx, c.ID))
		require.Empty(t, p.Watches(), "Disconnect stops the watch")
	})
}
