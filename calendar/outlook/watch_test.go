package outlook_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/outlook"
)

// receiver is the host's side: the watches it keeps, the connections it
// was told to sync, and its log.
type receiver struct {
	mu       sync.Mutex
	watches  map[string]calendar.Watch
	notified []string
	log      bytes.Buffer
	srv      *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{watches: map[string]calendar.Watch{}}
	logger := slog.New(slog.NewTextHandler(lockedWriter{rc}, nil))
	h := outlook.NotificationHandler(func(_ context.Context, id string) (string, calendar.Watch, bool) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		w, ok := rc.watches[id]
		return "conn_1", w, ok
	}, func(_ context.Context, conn string) error {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.notified = append(rc.notified, conn)
		return nil
	}, logger)
	rc.srv = httptest.NewServer(h)
	t.Cleanup(rc.srv.Close)
	return rc
}

type lockedWriter struct{ rc *receiver }

func (l lockedWriter) Write(p []byte) (int, error) {
	l.rc.mu.Lock()
	defer l.rc.mu.Unlock()
	return l.rc.log.Write(p)
}

func (rc *receiver) state() ([]string, string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.notified...), rc.log.String()
}

func TestWatchHandshakeGenuineAndForgedNotifications(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	rc := newReceiver(t)
	const secret = "s3cret-client-state"
	watch, err := w.p.Watch(ctx, w.creds, w.cal, rc.srv.URL+"/hooks/outlook", secret)
	require.NoError(t, err, "the fake ran the validation handshake against the handler")
	require.NotEmpty(t, watch.ID)
	require.Equal(t, secret, watch.Token)
	require.True(t, watch.Expires.After(time.Now().Add(60*time.Hour)) && watch.Expires.Before(time.Now().Add(4230*time.Minute)))
	subs := w.srv.Subscriptions()
	require.Len(t, subs, 1)
	require.Equal(t, "me/calendars/"+w.cal+"/events", subs[0].Resource)
	require.Equal(t, "created,updated,deleted", subs[0].ChangeType)
	rc.mu.Lock()
	rc.watches[watch.ID] = watch
	rc.mu.Unlock()

	status, err := w.srv.Notify(ctx, watch.ID, "forged")
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, status)
	notified, log := rc.state()
	require.Empty(t, notified, "a forged clientState triggers nothing")
	require.Contains(t, log, "forged notification ignored")
	require.Contains(t, log, watch.ID)
	require.NotContains(t, log, secret)
	require.NotContains(t, log, "forged\"")

	status, err = w.srv.Notify(ctx, watch.ID, secret)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, status)
	notified, _ = rc.state()
	require.Equal(t, []string{"conn_1"}, notified)

	require.NoError(t, w.p.StopWatch(ctx, w.creds, watch))
	require.Empty(t, w.srv.Subscriptions())
	require.NoError(t, w.p.StopWatch(ctx, w.creds, watch), "already gone")
}

func TestWatchFailsWhenHandshakeFails(t *testing.T) {
	w := newWorld(t)
	bad := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(rw, "nope")
	}))
	t.Cleanup(bad.Close)
	_, err := w.p.Watch(context.Background(), w.creds, w.cal, bad.URL, "tok")
	require.Error(t, err)
	require.Empty(t, w.srv.Subscriptions())
	_, err = w.p.Watch(context.Background(), w.creds, w.cal, "not a url", "tok")
	require.ErrorIs(t, err, calendar.ErrInvalid)
	require.Contains(t, err.Error(), "callbackURL")
	_, err = w.p.Watch(context.Background(), w.creds, w.cal, bad.URL, strings.Repeat("x", 129))
	require.ErrorContains(t, err, "token")
}

func TestNotificationHandlerInputs(t *testing.T) {
	rc := newReceiver(t)
	post := func(url, body string) *http.Response {
		resp, err := rc.srv.Client().Post(url, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := post(rc.srv.URL+"?validationToken=Validation%3A+Testing+client+application+reachability", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, "Validation: Testing client application reachability", string(b))

	require.Equal(t, http.StatusBadRequest, post(rc.srv.URL, "{not json").StatusCode)
	require.Equal(t, http.StatusAccepted, post(rc.srv.URL, `{"value":[{"subscriptionId":"unknown","clientState":"x"}]}`).StatusCode)
	require.Equal(t, http.StatusRequestEntityTooLarge, post(rc.srv.URL, `{"value":[],"pad":"`+strings.Repeat("x", outlook.MaxNotificationBytes)+`"}`).StatusCode)
	resp, err := rc.srv.Client().Get(rc.srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	notified, log := rc.state()
	require.Empty(t, notified)
	require.Contains(t, log, "unknown subscription")

	limited := false
	for range 2000 {
		if post(rc.srv.URL, `{"value":[]}`).StatusCode == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	require.True(t, limited, "one remote is rate limited")
}

// A subscription Graph let expire sends nothing more, and stopping it is
// not an error.
func TestExpiredSubscription(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	rc := newReceiver(t)
	watch, err := w.p.Watch(ctx, w.creds, w.cal, rc.srv.URL, "tok")
	require.NoError(t, err)
	w.srv.ExpireSubscription(watch.ID)
	require.Empty(t, w.srv.Subscriptions())
	_, err = w.srv.Notify(ctx, watch.ID, "tok")
	require.Error(t, err)
	require.NoError(t, w.p.StopWatch(ctx, w.creds, watch))
	// renewal is a new Watch
	again, err := w.p.Watch(ctx, w.creds, w.cal, rc.srv.URL, "tok2")
	require.NoError(t, err)
	require.NotEqual(t, watch.ID, again.ID)
	require.Len(t, w.srv.Subscriptions(), 1)
}
