package calendartest_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/wedsync/integrations/calendar/calendartest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var n atomic.Int64

// The in-memory provider passes the suite every provider passes.
func TestConformance(t *testing.T) {
	calendartest.RunConformance(t, func(t *testing.T) calendartest.Harness {
		p := calendartest.NewProvider("")
		cal := fmt.Sprint("cal", n.Add(1))
		p.AddCalendar(cal)
		return calendartest.Harness{Provider: p, Credentials: []byte("x"), Calendar: cal, AllDay: true}
	})
}
