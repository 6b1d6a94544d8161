package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/realtime/client"
	"github.com/wedsync/integrations/realtime/protocol"
)

// waitLimit bounds every wait in these tests; it is a safety net against a
// hung test, never a synchronisation device.
const waitLimit = 10 * time.Second

// fakeServer is a scripted Phoenix server: it records every frame it
// receives, answers heartbeats and joins by default, and lets a test send
// whatever it likes.
type fakeServer struct {
	srv   *httptest.Server
	vsn   string
	conns chan *fakeConn

	noHeartbeatReply atomic.Bool

	mu        sync.Mutex
	all       []*fakeConn
	onJoin    func(m protocol.Message) (status string, response any)
	afterJoin func(fc *fakeConn, join protocol.Message)
}

type fakeConn struct {
	fs    *fakeServer
	ws    *websocket.Conn
	query url.Values
	in    chan pushedFrame

	closed      chan struct{} // closed when the server's read fails
	closeStatus websocket.StatusCode
}

type pushedFrame struct {
	typ websocket.MessageType
	msg protocol.Message
}

func newFakeServer(vsn string) *fakeServer {
	fs := &fakeServer{vsn: vsn, conns: make(chan *fakeConn, 16)}
	fs.srv = httptest.NewServer(http.HandlerFunc(fs.handle))
	return fs
}

func startFakeServer(t *testing.T, vsn string) *fakeServer {
	t.Helper()
	fs := newFakeServer(vsn)
	t.Cleanup(fs.Close)
	return fs
}

// URL is the socket URL a client dials.
func (fs *fakeServer) URL() string {
	return "ws" + strings.TrimPrefix(fs.srv.URL, "http") + "/realtime/v1/websocket"
}

func (fs *fakeServer) Close() {
	fs.mu.Lock()
	all := fs.all
	fs.mu.Unlock()
	for _, fc := range all {
		_ = fc.ws.CloseNow()
	}
	fs.srv.Close()
}

func (fs *fakeServer) setOnJoin(fn func(m protocol.Message) (string, any)) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.onJoin = fn
}

func (fs *fakeServer) handle(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	fc := &fakeConn{fs: fs, ws: ws, query: r.URL.Query(), in: make(chan pushedFrame, 1024), closed: make(chan struct{})}
	fs.mu.Lock()
	fs.all = append(fs.all, fc)
	fs.mu.Unlock()
	fs.conns <- fc
	for {
		typ, data, err := ws.Read(context.Background())
		if err != nil {
			fc.closeStatus = websocket.CloseStatus(err)
			close(fc.closed)
			_ = ws.CloseNow()
			return
		}
		var m protocol.Message
		if typ == websocket.MessageBinary {
			m, err = protocol.DecodeBinary(data)
		} else {
			m, err = protocol.DecodeText(fs.vsn, data)
		}
		if err != nil {
			continue
		}
		switch {
		case m.Topic == protocol.PhoenixTopic && m.Event == protocol.EventHeartbeat:
			if !fs.noHeartbeatReply.Load() {
				_ = fc.reply(m, "ok", map[string]any{})
			}
		case m.Event == protocol.EventJoin:
			fs.mu.Lock()
			onJoin, afterJoin := fs.onJoin, fs.afterJoin
			fs.mu.Unlock()
			status, resp := "ok", any(nil)
			if onJoin != nil {
				status, resp = onJoin(m)
			} else {
				resp = echoBindings(m)
			}
			if status != "" { // "" scripts no reply
				_ = fc.reply(m, status, resp)
			}
			if afterJoin != nil {
				afterJoin(fc, m)
			}
		}
		fc.in <- pushedFrame{typ: typ, msg: m}
	}
}

// echoBindings answers a join with its postgres_changes numbered 1, 2...
func echoBindings(m protocol.Message) any {
	var p protocol.JoinPayload
	_ = json.Unmarshal(m.Payload, &p)
	for i := range p.Config.PostgresChanges {
		p.Config.PostgresChanges[i].ID = int64(i + 1)
	}
	return protocol.JoinResponse{PostgresChanges: p.Config.PostgresChanges}
}

func (fc *fakeConn) send(m protocol.Message) error {
	return fc.ws.Write(context.Background(), websocket.MessageText, protocol.EncodeText(fc.fs.vsn, m))
}

func (fc *fakeConn) reply(req protocol.Message, status string, response any) error {
	if response == nil {
		response = map[string]any{}
	}
	payload, err := json.Marshal(map[string]any{"status": status, "response": response})
	if err != nil {
		return err
	}
	return fc.send(protocol.Message{JoinRef: req.JoinRef, Ref: req.Ref, Topic: req.Topic, Event: protocol.EventReply, Payload: payload})
}

// broadcast sends a broadcast as a text frame.
func (fc *fakeConn) broadcast(joinRef, topic, event, payload string, meta *protocol.BroadcastMeta) error {
	body, err := json.Marshal(protocol.BroadcastPayload{Type: "broadcast", Event: event, Payload: json.RawMessage(payload), Meta: meta})
	if err != nil {
		return err
	}
	return fc.send(protocol.Message{JoinRef: joinRef, Topic: topic, Event: protocol.EventBroadcast, Payload: body})
}

// expect returns the next received frame that matches pred, skipping others.
func (fc *fakeConn) expect(t *testing.T, what string, pred func(protocol.Message) bool) pushedFrame {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case f := <-fc.in:
			if pred(f.msg) {
				return f
			}
		case <-deadline:
			t.Fatalf("server did not receive %s", what)
		}
	}
}

func (fc *fakeConn) expectEvent(t *testing.T, topic, event string) protocol.Message {
	t.Helper()
	return fc.expect(t, event+" on "+topic, func(m protocol.Message) bool {
		return m.Topic == topic && m.Event == event
	}).msg
}

