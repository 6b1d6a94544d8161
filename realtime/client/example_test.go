package client_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/client"
	"github.com/wedsync/integrations/realtime/realtimetest"
)

// ExampleClient connects to a Realtime server (here a hub from
// realtimetest; in production Supabase's
// "wss://<project>.supabase.co/realtime/v1/websocket"), listens to a
// supplier's broadcasts, and tracks its presence.
func ExampleClient() {
	srv, err := realtimetest.StartServer()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.New(srv.SocketURL,
		client.WithAPIKey(srv.Token("42")),
		client.WithOnResync(func(ctx context.Context) {
			// Supabase replays nothing: reload the dashboard's data here.
		}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		fmt.Println(err)
		return
	}

	got := make(chan string, 1)
	ch := c.Channel(realtime.SupplierTopic("42"), client.ChannelConfig{Presence: true})
	ch.OnBroadcast("booking.confirmed", func(m client.BroadcastMessage) {
		got <- m.Event + " " + string(m.Payload) // handlers must be quick
	})
	if err := ch.Subscribe(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("channel", ch.Topic(), ch.State())

	// The host broadcasts after its business write commits.
	if _, err := srv.Hub.Broadcast(ctx, realtime.SupplierTopic("42"), "booking.confirmed", map[string]int{"booking_id": 7}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("received", <-got)

	if err := ch.Track(ctx, map[string]string{"status": "online"}); err != nil {
		fmt.Println(err)
		return
	}
	// Another supplier's topic is refused by the hub's authorizer.
	err = c.Channel(realtime.SupplierTopic("7"), client.ChannelConfig{}).Subscribe(ctx)
	fmt.Println("supplier 7 refused:", err != nil)

	if err := c.Close(); err != nil {
		fmt.Println(err)
	}
	fmt.Println("client", c.Stats().State)
	// Output:
	// channel realtime:supplier:42 joined
	// received booking.confirmed {"booking_id":7}
	// supplier 7 refused: true
	// client closed
}
