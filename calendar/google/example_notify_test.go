package google_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/google"
	"github.com/wedsync/integrations/calendar/google/googletest"
)

// The host's callback endpoint for Google's push notifications. In
// production lookup is the engine's watch table and notify its Notify.
func ExampleNotificationHandler() {
	srv := googletest.NewServer()
	defer srv.Close()
	p, _ := srv.NewProvider()
	defer p.CloseIdleConnections()
	ctx := context.Background()
	creds := srv.Creds()

	watches := map[string]calendar.Watch{}
	h := google.NotificationHandler(
		func(_ context.Context, id string) (string, calendar.Watch, bool) {
			w, ok := watches[id]
			return "conn_anna", w, ok
		},
		func(_ context.Context, conn string) error {
			fmt.Println("sync", conn)
			return nil
		}, nil)
	cb := httptest.NewServer(h)
	defer cb.Close()

	w, err := p.Watch(ctx, creds, "primary", cb.URL+"/hooks/google", "per-watch-secret")
	if err != nil {
		panic(err)
	}
	watches[w.ID] = w

	st, _ := srv.Notify(ctx, w.ID, "sync") // the channel's first message
	fmt.Println("handshake:", st)
	st, _ = srv.Notify(ctx, w.ID, "exists") // the calendar changed
	fmt.Println("change:", st)
	st, _ = srv.NotifyForged(ctx, w.ID, "guessed", w.ResourceID)
	fmt.Println("forged:", st)
	_ = p.StopWatch(ctx, creds, w)
	// Output:
	// handshake: 200
	// sync conn_anna
	// change: 200
	// forged: 404
}