func (fs *fakeServer) nextConn(t *testing.T) *fakeConn {
	t.Helper()
	select {
	case fc := <-fs.conns:
		return fc
	case <-time.After(waitLimit):
		t.Fatal("client did not connect")
		return nil
	}
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatal("nothing received")
		var zero T
		return zero
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// newClient builds a client for fs and connects it; Close runs before
// the server's cleanup.
func newClient(t *testing.T, fs *fakeServer, opts ...client.Option) *client.Client {
	t.Helper()
	opts = append([]client.Option{
		client.WithAPIKey("anon-key"),
		client.WithVSN(fs.vsn),
		client.WithReconnectBackoff(time.Millisecond, 5*time.Millisecond),
	}, opts...)
	c, err := client.New(fs.URL(), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	require.NoError(t, c.Connect(testCtx(t)))
	return c
}

func joinPayload(t *testing.T, m protocol.Message) protocol.JoinPayload {
	t.Helper()
	var p protocol.JoinPayload
	require.NoError(t, json.Unmarshal(m.Payload, &p))
	return p
}

func broadcastMeta(offset uint64, replayed bool) *protocol.BroadcastMeta {
	return &protocol.BroadcastMeta{ID: fmt.Sprintf("e1:%d", offset), Epoch: "e1", Offset: offset, TS: 1_700_000_000_000 + int64(offset), Replayed: replayed}
}

func TestNewClientValidatesOptions(t *testing.T) {
	for name, tc := range map[string]struct {
		url   string
		opts  []client.Option
		field string
		rule  string
	}{
		"bad vsn":       {"ws://h/realtime/v1/websocket", []client.Option{client.WithVSN("3.0.0")}, "WithVSN", `"3.0.0"`},
		"bad scheme":    {"ftp://h/x", nil, "url", "scheme"},
		"no host":       {"ws:///x", nil, "url", "host"},
		"heartbeat":     {"ws://h/x", []client.Option{client.WithHeartbeatInterval(0)}, "WithHeartbeatInterval", "positive"},
		"backoff order": {"ws://h/x", []client.Option{client.WithReconnectBackoff(time.Second, time.Millisecond)}, "WithReconnectBackoff", "min <= max"},
		"read limit":    {"ws://h/x", []client.Option{client.WithReadLimit(0)}, "WithReadLimit", "positive"},
		"nil logger":    {"ws://h/x", []client.Option{client.WithLogger(nil)}, "WithLogger", "nil"},
		"nil clock":     {"ws://h/x", []client.Option{client.WithClock(nil)}, "WithClock", "nil"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := client.New(tc.url, tc.opts...)
			require.ErrorIs(t, err, client.ErrInvalid)
			var ve *client.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, "client", ve.Package)
			require.Equal(t, tc.field, ve.Field)
			require.Contains(t, ve.Rule, tc.rule)
		})
	}
	// Every bad option at once.
	_, err := client.New("ws://h/x", client.WithVSN("x"), client.WithReadLimit(-1))
	require.ErrorContains(t, err, "client: WithVSN: ")
	require.ErrorContains(t, err, "client: WithReadLimit: ")
	// An empty event is bad input too.
	c, err := client.New("ws://h/x")
	require.NoError(t, err)
	err = c.Channel("t", client.ChannelConfig{}).Send(context.Background(), "", nil)
	require.ErrorIs(t, err, client.ErrInvalid)
	require.NoError(t, c.Close())
}

// Join ok: query parameters, the phx_join frame (ref = join_ref, default
// token = API key, config) and the resulting states and stats.
func TestClientJoinOK(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN1)
	c := newClient(t, fs)
	fc := fs.nextConn(t)
	require.Equal(t, "anon-key", fc.query.Get("apikey"))
	require.Equal(t, protocol.VSN1, fc.query.Get("vsn"))

	ch := c.Channel("supplier:1", client.ChannelConfig{
		Broadcast: protocol.BroadcastConfig{Ack: true, Self: true},
		Private:   true,
	})
	require.Equal(t, "realtime:supplier:1", ch.Topic())
	require.Equal(t, client.ChannelClosed, ch.State())
	require.NoError(t, ch.Subscribe(testCtx(t)))
	require.Equal(t, client.ChannelJoined, ch.State())

	join := fc.expectEvent(t, "realtime:supplier:1", protocol.EventJoin)
	require.NotEmpty(t, join.Ref)
	require.Equal(t, join.Ref, join.JoinRef)
	p := joinPayload(t, join)
	require.Equal(t, "anon-key", p.AccessToken)
	require.True(t, p.Config.Broadcast.Ack)
	require.True(t, p.Config.Broadcast.Self)
	require.True(t, p.Config.Private)
	require.Nil(t, p.Config.Broadcast.Replay)
	require.JSONEq(t, `[]`, string(rawField(t, join.Payload, "config", "postgres_changes")))

	st := c.Stats()
	require.Equal(t, client.ConnConnected, st.State)
	require.Equal(t, "connected", st.State.String())
	require.EqualValues(t, 1, st.Connects)
	require.EqualValues(t, 0, st.Reconnects)

	// Subscribing again is a no-op; a second Channel on the topic is refused.
	require.NoError(t, ch.Subscribe(testCtx(t)))
	err := c.Channel("realtime:supplier:1", client.ChannelConfig{}).Subscribe(testCtx(t))
	require.ErrorIs(t, err, client.ErrDuplicateChannel)
}

func rawField(t *testing.T, payload json.RawMessage, path ...string) json.RawMessage {
	t.Helper()
	raw := payload
	for _, p := range path {
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(raw, &m))
		raw = m[p]
	}
	return raw
}

// Join refused: the error wraps ErrJoinRefused and carries the reason; the
// channel is forgotten and not rejoined after a reconnect.
func TestClientJoinRefused(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN1)
	fs.setOnJoin(func(m protocol.Message) (string, any) {
		if m.Topic == "realtime:supplier:2" {
			return "error", map[string]string{"reason": "Unauthorized: you may not join supplier:2"}
		}
		return "ok", nil
	})
	resync := make(chan struct{}, 4)
	c := newClient(t, fs, client.WithOnResync(func(context.Context) { resync <- struct{}{} }))
	fc := fs.nextConn(t)

	ch := c.Channel("supplier:2", client.ChannelConfig{})
	err := ch.Subscribe(testCtx(t))
	require.ErrorIs(t, err, client.ErrJoinRefused)
	require.ErrorContains(t, err, "you may not join supplier:2")
	require.Equal(t, client.ChannelClosed, ch.State())
	require.ErrorIs(t, ch.Send(testCtx(t), "x", map[string]int{}), client.ErrNotJoined)

	// After a reconnect the refused channel is not rejoined: the first join
	// on the new socket is the one subscribed afterwards.
	require.NoError(t, fc.ws.Close(websocket.StatusGoingAway, "restart"))
	fc2 := fs.nextConn(t)
	recv(t, resync)
	require.NoError(t, c.Channel("supplier:3", client.ChannelConfig{}).Subscribe(testCtx(t)))
	first := fc2.expect(t, "a join", func(m protocol.Message) bool { return m.Event == protocol.EventJoin })
	require.Equal(t, "realtime:supplier:3", first.msg.Topic)
}

