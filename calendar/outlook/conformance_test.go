package outlook_test

import (
	"testing"

	"github.com/wedsync/integrations/calendar/calendartest"
)

// Microsoft Graph passes the suite every provider passes, against the fake.
func TestConformance(t *testing.T) {
	calendartest.RunConformance(t, func(t *testing.T) calendartest.Harness {
		w := newWorld(t)
		return calendartest.Harness{Provider: w.p, Credentials: w.creds, Calendar: w.cal, AllDay: true}
	})
}
