package google_test

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
	"github.com/wedsync/integrations/calendar/calendartest"
	"github.com/wedsync/integrations/calendar/google"
	"github.com/wedsync/integrations/calendar/google/googletest"
)

// Google passes the suite every provider passes, against the fake, with
// small pages.
func TestConformance(t *testing.T) {
	calendartest.RunConformance(t, func(t *testing.T) calendartest.Harness {
		srv := googletest.Start(t)
		srv.SetPageSize(4)
		return calendartest.Harness{Provider: newProvider(t, srv), Credentials: srv.Creds(), Calendar: cal, AllDay: true}
	})
}

// The engine with Google end to end: WithCallbackURL opens a watch
// channel; a forged push (wrong token, or wrong resource id) triggers
// nothing and is logged without the token; a genuine one syncs the
// connection at once; a token refreshed mid-use is stored and reused.
func TestEngineWatchAndRefresh(t *testing.T) {
	ctx := context.Background()
	srv := googletest.Start(t)
	p := newProvider(t, srv)
	var s *calendar.Sync
	var logs lockedBuffer
	h := google.NotificationHandler(
		func(ctx context.Context, id string) (string, calendar.Watch, bool) { return s.LookupWatch(ctx, id) },
		func(ctx context.Context, conn string) error { return s.Notify(ctx, conn) },
		slog.New(slog.NewTextHandler(&logs, nil)))
	cb := httptest.NewServer(h)
	t.Cleanup(cb.Close)
	var err error
	s, err = calendar.NewSync(calendar.WithProvider(p), calendar.WithCallbackURL(cb.URL), calendar.WithSyncInterval(time.Hour))
	require.NoError(t, err)
	require.NoError(t, s.Start(ctx))
	t.Cleanup(func() { require.NoError(t, s.Stop(ctx)) })
	c, err := s.Connect(ctx, calendar.Connection{Supplier: "sup_1", Provider: p.Name(), Calendar: cal}, srv.Creds())
	require.NoError(t, err)
	require.NoError(t, s.WaitIdle(ctx))
	chs := srv.Channels()
	require.Len(t, chs, 1, "the engine opened a watch channel")
	ch := chs[0]

	syncs := func() int {
		as, err := s.Attempts(ctx, c.ID, 1000)
		require.NoError(t, err)
		n := 0
		for _, a := range as {
			if a.Op == "changes" {
				n++
			}
		}
		return n
	}
	before := syncs()
	_, err = srv.NotifyForged(ctx, ch.ID, "wrong-token", ch.ResourceID)
	require.NoError(t, err)
	_, err = srv.NotifyForged(ctx, ch.ID, ch.Token, "wrong-resource")
	require.NoError(t, err)
	require.NoError(t, s.WaitIdle(ctx))
	require.Equal(t, before, syncs(), "forged pushes sync nothing")
	require.NotEmpty(t, logs.String(), "and are logged")
	require.NotContains(t, logs.String(), ch.Token, "without the channel's token")

	srv.Put(cal, map[string]any{"summary": "Dentist", "start": map[string]any{"dateTime": "2027-06-07T09:00:00Z"},
		"end": map[string]any{"dateTime": "2027-06-07T10:00:00Z"}})
	_, err = srv.Notify(ctx, ch.ID, "exists")
	require.NoError(t, err)
	deadline, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for syncs() == before { // the genuine push queued a sync
		require.NoError(t, deadline.Err(), "the genuine push did not sync the connection")
		require.NoError(t, s.WaitIdle(deadline))
	}
	require.NoError(t, s.WaitIdle(ctx))
	cs, err := s.Check(ctx, "sup_1", calendar.Interval{Start: time.Date(2027, 6, 7, 0, 0, 0, 0, time.UTC), End: time.Date(2027, 6, 8, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	require.Len(t, cs, 1, "the pushed sync found the new event")

	srv.ExpireAccessTokens()
	tokensBefore := srv.Calls("token")
	for range 3 {
		require.NoError(t, s.SyncNow(ctx, c.ID))
		require.NoError(t, s.WaitIdle(ctx))
	}
	st, err := s.Connection(ctx, c.ID)
	require.NoError(t, err)
	require.Empty(t, st.LastError, "the refreshed token was stored and reused")
	require.Equal(t, tokensBefore+1, srv.Calls("token"), "one refresh for three syncs")
}

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
