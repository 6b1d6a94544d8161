package calendar_test

import (
	"fmt"
	"time"

	"github.com/wedsync/integrations/calendar"
)

// A weekly Saturday 14:00 London series with one date excluded and one
// instance moved, expanded for a London owner over three weeks.
func ExampleExpand() {
	lon, _ := time.LoadLocation("Europe/London")
	at := func(day, hour int) time.Time { return time.Date(2026, 6, day, hour, 0, 0, 0, lon) }
	ev := &calendar.Event{
		Start: at(6, 14),
		End:   at(6, 16),
		Recurrence: []string{
			"RRULE:FREQ=WEEKLY;BYDAY=SA;COUNT=10",
			"EXDATE;TZID=Europe/London:20260613T140000",
		},
		Overrides: []calendar.Event{{RecurrenceID: at(20, 14), Start: at(21, 10), End: at(21, 11)}},
	}
	window := calendar.Interval{Start: at(1, 0), End: at(28, 0)}
	instances, err := calendar.Expand(ev, window, lon)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, in := range instances {
		fmt.Println(in.Interval, "was", in.RecurrenceID.Format("Jan 2 15:04"))
	}
	// Output:
	// [2026-06-06T14:00:00+01:00, 2026-06-06T16:00:00+01:00) was Jun 6 14:00
	// [2026-06-21T10:00:00+01:00, 2026-06-21T11:00:00+01:00) was Jun 20 14:00
	// [2026-06-27T14:00:00+01:00, 2026-06-27T16:00:00+01:00) was Jun 27 14:00
}