// postgres_changes: the join lists the handlers' filters; the reply's ids
// (in another order) are matched by content; each change reaches only the
// handlers whose id it carries; system messages reach OnSystem.
func TestClientPostgresChangesRoutedByIDs(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN1)
	fs.setOnJoin(func(m protocol.Message) (string, any) {
		return "ok", map[string]any{"postgres_changes": []map[string]any{
			{"id": 22, "event": "UPDATE", "schema": "public", "table": "clients"},
			{"id": 11, "event": "INSERT", "schema": "public", "table": "bookings", "filter": "supplier_id=eq.1"},
		}}
	})
	c := newClient(t, fs)
	fc := fs.nextConn(t)

	got := make(chan string, 16)
	ch := c.Channel("supplier:1", client.ChannelConfig{})
	ch.OnPostgresChanges(protocol.PostgresChangeFilter{Event: "INSERT", Schema: "public", Table: "bookings", Filter: "supplier_id=eq.1"},
		func(pc protocol.PostgresChange) { got <- "bookings-handler:" + pc.Table })
	ch.OnPostgresChanges(protocol.PostgresChangeFilter{Event: "UPDATE", Schema: "public", Table: "clients"},
		func(pc protocol.PostgresChange) { got <- "clients-handler:" + pc.Table })
	ch.OnSystem(func(s protocol.SystemPayload) { got <- "system:" + s.Extension + ":" + s.Status })
	require.NoError(t, ch.Subscribe(testCtx(t)))

	join := fc.expectEvent(t, "realtime:supplier:1", protocol.EventJoin)
	require.Equal(t, []protocol.PostgresChangeFilter{
		{Event: "INSERT", Schema: "public", Table: "bookings", Filter: "supplier_id=eq.1"},
		{Event: "UPDATE", Schema: "public", Table: "clients"},
	}, joinPayload(t, join).Config.PostgresChanges)

	change := func(ids string, table string) {
		payload := fmt.Sprintf(`{"ids":%s,"data":{"schema":"public","table":%q,"commit_timestamp":"2026-01-01T00:00:00Z","type":"INSERT","record":{"id":1},"errors":null}}`, ids, table)
		require.NoError(t, fc.send(protocol.Message{JoinRef: join.Ref, Topic: join.Topic, Event: protocol.EventPostgresChanges, Payload: json.RawMessage(payload)}))
	}
	require.NoError(t, fc.send(protocol.Message{Topic: join.Topic, Event: protocol.EventSystem,
		Payload: json.RawMessage(`{"extension":"postgres_changes","status":"ok","message":"Subscribed to PostgreSQL","channel":"supplier:1"}`)}))
	change("[22]", "clients")
	change("[99]", "nobody")
	change("[11]", "bookings")
	change("[11,22]", "both")

	var seen []string
	for range 5 {
		seen = append(seen, recv(t, got))
	}
	require.Equal(t, []string{
		"system:postgres_changes:ok",
		"clients-handler:clients",
		"bookings-handler:bookings",
		"bookings-handler:both",
		"clients-handler:both",
	}, seen)
}

// Broadcast receive and send with both serializers: VSN2 sends kind 3
// binary frames and receives kind 4 ones; Ack waits for the reply.
func TestClientBroadcastBothSerializers(t *testing.T) {
	for _, vsn := range []string{protocol.VSN1, protocol.VSN2} {
		t.Run(vsn, func(t *testing.T) {
			fs := startFakeServer(t, vsn)
			c := newClient(t, fs)
			fc := fs.nextConn(t)
			require.Equal(t, vsn, fc.query.Get("vsn"))

			got := make(chan string, 16)
			ch := c.Channel("supplier:1", client.ChannelConfig{Broadcast: protocol.BroadcastConfig{Ack: true}})
			ch.OnBroadcast("booking.confirmed", func(m client.BroadcastMessage) { got <- "event:" + string(m.Payload) })
			ch.OnBroadcast("*", func(m client.BroadcastMessage) { got <- "all:" + m.Event })
			require.NoError(t, ch.Subscribe(testCtx(t)))
			join := fc.expectEvent(t, "realtime:supplier:1", protocol.EventJoin)

			// Receive: a text broadcast, and with VSN2 a kind 4 binary one.
			require.NoError(t, fc.broadcast("", join.Topic, "booking.confirmed", `{"id":1}`, nil))
			require.Equal(t, `event:{"id":1}`, recv(t, got))
			require.Equal(t, "all:booking.confirmed", recv(t, got))
			if vsn == protocol.VSN2 {
				frame, binary := protocol.EncodeBroadcast(vsn, join.Topic, "booking.confirmed", protocol.BroadcastMeta{ID: "m2"}, []byte(`{"id":2}`))
				require.True(t, binary)
				require.NoError(t, fc.ws.Write(context.Background(), websocket.MessageBinary, frame))
				require.Equal(t, `event:{"id":2}`, recv(t, got))
				require.Equal(t, "all:booking.confirmed", recv(t, got))
			}

			// Send with ack: ok reply, then an error reply.
			sendErr := make(chan error, 1)
			go func() { sendErr <- ch.Send(context.Background(), "kpi.updated", map[string]int{"revenue": 5}) }()
			f := fc.expect(t, "a broadcast", func(m protocol.Message) bool { return m.Event == protocol.EventBroadcast })
			if vsn == protocol.VSN2 {
				require.Equal(t, websocket.MessageBinary, f.typ)
			} else {
				require.Equal(t, websocket.MessageText, f.typ)
			}
			require.Equal(t, join.Ref, f.msg.JoinRef)
			require.NotEmpty(t, f.msg.Ref)
			require.JSONEq(t, `{"type":"broadcast","event":"kpi.updated","payload":{"revenue":5}}`, string(f.msg.Payload))
			require.NoError(t, fc.reply(f.msg, "ok", nil))
			require.NoError(t, recv(t, sendErr))

			go func() { sendErr <- ch.Send(context.Background(), "kpi.updated", json.RawMessage(`{}`)) }()
			f = fc.expect(t, "a broadcast", func(m protocol.Message) bool { return m.Event == protocol.EventBroadcast })
			require.NoError(t, fc.reply(f.msg, "error", map[string]string{"reason": "rate limited"}))
			err := recv(t, sendErr)
			require.ErrorIs(t, err, client.ErrReplyError)
			require.ErrorContains(t, err, "rate limited")
		})
	}
}

