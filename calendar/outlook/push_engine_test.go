package outlook_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/outlook"
)

// The engine with Graph end to end: WithCallbackURL opens a subscription
// (the validation handshake answered by the host's NotificationHandler); a
// genuine notification syncs the connection at once, a forged clientState
// triggers nothing and is logged; a token refreshed mid-sync is stored, so
// the next sync does not refresh again.
func TestEngineSubscriptionAndRefresh(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	var s *calendar.Sync
	var logs lockedBuffer
	lockedLogs := slog.New(slog.NewTextHandler(&logs, nil))
	notified := make(chan string, 10)
	h := outlook.NotificationHandler(
		func(ctx context.Context, id string) (string, calendar.Watch, bool) { return s.LookupWatch(ctx, id) },
		func(ctx context.Context, conn string) error { notified <- conn; return s.Notify(ctx, conn) },
		lockedLogs)
	cb := httptest.NewServer(h)
	t.Cleanup(cb.Close)

	var err error
	s, err = calendar.NewSync(calendar.WithProvider(w.p), calendar.WithCallbackURL(cb.URL), calendar.WithSyncInterval(time.Hour))
	require.NoError(t, err)
	require.NoError(t, s.Start(ctx))
	t.Cleanup(func() { require.NoError(t, s.Stop(ctx)) })
	c, err := s.Connect(ctx, calendar.Connection{Supplier: "sup_1", Provider: w.p.Name(), Calendar: w.cal}, w.creds)
	require.NoError(t, err)
	require.NoError(t, s.WaitIdle(ctx))
	subs := w.srv.Subscriptions()
	require.Len(t, subs, 1, "the engine opened a subscription through the handshake")
	st, err := s.Connection(ctx, c.ID)
	require.NoError(t, err)
	require.False(t, st.WatchExpires.IsZero())

	// Forged: nothing happens.
	calls := countSyncs(t, s, c.ID)
	status, err := w.srv.Notify(ctx, subs[0].ID, "forged-client-state")
	require.NoError(t, err)
	require.Less(t, status, 300, "Graph is answered, so it does not retry a forgery")
	require.NoError(t, s.WaitIdle(ctx))
	require.Equal(t, calls, countSyncs(t, s, c.ID), "a forged notification syncs nothing")
	require.Contains(t, logs.String(), "clientState", "and it is logged")
	require.NotContains(t, logs.String(), subs[0].ClientState, "without the secret")

	// Genuine: the connection syncs at once (its interval is an hour).
	w.srv.Put(w.cal, calendar.Event{Summary: "Dentist", Start: time.Date(2027, 6, 7, 9, 0, 0, 0, time.UTC), End: time.Date(2027, 6, 7, 10, 0, 0, 0, time.UTC)})
	_, err = w.srv.Notify(ctx, subs[0].ID, subs[0].ClientState)
	require.NoError(t, err)
	require.Equal(t, c.ID, <-notified)
	require.NoError(t, s.WaitIdle(ctx))
	cs, err := s.Check(ctx, "sup_1", calendar.Interval{Start: time.Date(2027, 6, 7, 0, 0, 0, 0, time.UTC), End: time.Date(2027, 6, 8, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	require.Len(t, cs, 1, "the notified sync found the new event")

	// Token expiry mid-use: one refresh, stored; later syncs reuse it.
	w.srv.ExpireAccessTokens()
	before := w.srv.Refreshes()
	for range 3 {
		require.NoError(t, s.SyncNow(ctx, c.ID))
		require.NoError(t, s.WaitIdle(ctx))
	}
	require.Equal(t, before+1, w.srv.Refreshes(), "the refreshed token is stored and reused")
	st, err = s.Connection(ctx, c.ID)
	require.NoError(t, err)
	require.Empty(t, st.LastError)
}

func countSyncs(t *testing.T, s *calendar.Sync, conn string) int {
	as, err := s.Attempts(context.Background(), conn, 1000)
	require.NoError(t, err)
	n := 0
	for _, a := range as {
		if a.Op == "changes" {
			n++
		}
	}
	return n
}

// lockedBuffer is a log buffer the handler writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
