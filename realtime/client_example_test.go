package realtime_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wedsync/integrations/realtime"
)

// ExampleClient connects to a Realtime server (here the scripted test
// server, which answers joins and then sends one broadcast), listens to a
// supplier's broadcasts and sends one of its own.
func ExampleClient() {
	srv := newClFakeServer(realtime.VSN1)
	defer srv.Close()
	srv.afterJoin = func(fc *clFakeConn, join realtime.Message) {
		_ = fc.broadcast("", join.Topic, "booking.confirmed", `{"booking_id":42}`, nil)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := realtime.NewClient(srv.URL(),
		realtime.WithAPIKey("anon-key"),
		realtime.WithOnResync(func(ctx context.Context) {
			// Reload the dashboard's data from the database here.
		}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	if err := client.Connect(ctx); err != nil {
		fmt.Println(err)
		return
	}

	got := make(chan string, 1)
	ch := client.Channel("supplier:1", realtime.ChannelConfig{})
	ch.OnBroadcast("booking.confirmed", func(m realtime.BroadcastMessage) {
		got <- m.Event + " " + string(m.Payload) // handlers must be quick
	})
	if err := ch.Subscribe(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("channel", ch.Topic(), ch.State())
	fmt.Println("received", <-got)

	if err := ch.Send(ctx, "kpi.viewed", map[string]int{"supplier_id": 1}); err != nil {
		fmt.Println(err)
		return
	}
	if err := client.Close(); err != nil {
		fmt.Println(err)
	}
	fmt.Println("client", client.Stats().State)
	// Output:
	// channel realtime:supplier:1 joined
	// received booking.confirmed {"booking_id":42}
	// client closed
}
