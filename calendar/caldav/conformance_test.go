package caldav_test

import (
	"testing"

	"github.com/wedsync/integrations/calendar/caldav/caldavtest"
	"github.com/wedsync/integrations/calendar/calendartest"
)

// CalDAV passes the suite every provider passes, against Radicale (the
// in-process server where Radicale is absent, saying so).
func TestConformance(t *testing.T) {
	calendartest.RunConformance(t, func(t *testing.T) calendartest.Harness {
		srv := caldavtest.Start(t)
		p := newProvider(t, srv)
		return calendartest.Harness{Provider: p, Credentials: srv.Creds("alice"), Calendar: srv.MakeCalendar(t, "alice", "work"), AllDay: true}
	})
}
