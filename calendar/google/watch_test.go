package google_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/google"
	"github.com/wedsync/integrations/calendar/google/googletest"
)

// receiver is a host's callback endpoint: NotificationHandler over a
// table of watches, recording what it notifies and logs.
type receiver struct {
	mu       sync.Mutex
	watches  map[string]calendar.Watch // by channel id
	conns    map[string]string
	notified []string
	fail     error
	logs     bytes.Buffer
	srv      *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{watches: map[string]calendar.Watch{}, conns: map[string]string{}}
	logger := slog.New(slog.NewTextHandler(&lockedWriter{r: r}, nil))
	h := google.NotificationHandler(
		func(_ context.Context, id string) (string, calendar.Watch, bool) {
			r.mu.Lock()
			defer r.mu.Unlock()
			w, ok := r.watches[id]
			return r.conns[id], w, ok
		},
		func(_ context.Context, conn string) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.fail != nil {
				return r.fail
			}
			r.notified = append(r.notified, conn)
			return nil
		}, logger)
	r.srv = httptest.NewServer(h)
	t.Cleanup(r.srv.Close)
	return r
}

type lockedWriter struct{ r *receiver }

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.r.mu.Lock()
	defer l.r.mu.Unlock()
	return l.r.logs.Write(p)
}

func (r *receiver) add(conn string, w calendar.Watch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.watches[w.ID] = w
	r.conns[w.ID] = conn
}

func (r *receiver) snapshot() ([]string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.notified...), r.logs.String()
}

func TestWatchNotifyAndStop(t *testing.T) {
	ctx := context.Background()
	srv := googletest.Start(t)
	p := newProvider(t, srv, google.WithWatchTTL(24*time.Hour))
	creds := srv.Creds()
	rcv := newReceiver(t)
	const secret = "channel-secret-123"
	w, err := p.Watch(ctx, creds, cal, rcv.srv.URL+"/google/push", secret)
	require.NoError(t, err)
	require.NotEmpty(t, w.ID)
	require.NotEmpty(t, w.ResourceID)
	require.Equal(t, secret, w.Token)
	require.WithinDuration(t, time.Now().Add(24*time.Hour), w.Expires, time.Minute, "the expiration asked for")
	chs := srv.Channels()
	require.Len(t, chs, 1)
	require.Equal(t, rcv.srv.URL+"/google/push", chs[0].Address)
	rcv.add("conn_1", w)

	// The first message of a channel ("sync") notifies nothing.
	st, err := srv.Notify(ctx, w.ID, "sync")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st)
	got, _ := rcv.snapshot()
	require.Empty(t, got)

	// A genuine change notification notifies the connection.
	st, err = srv.Notify(ctx, w.ID, "exists")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st)
	got, _ = rcv.snapshot()
	require.Equal(t, []string{"conn_1"}, got)

	// Forged ones: a wrong token, no token, a wrong resource, an unknown
	// channel. Nothing is notified, each is logged, no secret in the log.
	for _, f := range []struct{ id, token, res string }{
		{w.ID, "guessed-token", w.ResourceID},
		{w.ID, "", w.ResourceID},
		{w.ID, secret, "res-other"},
		{"unknown-channel", secret, w.ResourceID},
	} {
		st, err := srv.NotifyTo(ctx, rcv.srv.URL, f.id, f.token, f.res, "exists")
		require.NoError(t, err)
		require.Equal(t, http.StatusNotFound, st, "%+v", f)
	}
	got, logs := rcv.snapshot()
	require.Equal(t, []string{"conn_1"}, got, "forged notifications trigger nothing")
	require.Contains(t, logs, "wrong channel token")
	require.Contains(t, logs, "wrong resource id")
	require.Contains(t, logs, "unknown channel")
	require.NotContains(t, logs, secret)
	require.NotContains(t, logs, "guessed-token")

	// Bad requests.
	st, err = srv.NotifyTo(ctx, rcv.srv.URL, "", "", "", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, st)
	resp, err := http.Get(rcv.srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	// A failing notify is a 500, so Google retries.
	rcv.mu.Lock()
	rcv.fail = errors.New("engine stopped")
	rcv.mu.Unlock()
	st, err = srv.Notify(ctx, w.ID, "exists")
	require.NoError(t, err)
	require.Equal(t, http.StatusInternalServerError, st)

	// Stop; stopping again (or an expired channel) is not an error.
	require.NoError(t, p.StopWatch(ctx, creds, w))
	require.Empty(t, srv.Channels())
	require.NoError(t, p.StopWatch(ctx, creds, w))
	w2, err := p.Watch(ctx, creds, cal, rcv.srv.URL, "other")
	require.NoError(t, err)
	require.NotEqual(t, w.ID, w2.ID, "a new channel id each time")
	srv.ExpireChannel(w2.ID)
	require.NoError(t, p.StopWatch(ctx, creds, w2))

	// Input errors.
	_, err = p.Watch(ctx, creds, cal, "", "t")
	require.ErrorIs(t, err, calendar.ErrInvalid)
	_, err = p.Watch(ctx, creds, cal, rcv.srv.URL, "")
	require.ErrorIs(t, err, calendar.ErrInvalid)
	srv.FailNext("watch", googletest.Failure{Status: 429, RetryAfter: "5"})
	_, err = p.Watch(ctx, creds, cal, rcv.srv.URL, "t")
	var pe *calendar.ProviderError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, 5*time.Second, pe.RetryAfter)
}

func TestWatchTTLCappedByGoogle(t *testing.T) {
	srv := googletest.Start(t)
	p := newProvider(t, srv, google.WithWatchTTL(30*24*time.Hour))
	w, err := p.Watch(context.Background(), srv.Creds(), cal, "http://127.0.0.1:1/push", "tok")
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(googletest.MaxChannelTTL), w.Expires, time.Minute, "what Google granted")
}

func TestNotificationHandlerRateLimitsPerRemote(t *testing.T) {
	var n int
	var mu sync.Mutex
	h := google.NotificationHandler(
		func(context.Context, string) (string, calendar.Watch, bool) {
			return "c", calendar.Watch{ID: "ch", ResourceID: "r", Token: "t"}, true
		},
		func(context.Context, string) error { mu.Lock(); n++; mu.Unlock(); return nil }, nil)
	send := func(remote string) int {
		req := httptest.NewRequest(http.MethodPost, "/", nil)
		req.RemoteAddr = remote
		req.Header.Set("X-Goog-Channel-ID", "ch")
		req.Header.Set("X-Goog-Channel-Token", "t")
		req.Header.Set("X-Goog-Resource-ID", "r")
		req.Header.Set("X-Goog-Resource-State", "exists")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	limited := 0
	for range 3 * google.NotificationBurst {
		if send("192.0.2.1:1234") == http.StatusTooManyRequests {
			limited++
		}
	}
	require.Positive(t, limited, "a flood from one remote is refused")
	require.Equal(t, http.StatusOK, send("192.0.2.2:1234"), "another remote is not affected")
}
