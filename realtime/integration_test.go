package realtime_test

// Both ends real: our Client against our Hub over real sockets.

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/client"
	"github.com/wedsync/integrations/realtime/protocol"
	"github.com/wedsync/integrations/realtime/realtimetest"
)

func newTestClient(t testing.TB, url, token string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(url, append([]client.Option{client.WithAPIKey(token), client.WithReconnectBackoff(time.Millisecond, 20*time.Millisecond)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(ctxBG, 10*time.Second)
	defer cancel()
	require.NoError(t, c.Connect(ctx))
	return c
}

func waitCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(ctxBG, 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// recv returns the next value or fails the test after 30 s.
func recv[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting")
		panic("unreachable")
	}
}

func TestClientHubBroadcastBothSerializers(t *testing.T) {
	env := newHubEnv(t)
	for _, vsn := range []string{protocol.VSN1, protocol.VSN2} {
		t.Run(vsn, func(t *testing.T) {
			c := newTestClient(t, env.url, "sup:1", client.WithVSN(vsn))
			ch := c.Channel("supplier:1", client.ChannelConfig{})
			got := make(chan client.BroadcastMessage, 10)
			ch.OnBroadcast("kpi.updated", func(m client.BroadcastMessage) { got <- m })
			require.NoError(t, ch.Subscribe(waitCtx(t)))
			pub, err := env.hub.Broadcast(ctxBG, "supplier:1", "kpi.updated", map[string]int{"bookings": 3})
			require.NoError(t, err)
			m := recv(t, got)
			require.JSONEq(t, `{"bookings":3}`, string(m.Payload))
			require.Equal(t, pub.ID(), m.Meta.ID)
			require.Equal(t, pub.Offset, m.Meta.Offset)
		})
	}
}

func TestClientHubJoinRefusedForAnotherSupplier(t *testing.T) {
	env := newHubEnv(t)
	c := newTestClient(t, env.url, "sup:1")
	ch := c.Channel("supplier:2", client.ChannelConfig{})
	got := make(chan client.BroadcastMessage, 1)
	ch.OnBroadcast("*", func(m client.BroadcastMessage) { got <- m })
	err := ch.Subscribe(waitCtx(t))
	require.ErrorIs(t, err, client.ErrJoinRefused)
	require.ErrorContains(t, err, "may not join")
	_, err = env.hub.Broadcast(ctxBG, "supplier:2", "secret", nil)
	require.NoError(t, err)
	// Own topic next: its broadcast is the first thing any handler sees.
	own := c.Channel("supplier:1", client.ChannelConfig{})
	mine := make(chan client.BroadcastMessage, 1)
	own.OnBroadcast("*", func(m client.BroadcastMessage) { mine <- m })
	require.NoError(t, own.Subscribe(waitCtx(t)))
	_, err = env.hub.Broadcast(ctxBG, "supplier:1", "mine", nil)
	require.NoError(t, err)
	require.Equal(t, "mine", recv(t, mine).Event)
	require.Empty(t, got)
}

func TestClientHubPostgresChangesRoutedByIDs(t *testing.T) {
	env := newHubEnv(t)
	c := newTestClient(t, env.url, "sup:9")
	ch := c.Channel("supplier:9", client.ChannelConfig{})
	bookings := make(chan protocol.PostgresChange, 4)
	kpis := make(chan protocol.PostgresChange, 4)
	ch.OnPostgresChanges(protocol.PostgresChangeFilter{Event: "INSERT", Schema: "public", Table: "bookings"}, func(c protocol.PostgresChange) { bookings <- c })
	ch.OnPostgresChanges(protocol.PostgresChangeFilter{Event: "*", Schema: "public", Table: "supplier_kpis", Filter: "supplier_id=eq.9"}, func(c protocol.PostgresChange) { kpis <- c })
	require.NoError(t, ch.Subscribe(waitCtx(t)))

	_, err := env.hub.EmitPostgresChange(ctxBG, "supplier:9", protocol.PostgresChange{Schema: "public", Table: "supplier_kpis", Type: "UPDATE", Record: json.RawMessage(`{"supplier_id":9,"bookings":5}`)})
	require.NoError(t, err)
	_, err = env.hub.EmitPostgresChange(ctxBG, "supplier:9", protocol.PostgresChange{Schema: "public", Table: "bookings", Type: "INSERT", Record: json.RawMessage(`{"id":77}`)})
	require.NoError(t, err)
	require.JSONEq(t, `{"supplier_id":9,"bookings":5}`, string(recv(t, kpis).Record))
	require.JSONEq(t, `{"id":77}`, string(recv(t, bookings).Record))
	require.Empty(t, kpis, "routed by id: the bookings insert did not reach the kpi handler")
	require.Empty(t, bookings)
}

func TestClientHubPresence(t *testing.T) {
	env := newHubEnv(t)
	a := newTestClient(t, env.url, "sup:8::anna") // presence keys are the tokens' subjects
	b := newTestClient(t, env.url, "sup:8::ben", client.WithVSN(protocol.VSN2))
	cha := a.Channel("supplier:8", client.ChannelConfig{Presence: true})
	require.NoError(t, cha.Subscribe(waitCtx(t)))
	require.NoError(t, cha.Track(waitCtx(t), map[string]string{"page": "dashboard"}))

	chb := b.Channel("supplier:8", client.ChannelConfig{Presence: true})
	events := make(chan client.PresenceEvent, 10)
	chb.OnPresence(func(e client.PresenceEvent) { events <- e })
	require.NoError(t, chb.Subscribe(waitCtx(t)))
	for {
		e := recv(t, events)
		if _, ok := chb.PresenceState()["anna"]; ok {
			break
		}
		_ = e
	}
	require.NoError(t, cha.Untrack(waitCtx(t)))
	for {
		e := recv(t, events)
		if e.Kind == "leave" && e.Key == "anna" {
			break
		}
	}
	require.NotContains(t, chb.PresenceState(), "anna")
}

func TestClientHubTokenRefreshAndExpiry(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	clk := fakeClock()
	auth, err := realtime.NewJWTAuthenticator(realtime.WithHS256Secret(secret), realtime.WithClock(clk), realtime.WithLeeway(0))
	require.NoError(t, err)
	env := newHubEnv(t, realtime.WithAuthenticator(auth), realtime.WithClock(clk), realtime.WithIdleTimeout(24*time.Hour))
	short, err := realtimetest.HS256Token(secret, "5", clk.Now().Add(time.Minute))
	require.NoError(t, err)
	long, err := realtimetest.HS256Token(secret, "5", clk.Now().Add(time.Hour))
	require.NoError(t, err)
	var other string

	c := newTestClient(t, env.url, long, client.WithAccessToken(short))
	ch := c.Channel("supplier:5", client.ChannelConfig{})
	sys := make(chan protocol.SystemPayload, 10)
	ch.OnSystem(func(p protocol.SystemPayload) { sys <- p })
	got := make(chan client.BroadcastMessage, 10)
	ch.OnBroadcast("*", func(m client.BroadcastMessage) { got <- m })
	require.NoError(t, ch.Subscribe(waitCtx(t)))

	// Refresh before expiry: the channel outlives the first token.
	require.NoError(t, c.SetAccessToken(waitCtx(t), long))
	// SetAccessToken only writes the frame. The hub answers an untrack
	// (nothing is tracked: a no-op) on the socket's read loop, after the
	// refresh before it: the reply orders the refresh before the clock
	// moves. (A broadcast from the hub does not: it reaches the client
	// past the read loop.)
	require.NoError(t, ch.Untrack(waitCtx(t)))
	advanceSweep(t, clk, 2*time.Minute)
	_, err = env.hub.Broadcast(ctxBG, "supplier:5", "after.refresh", nil)
	require.NoError(t, err)
	require.Equal(t, "after.refresh", recv(t, got).Event)

	// The long token expires too: a system error closes the channel.
	// The sweep re-arms its timer after its run at the first Advance; a
	// second Advance before that would leave it waiting for good.
	advanceSweep(t, clk, time.Hour)
	p := recv(t, sys)
	require.Equal(t, protocol.CodeTokenExpired, p.Code)

	// A refresh to another supplier's token is refused the same way.
	other = mustToken(t, secret, "6", clk.Now().Add(time.Hour))
	c2 := newTestClient(t, env.url, other, client.WithAccessToken(mustToken(t, secret, "5", clk.Now().Add(time.Hour))))
	ch2 := c2.Channel("supplier:5", client.ChannelConfig{})
	sys2 := make(chan protocol.SystemPayload, 10)
	ch2.OnSystem(func(p protocol.SystemPayload) { sys2 <- p })
	require.NoError(t, ch2.Subscribe(waitCtx(t)))
	require.NoError(t, c2.SetAccessToken(waitCtx(t), other))
	require.Equal(t, protocol.CodeTokenInvalid, recv(t, sys2).Code)
}

func mustToken(t testing.TB, secret []byte, supplier string, exp time.Time) string {
	tok, err := realtimetest.HS256Token(secret, supplier, exp)
	require.NoError(t, err)
	return tok
}

// TestClientHubRestartReconnectsAndRejoins stops the hub's server, starts a
// new hub on the same address, and checks that the client reconnects,
// rejoins, tells the host to resync, and receives again.
func TestClientHubRestartReconnectsAndRejoins(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	serve := func(ln net.Listener) (*realtime.Hub, *http.Server, chan struct{}) {
		hub, err := realtime.NewHub(realtime.WithAuthenticator(testAuth))
		require.NoError(t, err)
		mux := http.NewServeMux()
		mux.Handle("/realtime/v1/websocket", hub)
		srv := &http.Server{Handler: mux}
		done := make(chan struct{})
		go func() { defer close(done); _ = srv.Serve(ln) }()
		return hub, srv, done
	}
	hub1, srv1, done1 := serve(ln)

	resyncs := make(chan struct{}, 10)
	c := newTestClient(t, "ws://"+addr+"/realtime/v1/websocket", "sup:1",
		client.WithOnResync(func(context.Context) { resyncs <- struct{}{} }))
	ch := c.Channel("supplier:1", client.ChannelConfig{})
	got := make(chan string, 10)
	ch.OnBroadcast("*", func(m client.BroadcastMessage) { got <- m.Event })
	require.NoError(t, ch.Subscribe(waitCtx(t)))
	_, err = hub1.Broadcast(ctxBG, "supplier:1", "before", nil)
	require.NoError(t, err)
	require.Equal(t, "before", recv(t, got))

	require.NoError(t, hub1.Close())
	require.NoError(t, srv1.Close())
	<-done1
	ln2, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	hub2, srv2, done2 := serve(ln2)
	defer func() {
		require.NoError(t, hub2.Close())
		require.NoError(t, srv2.Close())
		<-done2
	}()
	recv(t, resyncs)
	require.Equal(t, client.ChannelJoined, ch.State())
	_, err = hub2.Broadcast(ctxBG, "supplier:1", "after", nil)
	require.NoError(t, err)
	require.Equal(t, "after", recv(t, got))
	require.GreaterOrEqual(t, c.Stats().Reconnects, int64(1))
}

// skewedClock is the wall clock, off by d: a machine whose clock is wrong.
type skewedClock struct {
	clockwork.Clock
	d time.Duration
}

func (s skewedClock) Now() time.Time { return time.Now().Add(s.d) }

// TestClientHubResumesFromTheJoinCursorDespiteClockSkew: a dashboard whose
// clock runs an hour ahead receives nothing, drops, and misses three
// broadcasts. It resumes from the hub's cursor (epoch and offset from the
// join reply), not from its clock, so it gets all three replayed.
func TestClientHubResumesFromTheJoinCursorDespiteClockSkew(t *testing.T) {
	env := newHubEnv(t)
	proxy := newDropProxy(t, env.srv.Listener.Addr().String())
	c := newTestClient(t, "ws://"+proxy.addr()+"/realtime/v1/websocket", "sup:1", client.WithClock(skewedClock{clockwork.NewRealClock(), time.Hour}))
	ch := c.Channel("supplier:1", client.ChannelConfig{Replay: true})
	got := make(chan client.BroadcastMessage, 10)
	ch.OnBroadcast("*", func(m client.BroadcastMessage) { got <- m })
	ch.OnReload(func(reason string) { t.Errorf("unexpected reload: %s", reason) })
	require.NoError(t, ch.Subscribe(waitCtx(t)))

	proxy.setRefusing(true)
	require.True(t, proxy.dropOne(0))
	for i := range 3 {
		_, err := env.hub.Broadcast(ctxBG, "supplier:1", "kpi.updated", map[string]int{"i": i})
		require.NoError(t, err)
	}
	proxy.setRefusing(false)
	for want := uint64(1); want <= 3; want++ {
		m := recv(t, got)
		require.Equal(t, want, m.Meta.Offset)
		require.True(t, m.Meta.Replayed)
	}
}
