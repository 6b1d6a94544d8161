package realtime_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/client"
	"github.com/wedsync/integrations/realtime/realtimetest"
)

// A hub serving dashboards, and a dashboard (here a client.Client) that
// joins its supplier's topic with replay on, so a reconnect never leaves a
// silent gap.
func ExampleHub() {
	secret := []byte("an example secret of at least 32 bytes!")
	auth, err := realtime.NewJWTAuthenticator(realtime.WithHS256Secret(secret))
	if err != nil {
		panic(err)
	}
	hub, err := realtime.NewHub(realtime.WithAuthenticator(auth))
	if err != nil {
		panic(err)
	}
	defer hub.Close()
	srv := httptest.NewServer(hub) // mount it at /realtime/v1/websocket in a real server
	defer srv.Close()

	token, _ := realtimetest.HS256Token(secret, "42", time.Now().Add(time.Hour))
	c, _ := client.New("ws"+strings.TrimPrefix(srv.URL, "http"), client.WithAPIKey(token))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		panic(err)
	}
	got := make(chan client.BroadcastMessage, 1)
	ch := c.Channel(realtime.SupplierTopic("42"), client.ChannelConfig{Replay: true})
	ch.OnBroadcast("kpi.updated", func(m client.BroadcastMessage) { got <- m })
	ch.OnReload(func(reason string) { fmt.Println("reload state:", reason) })
	if err := ch.Subscribe(ctx); err != nil {
		panic(err)
	}

	// The host broadcasts after its business write commits.
	if _, err := hub.Broadcast(ctx, realtime.SupplierTopic("42"), "kpi.updated", map[string]int{"bookings": 12}); err != nil {
		panic(err)
	}
	m := <-got
	fmt.Println(m.Event, string(m.Payload), "offset", m.Meta.Offset)

	// Another supplier's topic is refused.
	err = c.Channel(realtime.SupplierTopic("7"), client.ChannelConfig{}).Subscribe(ctx)
	fmt.Println(err != nil)
	// Output:
	// kpi.updated {"bookings":12} offset 1
	// true
}

// On SIGTERM, the host shuts the hub down with its server's shutdown
// context: every dashboard gets close code 1001, and those that have not
// closed when the context ends are cut, so none can hold the shutdown.
func ExampleHub_Shutdown() {
	srv, err := realtimetest.StartServer()
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	states := make(chan client.ConnState, 8)
	c, _ := client.New(srv.SocketURL, client.WithAPIKey(srv.Token("42")),
		client.WithOnStateChange(func(s client.ConnState) { states <- s }))
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		panic(err)
	}
	fmt.Println(<-states, <-states)

	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	fmt.Println("shutdown:", srv.Hub.Shutdown(shutdown))
	fmt.Println(<-states)
	_, err = srv.Hub.Broadcast(ctx, realtime.SupplierTopic("42"), "kpi.updated", nil)
	fmt.Println(errors.Is(err, realtime.ErrHubClosed))
	// Output:
	// connecting connected
	// shutdown: <nil>
	// disconnected
	// true
}
