package realtime_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/migrate"
	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/client"
	"github.com/wedsync/integrations/realtime/pgbroker"
	"github.com/wedsync/integrations/realtime/protocol"
)

// pgHub is one hub instance with its own Postgres broker, serving on a
// listener of its own.
type pgHub struct {
	hub    *realtime.Hub
	broker *pgbroker.Broker
	srv    *http.Server
	done   chan struct{}
	addr   string
}

func startPGHub(t *testing.T, db *pgtest.DB, addr string) *pgHub {
	t.Helper()
	// A NOTIFY channel of this test's own, so that cutting its listeners
	// (found by their LISTEN statement) touches no other test.
	b, err := pgbroker.New(ctxBG, db.Pool, pgbroker.WithSchema(db.Schema), pgbroker.WithChannel(db.Schema))
	require.NoError(t, err)
	hub, err := realtime.NewHub(realtime.WithAuthenticator(testAuth), realtime.WithBroker(b))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/realtime/v1/websocket", hub)
	h := &pgHub{hub: hub, broker: b, srv: &http.Server{Handler: mux}, done: make(chan struct{}), addr: ln.Addr().String()}
	go func() { defer close(h.done); _ = h.srv.Serve(ln) }()
	return h
}

// stop shuts the instance down as a restart would.
func (h *pgHub) stop(t *testing.T) {
	require.NoError(t, h.hub.Close())
	require.NoError(t, h.srv.Close())
	<-h.done
	require.NoError(t, h.broker.Close())
}

func (h *pgHub) url() string { return "ws://" + h.addr + "/realtime/v1/websocket" }

// TestPostgresTwoHubsShareBroadcastsAndReplaySurvivesRestart runs two hub
// instances over the Postgres broker: a dashboard on either gets every
// broadcast made on either; then one instance restarts while broadcasts go
// on, and its dashboard, reconnecting, gets what it missed from the
// history in Postgres.
func TestPostgresTwoHubsShareBroadcastsAndReplaySurvivesRestart(t *testing.T) {
	db := pgtest.New(t, "realtime")
	require.NoError(t, pgbroker.Migrate(ctxBG, db.Pool, pgbroker.WithSchema(db.Schema)))
	one := startPGHub(t, db, "127.0.0.1:0")
	defer one.stop(t)
	two := startPGHub(t, db, "127.0.0.1:0")

	type seen struct {
		offset   uint64
		replayed bool
	}
	subscribe := func(url string) chan seen {
		c := newTestClient(t, url, "sup:1")
		ch := c.Channel("supplier:1", client.ChannelConfig{Replay: true})
		got := make(chan seen, 100)
		ch.OnBroadcast("*", func(m client.BroadcastMessage) { got <- seen{m.Meta.Offset, m.Meta.Replayed} })
		ch.OnReload(func(reason string) { t.Errorf("unexpected reload: %s", reason) })
		require.NoError(t, ch.Subscribe(waitCtx(t)))
		return got
	}
	onOne, onTwo := subscribe(one.url()), subscribe(two.url())

	for i := range 4 {
		h := one
		if i%2 == 1 {
			h = two
		}
		_, err := h.hub.Broadcast(ctxBG, "supplier:1", "kpi.updated", map[string]int{"i": i})
		require.NoError(t, err)
	}
	for want := uint64(1); want <= 4; want++ {
		require.Equal(t, seen{want, false}, recv(t, onOne))
		require.Equal(t, seen{want, false}, recv(t, onTwo))
	}

	// Instance two goes down; broadcasts continue on instance one.
	addr := two.addr
	two.stop(t)
	for i := 4; i < 7; i++ {
		_, err := one.hub.Broadcast(ctxBG, "supplier:1", "kpi.updated", map[string]int{"i": i})
		require.NoError(t, err)
	}
	for want := uint64(5); want <= 7; want++ {
		require.Equal(t, seen{want, false}, recv(t, onOne))
	}
	// It comes back on the same address with a fresh broker: the client
	// reconnects, asks for replay, and gets 5..7 from Postgres, then live.
	two = startPGHub(t, db, addr)
	defer two.stop(t)
	for want := uint64(5); want <= 7; want++ {
		require.Equal(t, seen{want, true}, recv(t, onTwo))
	}
	_, err := two.hub.Broadcast(ctxBG, "supplier:1", "kpi.updated", map[string]int{"i": 7})
	require.NoError(t, err)
	require.Equal(t, seen{8, false}, recv(t, onTwo))
	require.Equal(t, seen{8, false}, recv(t, onOne))
}