// Send without ack returns once written.
func TestClientBroadcastWithoutAck(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN1)
	c := newClient(t, fs)
	fc := fs.nextConn(t)
	ch := c.Channel("supplier:1", client.ChannelConfig{})
	require.NoError(t, ch.Subscribe(testCtx(t)))
	require.NoError(t, ch.Send(testCtx(t), "ping", map[string]bool{"ok": true}))
	f := fc.expect(t, "a broadcast", func(m protocol.Message) bool { return m.Event == protocol.EventBroadcast })
	require.JSONEq(t, `{"type":"broadcast","event":"ping","payload":{"ok":true}}`, string(f.msg.Payload))
}

// Presence: presence_state replaces the state, presence_diff applies joins
// then leaves by phx_ref; Track and Untrack send the presence pushes.
func TestClientPresence(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN1)
	c := newClient(t, fs)
	fc := fs.nextConn(t)

	got := make(chan string, 16)
	ch := c.Channel("room:1", client.ChannelConfig{Presence: true, PresenceKey: "u1"})
	ch.OnPresence(func(e client.PresenceEvent) {
		var refs []string
		for _, m := range e.Metas {
			var r string
			_ = json.Unmarshal(m["phx_ref"], &r)
			refs = append(refs, r)
		}
		got <- e.Kind + ":" + e.Key + ":" + strings.Join(refs, ",")
	})
	require.NoError(t, ch.Subscribe(testCtx(t)))
	join := fc.expectEvent(t, "realtime:room:1", protocol.EventJoin)
	p := joinPayload(t, join)
	require.True(t, p.Config.Presence.Enabled)
	require.Equal(t, "u1", p.Config.Presence.Key)

	require.NoError(t, fc.send(protocol.Message{Topic: join.Topic, Event: protocol.EventPresenceState,
		Payload: json.RawMessage(`{"u1":{"metas":[{"phx_ref":"a","name":"Ann"}]}}`)}))
	require.NoError(t, fc.send(protocol.Message{Topic: join.Topic, Event: protocol.EventPresenceDiff,
		Payload: json.RawMessage(`{"joins":{"u2":{"metas":[{"phx_ref":"b","name":"Bob"}]}},"leaves":{"u1":{"metas":[{"phx_ref":"a"}]}}}`)}))
	var seen []string
	for range 5 {
		seen = append(seen, recv(t, got))
	}
	require.Equal(t, []string{"join:u1:a", "sync::", "join:u2:b", "leave:u1:a", "sync::"}, seen)
	state := ch.PresenceState()
	require.Len(t, state, 1)
	require.Len(t, state["u2"].Metas, 1)
	require.JSONEq(t, `"Bob"`, string(state["u2"].Metas[0]["name"]))

	errc := make(chan error, 1)
	go func() { errc <- ch.Track(context.Background(), map[string]string{"name": "Ann"}) }()
	tr := fc.expectEvent(t, join.Topic, protocol.EventPresence)
	require.Equal(t, join.Ref, tr.JoinRef)
	require.JSONEq(t, `{"type":"presence","event":"track","payload":{"name":"Ann"}}`, string(tr.Payload))
	require.NoError(t, fc.reply(tr, "ok", nil))
	require.NoError(t, recv(t, errc))

	go func() { errc <- ch.Untrack(context.Background()) }()
	un := fc.expectEvent(t, join.Topic, protocol.EventPresence)
	require.JSONEq(t, `{"type":"presence","event":"untrack"}`, string(un.Payload))
	require.NoError(t, fc.reply(un, "ok", nil))
	require.NoError(t, recv(t, errc))
}

// Heartbeats are sent every interval on the fake clock; one left
// unanswered closes the socket, and the client reconnects (after its
// backoff on the fake clock), rejoins with a fresh join_ref and calls
// OnResync.
func TestClientHeartbeatUnansweredReconnects(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN1)
	fs.noHeartbeatReply.Store(true)
	fclk := clockwork.NewFakeClockAt(time.Date(2026, 6, 6, 12, 0, 0, 0, time.UTC))
	resync := make(chan struct{}, 4)
	errs := make(chan error, 16)
	c := newClient(t, fs,
		client.WithClock(fclk),
		client.WithHeartbeatInterval(10*time.Second),
		client.WithReconnectBackoff(time.Second, time.Second),
		client.WithOnResync(func(context.Context) { resync <- struct{}{} }),
		client.WithOnError(func(err error) { errs <- err }),
	)
	ctx := testCtx(t)
	fc := fs.nextConn(t)
	ch := c.Channel("supplier:1", client.ChannelConfig{})
	require.NoError(t, ch.Subscribe(ctx))
	join1 := fc.expectEvent(t, "realtime:supplier:1", protocol.EventJoin)

	require.NoError(t, fclk.BlockUntilContext(ctx, 1)) // the heartbeat timer
	fclk.Advance(10 * time.Second)
	hb := fc.expectEvent(t, protocol.PhoenixTopic, protocol.EventHeartbeat)
	require.NotEmpty(t, hb.Ref)
	require.Empty(t, hb.JoinRef)
	require.JSONEq(t, `{}`, string(hb.Payload))

	require.NoError(t, fclk.BlockUntilContext(ctx, 1)) // the next heartbeat timer
	fclk.Advance(10 * time.Second)                     // the first is still unanswered
	require.NoError(t, fclk.BlockUntilContext(ctx, 1)) // the reconnect backoff (or the new session's heartbeat)
	fclk.Advance(time.Second)

	fc2 := fs.nextConn(t)
	join2 := fc2.expectEvent(t, "realtime:supplier:1", protocol.EventJoin)
	require.NotEqual(t, join1.JoinRef, join2.JoinRef)
	require.Equal(t, join2.Ref, join2.JoinRef)
	recv(t, resync)
	require.ErrorContains(t, recv(t, errs), "heartbeat")
	require.Equal(t, client.ChannelJoined, ch.State())
	st := c.Stats()
	require.EqualValues(t, 2, st.Connects)
	require.EqualValues(t, 1, st.Reconnects)
	require.GreaterOrEqual(t, st.ConnectedFor, 20*time.Second, "connected time is read from the fake clock")
}

