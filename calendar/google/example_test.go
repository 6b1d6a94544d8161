package google_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/google/googletest"
)

// A provider against the fake: write a booking's event, then sync.
func Example() {
	srv := googletest.NewServer()
	defer srv.Close()
	p, err := srv.NewProvider() // in production: google.New(oauthConfig)
	if err != nil {
		panic(err)
	}
	defer p.CloseIdleConnections()
	ctx := calendar.ContextWithCredentialsUpdate(context.Background(), func(creds []byte) {
		fmt.Println("token refreshed: store the new credentials")
	})
	creds := srv.Creds() // the token the connect flow got

	london, _ := time.LoadLocation("Europe/London")
	start := time.Date(2027, 6, 5, 11, 0, 0, 0, london)
	ev, err := p.Create(ctx, creds, "primary", &calendar.Event{UID: "bk_81@wedsync", Summary: "Smith & Jones wedding",
		Start: start, End: start.Add(12 * time.Hour), Tag: "bk_81"})
	if err != nil {
		panic(err)
	}
	fmt.Println("created", ev.ID[:12], ev.Start.Format(time.RFC3339), ev.Start.Location())

	cs, err := p.Changes(ctx, creds, "primary", "")
	if err != nil {
		panic(err)
	}
	fmt.Println("full:", cs.Full, "events:", len(cs.Updated), "tag:", cs.Updated[0].Tag)

	srv.ExpireAccessTokens() // an hour later
	cs, err = p.Changes(ctx, creds, "primary", cs.Cursor)
	if err != nil {
		panic(err)
	}
	fmt.Println("full:", cs.Full, "events:", len(cs.Updated))
	// Output:
	// created 24d0e237e9c7 2027-06-05T11:00:00+01:00 Europe/London
	// full: true events: 1 tag: bk_81
	// token refreshed: store the new credentials
	// full: false events: 0
}
