package client_test

// Real-clock lifecycle: a connected client waiting for its next heartbeat
// costs nothing, and Close returns promptly even when the server hangs.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/idletest"
	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/client"
	"github.com/wedsync/integrations/realtime/realtimetest"
)

func TestClientRealClockIdle(t *testing.T) {
	srv := realtimetest.NewServer(t)
	c, err := client.New(srv.SocketURL, client.WithAPIKey(srv.Token("42")))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	require.NoError(t, c.Connect(testCtx(t)))
	ch := c.Channel(realtime.SupplierTopic("42"), client.ChannelConfig{Replay: true, Presence: true})
	require.NoError(t, ch.Subscribe(testCtx(t)))
	idletest.RequireIdle(t, "a client waits, joined, with its next heartbeat 25 s away")
}

// A server that accepts the socket, then neither reads nor answers: the
// close frame gets no answer, and Close drops the connection after a
// second instead of waiting coder/websocket's 5 s.
func TestClientCloseWhenTheServerHangs(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		<-release
		ws.CloseNow()
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	c, err := client.New("ws"+strings.TrimPrefix(srv.URL, "http"), client.WithAPIKey("anon"))
	require.NoError(t, err)
	require.NoError(t, c.Connect(testCtx(t)))
	start := time.Now()
	require.NoError(t, c.Close())
	took := time.Since(start)
	t.Logf("Close with a server that never answers: %s", took)
	require.Less(t, took, 3*time.Second)
	require.Equal(t, client.ConnClosed, c.Stats().State)

	// The same with the host's own transport.
	c, err = client.New("ws"+strings.TrimPrefix(srv.URL, "http"), client.WithAPIKey("anon"),
		client.WithDialOptions(&websocket.DialOptions{HTTPClient: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Connect(ctx))
	start = time.Now()
	require.NoError(t, c.Close())
	require.Less(t, time.Since(start), 3*time.Second)
}