// A heartbeat that is answered keeps the socket: the next interval sends
// another heartbeat on the same socket.
func TestClientHeartbeatAnsweredKeepsSocket(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN2)
	fclk := clockwork.NewFakeClockAt(time.Date(2026, 6, 6, 12, 0, 0, 0, time.UTC))
	c := newClient(t, fs, client.WithClock(fclk), client.WithHeartbeatInterval(time.Second))
	ctx := testCtx(t)
	fc := fs.nextConn(t)
	marks := make(chan string, 4)
	ch := c.Channel("supplier:1", client.ChannelConfig{})
	ch.OnBroadcast("mark", func(m client.BroadcastMessage) { marks <- string(m.Payload) })
	require.NoError(t, ch.Subscribe(ctx))
	var refs []string
	for i := range 3 {
		require.NoError(t, fclk.BlockUntilContext(ctx, 1))
		fclk.Advance(time.Second)
		refs = append(refs, fc.expectEvent(t, protocol.PhoenixTopic, protocol.EventHeartbeat).Ref)
		// The server answered before recording the heartbeat; a broadcast
		// sent now arrives after the answer, so once it is delivered the
		// client has seen the answer.
		mark := fmt.Sprintf("%d", i)
		require.NoError(t, fc.broadcast("", "realtime:supplier:1", "mark", mark, nil))
		require.Equal(t, mark, recv(t, marks))
	}
	require.Len(t, refs, 3)
	require.NotEqual(t, refs[0], refs[1])
	select {
	case <-fs.conns:
		t.Fatal("client reconnected although its heartbeats were answered")
	default:
	}
}

// The server closes the socket: the client reconnects, rejoins every
// joined channel with a fresh join_ref, calls OnResync once, and reports
// states and stats.
func TestClientReconnectAfterServerClose(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN1)
	resync := make(chan struct{}, 4)
	states := make(chan client.ConnState, 32)
	c := newClient(t, fs,
		client.WithOnResync(func(context.Context) { resync <- struct{}{} }),
		client.WithOnStateChange(func(s client.ConnState) { states <- s }),
	)
	fc := fs.nextConn(t)
	a := c.Channel("supplier:1", client.ChannelConfig{})
	b := c.Channel("supplier:1:calendar", client.ChannelConfig{})
	require.NoError(t, a.Subscribe(testCtx(t)))
	require.NoError(t, b.Subscribe(testCtx(t)))
	joinA := fc.expectEvent(t, "realtime:supplier:1", protocol.EventJoin)
	got := make(chan string, 4)
	a.OnBroadcast("*", func(m client.BroadcastMessage) { got <- string(m.Payload) })

	require.NoError(t, fc.ws.Close(websocket.StatusGoingAway, "server restart"))
	fc2 := fs.nextConn(t)
	rejoined := map[string]string{}
	for range 2 {
		m := fc2.expect(t, "a rejoin", func(m protocol.Message) bool { return m.Event == protocol.EventJoin }).msg
		rejoined[m.Topic] = m.JoinRef
	}
	require.Contains(t, rejoined, "realtime:supplier:1")
	require.Contains(t, rejoined, "realtime:supplier:1:calendar")
	require.NotEqual(t, joinA.JoinRef, rejoined["realtime:supplier:1"])
	recv(t, resync)
	require.Equal(t, client.ChannelJoined, a.State())
	require.Equal(t, client.ChannelJoined, b.State())

	// A message for the old join_ref is ignored; the new one is delivered.
	require.NoError(t, fc2.broadcast(joinA.JoinRef, "realtime:supplier:1", "x", `"stale"`, nil))
	require.NoError(t, fc2.broadcast(rejoined["realtime:supplier:1"], "realtime:supplier:1", "x", `"fresh"`, nil))
	require.Equal(t, `"fresh"`, recv(t, got))

	st := c.Stats()
	require.EqualValues(t, 2, st.Connects)
	require.EqualValues(t, 1, st.Reconnects)
	require.Equal(t, client.ConnConnected, st.State)

	var seen []client.ConnState
	for range 5 {
		seen = append(seen, recv(t, states))
	}
	require.Equal(t, []client.ConnState{client.ConnConnecting, client.ConnConnected, client.ConnDisconnected, client.ConnConnecting, client.ConnConnected}, seen)
	select {
	case <-resync:
		t.Fatal("OnResync called twice")
	default:
	}
}

// phx_error on a joined channel marks it errored and rejoins it on the
// same socket with a fresh join_ref.
func TestClientChannelErrorRejoins(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN1)
	c := newClient(t, fs)
	fc := fs.nextConn(t)
	ch := c.Channel("supplier:1", client.ChannelConfig{})
	got := make(chan string, 4)
	ch.OnBroadcast("*", func(m client.BroadcastMessage) { got <- string(m.Payload) })
	require.NoError(t, ch.Subscribe(testCtx(t)))
	join1 := fc.expectEvent(t, "realtime:supplier:1", protocol.EventJoin)

	require.NoError(t, fc.send(protocol.Message{JoinRef: join1.JoinRef, Topic: join1.Topic, Event: protocol.EventError}))
	join2 := fc.expectEvent(t, "realtime:supplier:1", protocol.EventJoin)
	require.NotEqual(t, join1.JoinRef, join2.JoinRef)
	require.NoError(t, fc.broadcast(join2.JoinRef, join2.Topic, "x", `"after rejoin"`, nil))
	require.Equal(t, `"after rejoin"`, recv(t, got))
	require.Equal(t, client.ChannelJoined, ch.State())
}

