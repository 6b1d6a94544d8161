package google_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/google"
	"github.com/wedsync/integrations/calendar/google/googletest"
)

const cal = "primary"

func newProvider(t testing.TB, srv *googletest.Server, opts ...google.Option) *google.Provider {
	t.Helper()
	p, err := srv.NewProvider(opts...)
	require.NoError(t, err)
	t.Cleanup(p.CloseIdleConnections)
	return p
}

func london(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/London")
	require.NoError(t, err)
	return loc
}

func timedEvent(t testing.TB, uid, summary string) *calendar.Event {
	start := time.Date(2026, 6, 6, 14, 0, 0, 0, london(t))
	return &calendar.Event{UID: uid, Summary: summary, Description: "first dance; toasts", Location: "The Barn, Kent",
		Start: start, End: start.Add(2 * time.Hour)}
}

func byID(evs []calendar.Event) map[string]calendar.Event {
	m := map[string]calendar.Event{}
	for _, e := range evs {
		m[e.ID] = e
	}
	return m
}

// credsRecorder is a context that records UpdateCredentials calls.
type credsRecorder struct {
	mu  sync.Mutex
	got [][]byte
}

func (c *credsRecorder) ctx() context.Context {
	return calendar.ContextWithCredentialsUpdate(context.Background(), func(b []byte) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.got = append(c.got, b)
	})
}

func (c *credsRecorder) all() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got
}
