package outlook_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/outlook"
	"github.com/wedsync/integrations/calendar/outlook/outlooktest"
)

type world struct {
	srv   *outlooktest.Server
	p     *outlook.Provider
	creds []byte
	cal   string
}

func newWorld(t testing.TB, opts ...outlook.Option) *world {
	t.Helper()
	srv := outlooktest.Start(t)
	return &world{srv: srv, p: srv.NewProvider(t, opts...), creds: srv.Creds(), cal: srv.AddCalendar("Work")}
}

func london(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/London")
	require.NoError(t, err)
	return loc
}

func timedEvent(t testing.TB, summary string) *calendar.Event {
	start := time.Date(2027, 6, 6, 14, 0, 0, 0, london(t))
	return &calendar.Event{UID: "wedsync-" + summary, Summary: summary, Description: "first dance; toasts",
		Location: "The Barn, Kent", Start: start, End: start.Add(2 * time.Hour)}
}

func (w *world) changes(t testing.TB, cursor string) *calendar.ChangeSet {
	t.Helper()
	cs, err := w.p.Changes(context.Background(), w.creds, w.cal, cursor)
	require.NoError(t, err)
	return cs
}

func byID(evs []calendar.Event) map[string]calendar.Event {
	m := map[string]calendar.Event{}
	for _, e := range evs {
		m[e.ID] = e
	}
	return m
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