// Unsubscribe sends phx_leave with the channel's join_ref, waits for the
// reply and forgets the channel.
func TestClientUnsubscribe(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN1)
	c := newClient(t, fs)
	fc := fs.nextConn(t)
	ch := c.Channel("supplier:1", client.ChannelConfig{})
	require.NoError(t, ch.Subscribe(testCtx(t)))
	join := fc.expectEvent(t, "realtime:supplier:1", protocol.EventJoin)

	errc := make(chan error, 1)
	go func() { errc <- ch.Unsubscribe(context.Background()) }()
	leave := fc.expectEvent(t, join.Topic, protocol.EventLeave)
	require.Equal(t, join.JoinRef, leave.JoinRef)
	require.NoError(t, fc.reply(leave, "ok", nil))
	require.NoError(t, recv(t, errc))
	require.Equal(t, client.ChannelClosed, ch.State())
	require.ErrorIs(t, ch.Send(testCtx(t), "x", 1), client.ErrNotJoined)

	// The topic is free again.
	require.NoError(t, c.Channel("supplier:1", client.ChannelConfig{}).Subscribe(testCtx(t)))
}

// SetAccessToken sends access_token on every joined channel (with its
// join_ref), and the rejoin after a reconnect carries the new token.
func TestClientSetAccessToken(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN1)
	c := newClient(t, fs, client.WithAccessToken("token-1"))
	fc := fs.nextConn(t)
	joins := map[string]string{}
	for _, topic := range []string{"supplier:1", "supplier:1:kpi"} {
		require.NoError(t, c.Channel(topic, client.ChannelConfig{}).Subscribe(testCtx(t)))
		j := fc.expectEvent(t, protocol.WireTopic(topic), protocol.EventJoin)
		require.Equal(t, "token-1", joinPayload(t, j).AccessToken)
		joins[j.Topic] = j.JoinRef
	}

	require.NoError(t, c.SetAccessToken(testCtx(t), "token-2"))
	pushed := map[string]string{}
	for range 2 {
		m := fc.expect(t, "access_token", func(m protocol.Message) bool { return m.Event == protocol.EventAccessToken }).msg
		require.Equal(t, joins[m.Topic], m.JoinRef)
		require.JSONEq(t, `{"access_token":"token-2"}`, string(m.Payload))
		pushed[m.Topic] = m.JoinRef
	}
	require.Len(t, pushed, 2)

	require.NoError(t, fc.ws.Close(websocket.StatusGoingAway, "restart"))
	fc2 := fs.nextConn(t)
	for range 2 {
		j := fc2.expect(t, "a rejoin", func(m protocol.Message) bool { return m.Event == protocol.EventJoin }).msg
		require.Equal(t, "token-2", joinPayload(t, j).AccessToken)
	}
}

// The token source is called before connecting, again when 80% of the
// token's life has passed (on the fake clock) with the new token pushed to
// joined channels, and again before a reconnect.
func TestClientTokenSourceRefresh(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN1)
	fclk := clockwork.NewFakeClockAt(time.Date(2026, 6, 6, 12, 0, 0, 0, time.UTC))
	var calls atomic.Int32
	src := func(ctx context.Context) (string, time.Time, error) {
		n := calls.Add(1)
		return fmt.Sprintf("jwt-%d", n), fclk.Now().Add(10 * time.Minute), nil
	}
	c := newClient(t, fs,
		client.WithClock(fclk),
		client.WithTokenSource(src),
		client.WithReconnectBackoff(0, 0),
	)
	ctx := testCtx(t)
	fc := fs.nextConn(t)
	ch := c.Channel("supplier:1", client.ChannelConfig{})
	require.NoError(t, ch.Subscribe(ctx))
	join := fc.expectEvent(t, "realtime:supplier:1", protocol.EventJoin)
	require.Equal(t, "jwt-1", joinPayload(t, join).AccessToken)

	// Heartbeat and refresh timers; the refresh is due at 8 minutes.
	require.NoError(t, fclk.BlockUntilContext(ctx, 2))
	fclk.Advance(8 * time.Minute)
	m := fc.expectEvent(t, "realtime:supplier:1", protocol.EventAccessToken)
	require.Equal(t, join.JoinRef, m.JoinRef)
	require.JSONEq(t, `{"access_token":"jwt-2"}`, string(m.Payload))

	require.NoError(t, fc.ws.Close(websocket.StatusGoingAway, "restart"))
	fc2 := fs.nextConn(t)
	rejoin := fc2.expectEvent(t, "realtime:supplier:1", protocol.EventJoin)
	require.Equal(t, "jwt-3", joinPayload(t, rejoin).AccessToken)
}

// Replay: broadcasts 1, 2, 3 arrive; after a reconnect the rejoin asks for
// replay since the TS of 3 (private set); the server resends 3 and 4 and
// the handler sees 1, 2, 3, 4 exactly once, in order.
func TestClientReplayDedupesAfterReconnect(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN1)
	resync := make(chan struct{}, 4)
	c := newClient(t, fs, client.WithOnResync(func(context.Context) { resync <- struct{}{} }))
	fc := fs.nextConn(t)

	got := make(chan uint64, 16)
	ch := c.Channel("supplier:1", client.ChannelConfig{Replay: true})
	ch.OnBroadcast("booking.updated", func(m client.BroadcastMessage) { got <- m.Meta.Offset })
	require.NoError(t, ch.Subscribe(testCtx(t)))
	join := fc.expectEvent(t, "realtime:supplier:1", protocol.EventJoin)
	require.Nil(t, joinPayload(t, join).Config.Broadcast.Replay, "no replay on the first join without ReplaySince")

	for off := uint64(1); off <= 3; off++ {
		require.NoError(t, fc.broadcast("", join.Topic, "booking.updated", `{}`, broadcastMeta(off, false)))
	}
	for off := uint64(1); off <= 3; off++ {
		require.Equal(t, off, recv(t, got))
	}

	require.NoError(t, fc.ws.Close(websocket.StatusGoingAway, "restart"))
	fc2 := fs.nextConn(t)
	rejoin := fc2.expectEvent(t, "realtime:supplier:1", protocol.EventJoin)
	p := joinPayload(t, rejoin)
	require.NotNil(t, p.Config.Broadcast.Replay)
	require.Equal(t, broadcastMeta(3, false).TS, p.Config.Broadcast.Replay.Since)
	require.True(t, p.Config.Private)

	require.NoError(t, fc2.broadcast(rejoin.JoinRef, rejoin.Topic, "booking.updated", `{}`, broadcastMeta(3, true)))
	require.NoError(t, fc2.broadcast(rejoin.JoinRef, rejoin.Topic, "booking.updated", `{}`, broadcastMeta(4, true)))
	require.Equal(t, uint64(4), recv(t, got), "the replayed duplicate of 3 must be dropped")
	recv(t, resync)
}