// TestPostgresLostListenConnectionFillsTheGap cuts an instance's LISTEN
// connection while broadcasts go on elsewhere: the notifications sent
// meanwhile are lost, and the instance must fill the gap from the history
// table so its dashboard still sees every broadcast once, in order.
func TestPostgresLostListenConnectionFillsTheGap(t *testing.T) {
	db := pgtest.New(t, "realtime")
	require.NoError(t, pgbroker.Migrate(ctxBG, db.Pool, pgbroker.WithSchema(db.Schema)))
	one := startPGHub(t, db, "127.0.0.1:0")
	defer one.stop(t)
	two := startPGHub(t, db, "127.0.0.1:0")
	defer two.stop(t)

	c := newTestClient(t, two.url(), "sup:1")
	ch := c.Channel("supplier:1", client.ChannelConfig{Replay: true})
	got := make(chan uint64, 1000)
	ch.OnBroadcast("*", func(m client.BroadcastMessage) { got <- m.Meta.Offset })
	ch.OnReload(func(reason string) { t.Errorf("unexpected reload: %s", reason) })
	require.NoError(t, ch.Subscribe(waitCtx(t)))
	_, err := one.hub.Broadcast(ctxBG, "supplier:1", "e", nil)
	require.NoError(t, err)
	require.Equal(t, uint64(1), recv(t, got))

	const n = 200
	for i := 2; i <= n; i++ {
		if i == 50 {
			// Cut both instances' listeners: the harshest case.
			var cut int
			require.NoError(t, db.Pool.QueryRow(ctxBG, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE application_name = $1 AND query LIKE '%' || $2 || '%'`, pgbroker.ApplicationName, db.Schema).Scan(&cut))
			require.Equal(t, 2, cut)
		}
		_, err := one.hub.Broadcast(ctxBG, "supplier:1", "e", nil)
		require.NoError(t, err)
	}
	for want := uint64(2); want <= n; want++ {
		require.Equal(t, want, recv(t, got))
	}
	require.GreaterOrEqual(t, two.hub.Stats().Resyncs, int64(1), "the instance read what it missed from history")
}

// A publish whose outcome the Postgres broker cannot know reaches the host
// as ErrPublishOutcomeUnknown, and a client as an error reply that says it
// may have been published, not as a failure. Here another session holds
// the topic's row, so the publish's transaction waits on it until the
// broker's WithWriteTimeout cuts it off, before Postgres answered.
func TestPostgresHubReportsUnknownPublishOutcome(t *testing.T) {
	db := pgtest.New(t, "realtime")
	require.NoError(t, pgbroker.Migrate(ctxBG, db.Pool, pgbroker.WithSchema(db.Schema)))
	b, err := pgbroker.New(ctxBG, db.Pool, pgbroker.WithSchema(db.Schema), pgbroker.WithChannel(db.Schema),
		pgbroker.WithWriteTimeout(200*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) }) // after the hub's
	env := newHubEnv(t, realtime.WithBroker(b), realtime.WithAuthorizer(realtime.SupplierAuthorizer{AllowClientBroadcast: true}))
	_, err = env.hub.Broadcast(ctxBG, "supplier:1", "kept", map[string]int{"n": 1}) // the topic's row exists
	require.NoError(t, err)
	p := dialPeer(t, env.url, "sup:1", protocol.VSN1)
	p.mustJoin("supplier:1", map[string]any{"config": map[string]any{"broadcast": map[string]any{"ack": true}}})

	tx, err := db.Pool.Begin(ctxBG)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctxBG) }()
	var one int
	require.NoError(t, tx.QueryRow(ctxBG, "SELECT 1 FROM "+migrate.Quote(db.Schema)+".realtime_topics WHERE topic = $1 FOR UPDATE", "supplier:1").Scan(&one))
	_, err = env.hub.Broadcast(ctxBG, "supplier:1", "lost", map[string]int{"n": 2})
	require.ErrorIs(t, err, realtime.ErrPublishOutcomeUnknown)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	p.send(protocol.Message{Ref: "5", JoinRef: "1", Topic: "realtime:supplier:1", Event: "broadcast", Payload: json.RawMessage(`{"type":"broadcast","event":"lost","payload":{}}`)})
	m := p.readEvent("phx_reply")
	require.Equal(t, "5", m.Ref)
	require.JSONEq(t, `{"status":"error","response":{"reason":"broadcast outcome unknown: it may have been published"}}`, string(m.Payload))

	require.NoError(t, tx.Rollback(ctxBG)) // the row is free: publishes commit again
	p.send(protocol.Message{Ref: "6", JoinRef: "1", Topic: "realtime:supplier:1", Event: "broadcast", Payload: json.RawMessage(`{"type":"broadcast","event":"x","payload":{}}`)})
	m = p.readEvent("phx_reply")
	require.Equal(t, "6", m.Ref)
	require.JSONEq(t, `{"status":"ok","response":{}}`, string(m.Payload))
}
