package caldav_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/caldav"
	"github.com/wedsync/integrations/calendar/caldav/caldavtest"
)

func ExampleParseEvent() {
	ev, err := caldav.ParseEvent([]byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n" +
		"BEGIN:VEVENT\r\nUID:tasting-1\r\nDTSTAMP:20260101T000000Z\r\n" +
		"DTSTART;TZID=Europe/London:20260606T140000\r\nDURATION:PT1H\r\n" +
		"RRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Menu tasting\r\nX-WEDSYNC-BOOKING:bkg_42\r\n" +
		"END:VEVENT\r\nEND:VCALENDAR\r\n"))
	if err != nil {
		panic(err)
	}
	fmt.Println(ev.Summary, ev.Start.Format(time.RFC3339), ev.Start.Location(), ev.End.Sub(ev.Start))
	fmt.Println(ev.Recurrence, ev.Tag)
	// Output:
	// Menu tasting 2026-06-06T14:00:00+01:00 Europe/London 1h0m0s
	// [RRULE:FREQ=WEEKLY;COUNT=4] bkg_42
}

// The provider against the in-process server: create an event, then list
// the calendar and sync again from the cursor.
func ExampleProvider_Changes() {
	mem := caldavtest.NewMemoryServer()
	cal := mem.CreateCalendar("alice", "work")
	hs := httptest.NewServer(mem)
	defer hs.Close()

	srv := &caldavtest.Server{URL: hs.URL + "/"}
	p, err := caldav.New(srv.ProviderOptions()...)
	if err != nil {
		panic(err)
	}
	defer p.CloseIdleConnections()
	ctx := context.Background()
	creds := srv.Creds("alice")

	start := time.Date(2026, 6, 6, 12, 0, 0, 0, time.UTC)
	if _, err := p.Create(ctx, creds, cal, &calendar.Event{UID: "smith", Summary: "Smith wedding", Start: start, End: start.Add(8 * time.Hour)}); err != nil {
		panic(err)
	}
	full, err := p.Changes(ctx, creds, cal, "")
	if err != nil {
		panic(err)
	}
	fmt.Println(full.Full, len(full.Updated), full.Updated[0].ID, full.Updated[0].Summary)
	next, err := p.Changes(ctx, creds, cal, full.Cursor)
	if err != nil {
		panic(err)
	}
	fmt.Println(next.Full, len(next.Updated), len(next.Deleted))
	// Output:
	// true 1 /alice/calendars/work/smith.ics Smith wedding
	// false 0 0
}
