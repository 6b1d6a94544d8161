package caldav_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/caldav"
	"github.com/wedsync/integrations/calendar/caldav/caldavtest"
)

func newProvider(t testing.TB, srv *caldavtest.Server) *caldav.Provider {
	t.Helper()
	p, err := caldav.New(srv.ProviderOptions()...)
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

func timedEvent(t testing.TB, summary string) *calendar.Event {
	start := time.Date(2026, 6, 6, 14, 0, 0, 0, london(t))
	return &calendar.Event{
		Summary:     summary,
		Description: "first dance; toasts",
		Location:    "The Barn, Kent",
		Start:       start,
		End:         start.Add(2 * time.Hour),
	}
}

func byID(evs []calendar.Event) map[string]calendar.Event {
	m := map[string]calendar.Event{}
	for _, e := range evs {
		m[e.ID] = e
	}
	return m
}