// Replay: a new epoch calls OnReload("epoch") before its broadcast is
// delivered; a replay_incomplete system message calls OnReload too.
// ReplaySince asks for replay on the first join.
func TestClientReplayReload(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN1)
	c := newClient(t, fs)
	fc := fs.nextConn(t)
	since := time.UnixMilli(1_700_000_000_000)
	got := make(chan string, 16)
	ch := c.Channel("supplier:1", client.ChannelConfig{Replay: true, ReplaySince: since})
	ch.OnBroadcast("*", func(m client.BroadcastMessage) { got <- fmt.Sprintf("broadcast:%s:%d", m.Meta.Epoch, m.Meta.Offset) })
	ch.OnReload(func(reason string) { got <- "reload:" + reason })
	ch.OnSystem(func(s protocol.SystemPayload) { got <- "system:" + s.Code })
	require.NoError(t, ch.Subscribe(testCtx(t)))
	join := fc.expectEvent(t, "realtime:supplier:1", protocol.EventJoin)
	p := joinPayload(t, join)
	require.Equal(t, since.UnixMilli(), p.Config.Broadcast.Replay.Since)
	require.True(t, p.Config.Private)

	require.NoError(t, fc.broadcast("", join.Topic, "a", `{}`, &protocol.BroadcastMeta{Epoch: "e1", Offset: 7, TS: 1}))
	require.NoError(t, fc.broadcast("", join.Topic, "a", `{}`, &protocol.BroadcastMeta{Epoch: "e2", Offset: 1, TS: 2}))
	require.NoError(t, fc.send(protocol.Message{Topic: join.Topic, Event: protocol.EventSystem,
		Payload: json.RawMessage(`{"extension":"system","status":"error","message":"history too short","code":"replay_incomplete"}`)}))
	var seen []string
	for range 5 {
		seen = append(seen, recv(t, got))
	}
	require.Equal(t, []string{"broadcast:e1:7", "reload:epoch", "broadcast:e2:1", "system:replay_incomplete", "reload:replay_incomplete"}, seen)
}

// Malformed frames and unexpected replies are reported through OnError
// (frame errors wrap ErrFrame); the client carries on.
func TestClientMalformedFramesReported(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN1)
	errs := make(chan error, 32)
	c := newClient(t, fs, client.WithOnError(func(err error) { errs <- err }))
	fc := fs.nextConn(t)
	got := make(chan string, 4)
	ch := c.Channel("supplier:1", client.ChannelConfig{})
	ch.OnBroadcast("*", func(m client.BroadcastMessage) { got <- string(m.Payload) })
	ch.OnPresence(func(client.PresenceEvent) { got <- "presence" })
	require.NoError(t, ch.Subscribe(testCtx(t)))
	topic := "realtime:supplier:1"

	bg := context.Background()
	require.NoError(t, fc.ws.Write(bg, websocket.MessageText, []byte(`not json`)))
	require.NoError(t, fc.ws.Write(bg, websocket.MessageText, []byte(`{"event":"broadcast","payload":{}}`)))
	require.NoError(t, fc.ws.Write(bg, websocket.MessageBinary, []byte{9, 1, 2}))
	require.NoError(t, fc.ws.Write(bg, websocket.MessageBinary, []byte{4, 200, 1, 0, 1}))
	require.NoError(t, fc.send(protocol.Message{Topic: topic, Event: protocol.EventBroadcast, Payload: json.RawMessage(`{"type":"broadcast"}`)}))
	require.NoError(t, fc.send(protocol.Message{Topic: topic, Event: protocol.EventPostgresChanges, Payload: json.RawMessage(`{"ids":"nope"}`)}))
	require.NoError(t, fc.send(protocol.Message{Topic: topic, Event: protocol.EventPresenceDiff, Payload: json.RawMessage(`{"joins":[1]}`)}))
	require.NoError(t, fc.send(protocol.Message{Topic: topic, Event: protocol.EventSystem, Payload: json.RawMessage(`{"status":5}`)}))
	require.NoError(t, fc.send(protocol.Message{Ref: "9999", Topic: topic, Event: protocol.EventReply, Payload: json.RawMessage(`{"status":"ok","response":{}}`)}))
	require.NoError(t, fc.broadcast("", topic, "ok", `"still alive"`, nil))
	require.Equal(t, `"still alive"`, recv(t, got))

	// OnError runs on the handler goroutine before the broadcast handler,
	// so every report is already in errs.
	var frameErrs, replyErrs int
	for len(errs) > 0 {
		err := <-errs
		switch {
		case errors.Is(err, protocol.ErrFrame):
			frameErrs++
		case strings.Contains(err.Error(), "unexpected phx_reply"):
			replyErrs++
		default:
			t.Errorf("unexpected error report: %v", err)
		}
	}
	require.Equal(t, 8, frameErrs)
	require.Equal(t, 1, replyErrs)
	require.NoError(t, ch.Send(testCtx(t), "after", 1))
	require.Equal(t, client.ConnConnected, c.Stats().State)
}

