package realtime_test

// Real-clock lifecycle tests: every long-running component costs nothing
// while it waits (internal/idletest), and stops within its context even
// when something hangs.

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/idletest"
	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/client"
	"github.com/wedsync/integrations/realtime/protocol"
)

// stopBound is how long a stop may take past its context in these tests:
// generous, for a loaded machine; the tests log what they measured.
const stopBound = 2 * time.Second

// A hub with idle dashboards and its sweep pending uses no CPU; Shutdown
// returns within its context while a dashboard that never reads holds a
// write and a close handshake open, and Close then finishes at once.
func TestHubRealClockIdleAndShutdown(t *testing.T) {
	env := newHubEnv(t, realtime.WithSendBuffer(1<<20, 256<<20))
	for _, sup := range []string{"1", "2", "3"} {
		c := newTestClient(t, env.url, "sup:"+sup)
		ch := c.Channel("supplier:"+sup, client.ChannelConfig{Replay: true})
		require.NoError(t, ch.Subscribe(waitCtx(t)))
	}
	quiet := dialPeer(t, env.url, "sup:4", protocol.VSN1)
	quiet.mustJoin("supplier:4", joinPayload)
	require.Equal(t, 4, env.hub.Stats().Connections)
	idletest.RequireIdle(t, "a hub waits with 4 idle dashboards and its sweep pending")

	// A dashboard that stops reading: what the hub writes to it fills the
	// socket's buffers, and its writer blocks.
	stuck := dialPeer(t, env.url, "sup:9", protocol.VSN1)
	stuck.mustJoin("supplier:9", joinPayload)
	blob := json.RawMessage(`{"blob":"` + strings.Repeat("x", 512<<10) + `"}`)
	for range 64 { // 32 MiB, more than loopback buffers hold
		_, err := env.hub.Broadcast(ctxBG, "supplier:9", "blob", blob)
		require.NoError(t, err)
	}
	require.Zero(t, env.hub.Stats().SlowConsumers, "the send buffer holds it all: the writer is what blocks")

	ctx, cancel := context.WithTimeout(ctxBG, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := env.hub.Shutdown(ctx)
	took := time.Since(start)
	t.Logf("Shutdown with a 200ms context and a dashboard that never reads: %s, %v", took, err)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, took, 200*time.Millisecond+stopBound)

	_, err = env.hub.Broadcast(ctxBG, "supplier:1", "e", nil)
	require.ErrorIs(t, err, realtime.ErrHubClosed)
	_, resp, err := websocket.Dial(ctxBG, env.url+"?apikey=sup:1", nil)
	require.Error(t, err)
	require.Equal(t, 503, resp.StatusCode)
	resp.Body.Close()

	start = time.Now()
	require.NoError(t, env.hub.Close(), "the cut sockets end at once")
	t.Logf("Close after the cut: %s", time.Since(start))
	require.Less(t, time.Since(start), stopBound)
	require.Zero(t, env.hub.Stats().Connections)

	// The quiet dashboard, reading at last, finds its socket closed: with
	// 1001 if the close frame got through before the cut.
	var rerr error
	for rerr == nil {
		_, rerr = quiet.tryRead(10 * time.Second)
	}
	require.False(t, errors.Is(rerr, context.DeadlineExceeded), "%v", rerr)
}

// Dashboards that answer the close frame (client.Client does) let
// Shutdown finish gracefully: nil, in a round trip.
func TestHubShutdownGraceful(t *testing.T) {
	env := newHubEnv(t)
	c := newTestClient(t, env.url, "sup:1")
	states := make(chan client.ConnState, 16)
	c2, err := client.New(env.url, client.WithAPIKey("sup:2"), client.WithOnStateChange(func(s client.ConnState) { states <- s }),
		client.WithReconnectBackoff(time.Hour, time.Hour))
	require.NoError(t, err)
	t.Cleanup(func() { c2.Close() })
	require.NoError(t, c2.Connect(waitCtx(t)))
	require.NoError(t, c.Channel("supplier:1", client.ChannelConfig{}).Subscribe(waitCtx(t)))

	ctx, cancel := context.WithTimeout(ctxBG, 10*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, env.hub.Shutdown(ctx), "clients answer the close frame")
	t.Logf("Shutdown with 2 client.Clients answering the close: %s", time.Since(start))
	for s := range states {
		if s == client.ConnDisconnected {
			break
		}
	}
}

// hangingHub is a Broadcaster as slow as a hub whose broker's database
// hangs: it returns only when its context ends, or, with ignoreCtx, when
// released.
type hangingHub struct {
	entered   chan struct{}
	release   chan struct{}
	ignoreCtx bool
	ended     chan error
}

func (h *hangingHub) Broadcast(ctx context.Context, _, _ string, _ any) (realtime.Publication, error) {
	h.entered <- struct{}{}
	if h.ignoreCtx {
		<-h.release
		h.ended <- nil
		return realtime.Publication{}, nil
	}
	<-ctx.Done()
	h.ended <- ctx.Err()
	return realtime.Publication{}, ctx.Err()
}

// A bridge waiting for changes costs nothing; Stop ends the broadcast a
// change hangs in and returns at once, and the client then closes at once
// (its handler goroutine is free). With a broadcaster that ignores its
// context, Stop returns when its own context ends.
func TestBridgeRealClockIdleAndStop(t *testing.T) {
	supabase := newHubEnv(t, realtime.WithAuthorizer(allowAll{}))
	for _, ignoreCtx := range []bool{false, true} {
		supa := newTestClient(t, supabase.url, "sup:service")
		hub := &hangingHub{entered: make(chan struct{}, 1), release: make(chan struct{}), ignoreCtx: ignoreCtx, ended: make(chan error, 1)}
		var refused int
		bridge, err := realtime.NewBridge(realtime.BridgeConfig{Client: supa, Hub: hub, Table: "supplier_kpis",
			OnInvalid: func(protocol.PostgresChange, error) { refused++ }})
		require.NoError(t, err)
		require.NoError(t, bridge.Start(waitCtx(t)))
		if !ignoreCtx {
			idletest.RequireIdle(t, "a bridge and its client wait for changes")
		}

		_, err = supabase.hub.EmitPostgresChange(ctxBG, "bridge:public.supplier_kpis", protocol.PostgresChange{
			Schema: "public", Table: "supplier_kpis", Type: "UPDATE", Record: json.RawMessage(`{"supplier_id":"1"}`)})
		require.NoError(t, err)
		recv(t, hub.entered)

		ctx, cancel := context.WithTimeout(ctxBG, 200*time.Millisecond)
		start := time.Now()
		err = bridge.Stop(ctx)
		took := time.Since(start)
		cancel()
		t.Logf("Stop with a broadcast hanging (ignoring its context: %v): %s, %v", ignoreCtx, took, err)
		require.Less(t, took, 200*time.Millisecond+stopBound)
		if ignoreCtx {
			require.ErrorIs(t, err, context.DeadlineExceeded)
			close(hub.release)
		} else {
			require.NoError(t, err)
			require.ErrorIs(t, recv(t, hub.ended), context.Canceled, "Stop ended the broadcast")
		}
		start = time.Now()
		require.NoError(t, supa.Close())
		t.Logf("client Close after the bridge stopped: %s", time.Since(start))
		require.Less(t, time.Since(start), stopBound)
		require.Zero(t, refused, "a broadcast Stop ended is not the change's fault")
		want := realtime.BridgeStats{}
		if ignoreCtx {
			want.Forwarded = 1 // it went through once released
		}
		require.Equal(t, want, bridge.Stats())
	}
}
