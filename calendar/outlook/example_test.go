package outlook_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/outlook"
	"github.com/wedsync/integrations/calendar/outlook/outlooktest"
)

// A provider against the Graph fake: write a booking's event, then read
// the calendar's changes from the cursor on.
func ExampleProvider() {
	srv := outlooktest.New()
	defer srv.Close()
	p, err := outlook.New(srv.OAuthConfig(), srv.ProviderOptions()...)
	if err != nil {
		panic(err)
	}
	defer p.CloseIdleConnections()
	ctx := context.Background()
	creds, cal := srv.Creds(), srv.AddCalendar("Calendar")

	first, _ := p.Changes(ctx, creds, cal, "")
	start := time.Now().Add(48 * time.Hour).Truncate(time.Hour).UTC()
	ev, err := p.Create(ctx, creds, cal, &calendar.Event{UID: "wedsync-bk_1", Summary: "Wedding",
		Start: start, End: start.Add(8 * time.Hour), Tag: "bk_1"})
	if err != nil {
		panic(err)
	}
	next, _ := p.Changes(ctx, creds, cal, first.Cursor)
	fmt.Println(first.Full, len(first.Updated))
	fmt.Println(next.Full, len(next.Updated), next.Updated[0].ID == ev.ID, next.Updated[0].Tag)
	// Output:
	// true 0
	// false 1 true bk_1
}
