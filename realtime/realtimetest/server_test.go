package realtimetest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/client"
	"github.com/wedsync/integrations/realtime/realtimetest"
)

func TestServerServesTheHubWithItsTokens(t *testing.T) {
	srv := realtimetest.NewServer(t, realtime.WithIdleTimeout(time.Minute))
	require.True(t, strings.HasPrefix(srv.URL, "ws://127.0.0.1:"), srv.URL)
	require.True(t, strings.HasSuffix(srv.URL, "/realtime/v1"), srv.URL)
	require.Equal(t, srv.URL+"/websocket", srv.SocketURL)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := client.New(srv.SocketURL, client.WithAPIKey(srv.Token("42")))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Connect(ctx))
	got := make(chan client.BroadcastMessage, 1)
	ch := c.Channel(realtime.SupplierTopic("42"), client.ChannelConfig{})
	ch.OnBroadcast("kpi.updated", func(m client.BroadcastMessage) { got <- m })
	require.NoError(t, ch.Subscribe(ctx))
	_, err = srv.Hub.Broadcast(ctx, realtime.SupplierTopic("42"), "kpi.updated", map[string]int{"bookings": 1})
	require.NoError(t, err)
	select {
	case m := <-got:
		require.JSONEq(t, `{"bookings":1}`, string(m.Payload))
	case <-ctx.Done():
		t.Fatal("no broadcast")
	}
	require.ErrorIs(t, c.Channel(realtime.SupplierTopic("7"), client.ChannelConfig{}).Subscribe(ctx), client.ErrJoinRefused)
	require.NoError(t, c.Close())

	// A token of another secret is refused at the handshake.
	other, err := realtimetest.HS256Token([]byte("another secret of at least 32 bytes!!"), "42", time.Now().Add(time.Hour))
	require.NoError(t, err)
	_, resp, err := websocket.Dial(ctx, srv.SocketURL+"?apikey="+other, nil)
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestStartServerCloses(t *testing.T) {
	srv, err := realtimetest.StartServer()
	require.NoError(t, err)
	require.NoError(t, srv.Close())
	require.NoError(t, srv.Close(), "Close is idempotent")
	_, err = srv.Hub.Broadcast(t.Context(), "supplier:1", "e", nil)
	require.ErrorIs(t, err, realtime.ErrHubClosed)

	_, err = realtimetest.StartServer(realtime.WithMaxChannels(0))
	require.ErrorIs(t, err, realtime.ErrInvalid)
}
