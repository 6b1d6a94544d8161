package realtimetest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/client"
	"github.com/wedsync/integrations/realtime/realtimetest"
)

// A hub on a loopback server, for an example or a benchmark (a test uses
// NewServer, which closes it when the test ends): a client dials
// SocketURL with a token from Token, and the hub's broadcasts reach it.
func ExampleStartServer() {
	srv, err := realtimetest.StartServer(realtime.WithIdleTimeout(time.Minute))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	fmt.Println(strings.HasPrefix(srv.URL, "ws://127.0.0.1:"), strings.HasSuffix(srv.SocketURL, "/realtime/v1/websocket"))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.New(srv.SocketURL, client.WithAPIKey(srv.Token("42")))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		panic(err)
	}
	got := make(chan client.BroadcastMessage, 1)
	ch := c.Channel(realtime.SupplierTopic("42"), client.ChannelConfig{})
	ch.OnBroadcast("booking.confirmed", func(m client.BroadcastMessage) { got <- m })
	if err := ch.Subscribe(ctx); err != nil {
		panic(err)
	}
	if _, err := srv.Hub.Broadcast(ctx, realtime.SupplierTopic("42"), "booking.confirmed", map[string]int{"booking_id": 7}); err != nil {
		panic(err)
	}
	m := <-got
	fmt.Println(m.Event, string(m.Payload))

	// The token is for supplier 42 only.
	err = c.Channel(realtime.SupplierTopic("7"), client.ChannelConfig{}).Subscribe(ctx)
	fmt.Println(errors.Is(err, client.ErrJoinRefused))
	// Output:
	// true true
	// booking.confirmed {"booking_id":7}
	// true
}

// Claims exactly as given, for a test of a refusal: here a token whose
// supplier id is a number and which never expires.
func ExampleHS256TokenWithClaims() {
	secret := []byte("super-secret-jwt-token-with-at-least-32-characters")
	tok, err := realtimetest.HS256TokenWithClaims(secret, map[string]any{
		"sub": "user-1", "app_metadata": map[string]any{"supplier_id": 42},
	})
	if err != nil {
		panic(err)
	}
	a, err := realtime.NewJWTAuthenticator(realtime.WithHS256Secret(secret))
	if err != nil {
		panic(err)
	}
	_, err = a.Authenticate(context.Background(), tok)
	fmt.Println(err)

	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
		panic(err)
	}
	fmt.Println(claims["sub"], claims["app_metadata"])
	// Output:
	// realtime: unauthenticated: missing required claim (exp, aud or iss)
	// user-1 map[supplier_id:42]
}