// A panicking handler is reported and the client keeps delivering.
func TestClientHandlerPanicReported(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN1)
	errs := make(chan error, 4)
	c := newClient(t, fs, client.WithOnError(func(err error) { errs <- err }))
	fc := fs.nextConn(t)
	got := make(chan string, 4)
	ch := c.Channel("supplier:1", client.ChannelConfig{})
	ch.OnBroadcast("boom", func(client.BroadcastMessage) { panic("handler bug") })
	ch.OnBroadcast("ok", func(m client.BroadcastMessage) { got <- m.Event })
	require.NoError(t, ch.Subscribe(testCtx(t)))
	require.NoError(t, fc.broadcast("", "realtime:supplier:1", "boom", `{}`, nil))
	require.NoError(t, fc.broadcast("", "realtime:supplier:1", "ok", `{}`, nil))
	require.Equal(t, "ok", recv(t, got))
	require.ErrorContains(t, recv(t, errs), "handler bug")
}

// Connect reports dial failures through OnError and returns ctx's error
// (with the last dial error) when ctx ends first.
func TestClientConnectFailsUntilCtxDone(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "bad key", http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.New("ws"+strings.TrimPrefix(srv.URL, "http"), client.WithAPIKey("wrong"),
		client.WithReconnectBackoff(time.Millisecond, 2*time.Millisecond),
		client.WithOnError(func(error) { cancel() }))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	err = c.Connect(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "401")
}

// Close is idempotent, ends every goroutine (goleak checks in TestMain),
// reports the closed state last, and later calls fail with ErrClientClosed.
func TestClientCloseIdempotent(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN2)
	states := make(chan client.ConnState, 16)
	c, err := client.New(fs.URL(), client.WithVSN(protocol.VSN2),
		client.WithOnStateChange(func(s client.ConnState) { states <- s }))
	require.NoError(t, err)
	require.NoError(t, c.Connect(testCtx(t)))
	fc := fs.nextConn(t)
	ch := c.Channel("supplier:1", client.ChannelConfig{})
	require.NoError(t, ch.Subscribe(testCtx(t)))

	require.NoError(t, c.Close())
	require.NoError(t, c.Close())
	require.Equal(t, client.ConnClosed, c.Stats().State)
	require.Equal(t, client.ChannelClosed, ch.State())
	require.ErrorIs(t, c.Connect(testCtx(t)), client.ErrClientClosed)
	require.ErrorIs(t, c.Channel("x", client.ChannelConfig{}).Subscribe(testCtx(t)), client.ErrClientClosed)
	require.ErrorIs(t, ch.Send(testCtx(t), "x", 1), client.ErrClientClosed)
	require.ErrorIs(t, c.SetAccessToken(testCtx(t), "t"), client.ErrClientClosed)

	var seen []client.ConnState
	for len(states) > 0 {
		seen = append(seen, <-states)
	}
	require.Equal(t, []client.ConnState{client.ConnConnecting, client.ConnConnected, client.ConnDisconnected, client.ConnClosed}, seen)
	// The socket was closed with a normal closure.
	recv(t, fc.closed)
	require.Equal(t, websocket.StatusNormalClosure, fc.closeStatus)
}

// Close on a client that never connected is fine too.
func TestClientCloseWithoutConnect(t *testing.T) {
	c, err := client.New("ws://127.0.0.1:1/realtime/v1/websocket")
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.Equal(t, "closed", c.Stats().State.String())
}

// Dial errors never carry the API key, which travels in the URL.
func TestClientDialErrorsHideAPIKey(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.Listener.Addr().String()
	srv.Close() // nothing listens there now
	errs := make(chan error, 16)
	c, err := client.New("ws://"+addr+"/realtime/v1/websocket", client.WithAPIKey("service-role-secret"),
		client.WithReconnectBackoff(time.Millisecond, 2*time.Millisecond),
		client.WithOnError(func(err error) { errs <- err }))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.Error(t, c.Connect(ctx))
	err = recv(t, errs)
	require.ErrorContains(t, err, "client: dial")
	require.NotContains(t, err.Error(), "service-role-secret")
}

// phx_close on a joined channel makes the client rejoin it, asking the
// token source first, so the rejoin carries a fresh token.
func TestClientChannelCloseRejoinsWithFreshToken(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN1)
	var calls atomic.Int32
	c := newClient(t, fs, client.WithTokenSource(func(context.Context) (string, time.Time, error) {
		return fmt.Sprintf("jwt-%d", calls.Add(1)), time.Now().Add(time.Hour), nil
	}))
	fc := fs.nextConn(t)
	ch := c.Channel("supplier:1", client.ChannelConfig{})
	require.NoError(t, ch.Subscribe(testCtx(t)))
	join1 := fc.expectEvent(t, "realtime:supplier:1", protocol.EventJoin)
	require.Equal(t, "jwt-1", joinPayload(t, join1).AccessToken)

	require.NoError(t, fc.send(protocol.Message{Topic: join1.Topic, Event: protocol.EventSystem,
		Payload: json.RawMessage(`{"extension":"system","status":"error","message":"token expired","code":"token_expired"}`)}))
	require.NoError(t, fc.send(protocol.Message{JoinRef: join1.JoinRef, Topic: join1.Topic, Event: protocol.EventClose}))
	join2 := fc.expectEvent(t, "realtime:supplier:1", protocol.EventJoin)
	require.Equal(t, "jwt-2", joinPayload(t, join2).AccessToken)
	require.NotEqual(t, join1.JoinRef, join2.JoinRef)
}

// phx_error while Subscribe waits for the join reply fails the Subscribe,
// and a channel that never joined is not rejoined.
func TestClientErrorWhileJoiningFailsSubscribe(t *testing.T) {
	fs := startFakeServer(t, protocol.VSN1)
	fs.setOnJoin(func(protocol.Message) (string, any) { return "", nil }) // no reply
	c := newClient(t, fs)
	fc := fs.nextConn(t)
	ch := c.Channel("supplier:1", client.ChannelConfig{})
	errc := make(chan error, 1)
	go func() { errc <- ch.Subscribe(context.Background()) }()
	join := fc.expectEvent(t, "realtime:supplier:1", protocol.EventJoin)
	require.NoError(t, fc.send(protocol.Message{JoinRef: join.JoinRef, Topic: join.Topic, Event: protocol.EventError}))
	err := recv(t, errc)
	require.ErrorContains(t, err, "errored while joining")
	require.Equal(t, client.ChannelClosed, ch.State())
}
