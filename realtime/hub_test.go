package realtime_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/protocol"
)

var (
	ctxBG       = context.Background()
	joinPayload = map[string]any{"config": map[string]any{"broadcast": map[string]any{"self": false}}}
)

func TestHubRefusesHandshakeWithoutValidToken(t *testing.T) {
	env := newHubEnv(t)
	for _, tc := range []struct{ name, query string }{
		{"no token", ""},
		{"bad token", "?apikey=nope"},
		{"bad vsn", "?apikey=sup:1&vsn=9.9.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, resp, err := websocket.Dial(ctxBG, env.url+tc.query, nil)
			require.Error(t, err)
			require.NotNil(t, resp)
			resp.Body.Close()
			if tc.name == "bad vsn" {
				require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			} else {
				require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			}
		})
	}
	// The header works as well as the query parameter.
	ws, resp, err := websocket.Dial(ctxBG, env.url, &websocket.DialOptions{HTTPHeader: http.Header{"X-Api-Key": {"sup:1"}}})
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	ws.CloseNow()
}

func TestHubJoinBroadcastBothSerializers(t *testing.T) {
	env := newHubEnv(t)
	for _, vsn := range []string{"", protocol.VSN1, protocol.VSN2} {
		t.Run("vsn="+vsn, func(t *testing.T) {
			p := dialPeer(t, env.url, "sup:7", vsn)
			p.mustJoin("supplier:7", joinPayload)
			pub, err := env.hub.Broadcast(ctxBG, "supplier:7", "kpi.updated", json.RawMessage(`{"bookings": 12, "revenue":"£3,400"}`))
			require.NoError(t, err)
			b := p.readBroadcast()
			require.Equal(t, "broadcast", b.Type)
			require.Equal(t, "kpi.updated", b.Event)
			require.JSONEq(t, `{"bookings": 12, "revenue":"£3,400"}`, string(b.Payload))
			require.NotNil(t, b.Meta)
			require.Equal(t, pub.ID(), b.Meta.ID)
			require.Equal(t, pub.Offset, b.Meta.Offset)
			require.Equal(t, pub.Time.UnixMilli(), b.Meta.TS)
			require.False(t, b.Meta.Replayed)
		})
	}
}

func TestHubVSN2BroadcastIsBinaryKind4(t *testing.T) {
	env := newHubEnv(t)
	p := dialPeer(t, env.url, "sup:7", protocol.VSN2)
	p.mustJoin("supplier:7", joinPayload)
	_, err := env.hub.Broadcast(ctxBG, "supplier:7", "kpi.updated", map[string]int{"n": 1})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(ctxBG, 10*time.Second)
	defer cancel()
	typ, data, err := p.ws.Read(ctx)
	require.NoError(t, err)
	require.Equal(t, websocket.MessageBinary, typ)
	require.Equal(t, byte(4), data[0])
	topic := string(data[5 : 5+int(data[1])])
	require.Equal(t, "realtime:supplier:7", topic)
}

func TestHubRefusesAnotherSuppliersTopicAndSendsNothingOfIt(t *testing.T) {
	env := newHubEnv(t)
	p := dialPeer(t, env.url, "sup:1", protocol.VSN1)
	_, r := p.join("supplier:2", joinPayload)
	require.Equal(t, "error", r.Status)
	require.Contains(t, string(r.Response), "may not join")
	// Also through a join payload token for supplier 1 on supplier 10's topic.
	_, r = p.join("supplier:10", map[string]any{"config": map[string]any{}, "access_token": "sup:1"})
	require.Equal(t, "error", r.Status)
	p.mustJoin("supplier:1", joinPayload)

	for i := range 5 {
		_, err := env.hub.Broadcast(ctxBG, "supplier:2", "secret", map[string]int{"i": i})
		require.NoError(t, err)
		_, err = env.hub.Broadcast(ctxBG, "supplier:10", "secret", map[string]int{"i": i})
		require.NoError(t, err)
	}
	_, err := env.hub.Broadcast(ctxBG, "supplier:1", "mine", map[string]int{"i": 0})
	require.NoError(t, err)
	// The first frame after the refusals is supplier 1's own broadcast:
	// nothing of the other topics came through.
	m := p.read()
	require.Equal(t, "realtime:supplier:1", m.Topic)
	require.Contains(t, string(m.Payload), `"mine"`)
}

func TestHubHeartbeatAndUnmatchedTopic(t *testing.T) {
	env := newHubEnv(t)
	p := dialPeer(t, env.url, "sup:1", protocol.VSN2)
	p.send(protocol.Message{Ref: "9", Topic: "phoenix", Event: "heartbeat", Payload: json.RawMessage(`{}`)})
	m := p.read()
	require.Equal(t, "phx_reply", m.Event)
	require.Equal(t, "9", m.Ref)
	require.JSONEq(t, `{"status":"ok","response":{}}`, string(m.Payload))

	p.send(protocol.Message{Ref: "10", Topic: "realtime:supplier:1", Event: "broadcast", Payload: json.RawMessage(`{}`)})
	m = p.read()
	require.Contains(t, string(m.Payload), "unmatched topic")

	// Malformed frames get a system error and the socket stays up.
	require.NoError(t, p.ws.Write(ctxBG, websocket.MessageText, []byte(`[1,2,`)))
	m = p.read()
	require.Equal(t, "system", m.Event)
	p.send(protocol.Message{Ref: "11", Topic: "phoenix", Event: "heartbeat"})
	require.Equal(t, "11", p.readEvent("phx_reply").Ref)
}

func TestHubReplaySinceIsCompleteAndInOrder(t *testing.T) {
	env := newHubEnv(t)
	var pubs []realtime.Publication
	for i := range 5 {
		pub, err := env.hub.Broadcast(ctxBG, "supplier:3", "booking.updated", map[string]int{"i": i})
		require.NoError(t, err)
		pubs = append(pubs, pub)
	}
	p := dialPeer(t, env.url, "sup:3", protocol.VSN1)
	p.mustJoin("supplier:3", map[string]any{"config": map[string]any{"private": true,
		"broadcast": map[string]any{"replay": map[string]any{"since": pubs[2].Time.UnixMilli()}}}})
	// Since is inclusive (milliseconds): at least 2..4 come back, in order,
	// marked replayed, and nothing before 2 unless it shares its millisecond.
	var got []uint64
	for {
		m := p.read()
		if m.Event == "system" {
			require.Contains(t, string(m.Payload), protocol.CodeReplayComplete)
			break
		}
		var b protocol.BroadcastPayload
		require.NoError(t, json.Unmarshal(m.Payload, &b))
		require.True(t, b.Meta.Replayed)
		got = append(got, b.Meta.Offset)
	}
	require.NotEmpty(t, got)
	require.Equal(t, uint64(5), got[len(got)-1])
	for i := 1; i < len(got); i++ {
		require.Equal(t, got[i-1]+1, got[i])
	}
	require.LessOrEqual(t, got[0], uint64(3))
	// Then live.
	_, err := env.hub.Broadcast(ctxBG, "supplier:3", "booking.updated", map[string]int{"i": 5})
	require.NoError(t, err)
	b := p.readBroadcast()
	require.Equal(t, uint64(6), b.Meta.Offset)
	require.False(t, b.Meta.Replayed)
}

func TestHubReplayTooOldSaysReload(t *testing.T) {
	b, err := realtime.NewMemoryBroker(realtime.WithHistorySize(3))
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	env := newHubEnv(t, realtime.WithBroker(b))
	first, err := env.hub.Broadcast(ctxBG, "supplier:3", "e", nil)
	require.NoError(t, err)
	for range 5 {
		_, err := env.hub.Broadcast(ctxBG, "supplier:3", "e", nil)
		require.NoError(t, err)
	}
	p := dialPeer(t, env.url, "sup:3", protocol.VSN2)
	p.mustJoin("supplier:3", map[string]any{"config": map[string]any{"private": true,
		"broadcast": map[string]any{"replay": map[string]any{"since": first.Time.UnixMilli()}}}})
	m := p.read()
	require.Equal(t, "system", m.Event)
	var sys protocol.SystemPayload
	require.NoError(t, json.Unmarshal(m.Payload, &sys))
	require.Equal(t, protocol.CodeReplayIncomplete, sys.Code)
	require.Equal(t, "error", sys.Status)
	require.Equal(t, "supplier:3", sys.Channel)
	// No partial replay: the next broadcast is live.
	_, err = env.hub.Broadcast(ctxBG, "supplier:3", "e", nil)
	require.NoError(t, err)
	got := p.readBroadcast()
	require.Equal(t, uint64(7), got.Meta.Offset)
	require.False(t, got.Meta.Replayed)

	// A replay older than the broker itself is incomplete too.
	p2 := dialPeer(t, env.url, "sup:3", protocol.VSN1)
	p2.mustJoin("supplier:3", map[string]any{"config": map[string]any{"broadcast": map[string]any{"replay": map[string]any{"since": 1}}}})
	require.Contains(t, string(p2.readEvent("system").Payload), protocol.CodeReplayIncomplete)
}

func TestHubExpiredTokenClosesChannel(t *testing.T) {
	clk := fakeClock()
	env := newHubEnv(t, realtime.WithClock(clk), realtime.WithIdleTimeout(time.Hour))
	exp := clk.Now().Add(30 * time.Second).Unix()
	p := dialPeer(t, env.url, "sup:4", protocol.VSN1)
	p.mustJoin("supplier:4", map[string]any{"config": map[string]any{}, "access_token": "sup:4:" + strconv.FormatInt(exp, 10)})
	advanceSweep(t, clk, 31*time.Second)
	m := p.readEvent("system")
	var sys protocol.SystemPayload
	require.NoError(t, json.Unmarshal(m.Payload, &sys))
	require.Equal(t, protocol.CodeTokenExpired, sys.Code)
	require.Equal(t, "error", sys.Status)
	require.Equal(t, "phx_close", p.read().Event)
	// The channel is gone: a broadcast does not arrive, the socket lives.
	_, err := env.hub.Broadcast(ctxBG, "supplier:4", "e", nil)
	require.NoError(t, err)
	p.send(protocol.Message{Ref: "77", Topic: "phoenix", Event: "heartbeat"})
	require.Equal(t, "77", p.read().Ref)

	// An already-expired token cannot join.
	_, r := p.join("supplier:4", map[string]any{"config": map[string]any{}, "access_token": "sup:4:" + strconv.FormatInt(exp, 10)})
	require.Equal(t, "error", r.Status)
}

// A channel is on its socket, where the sweep looks for expired tokens,
// by the time its join reply is queued. Put there after the reply, a sweep
// in between missed it until the next one; on a fake clock there was no
// next one, and TestHubExpiredTokenClosesChannel failed 1 run in 20.
func TestHubJoinReplyQueuedAfterTheSweepCanSeeTheChannel(t *testing.T) {
	var hub atomic.Pointer[realtime.Hub]
	atReply := make(chan int, 1)
	env := newHubEnv(t, realtime.WithQueuedHook(func(data []byte) {
		m, err := protocol.DecodeText(protocol.VSN1, data)
		if err == nil && m.Event == protocol.EventReply && m.Topic == "realtime:supplier:4" {
			select {
			case atReply <- realtime.SocketChannels(hub.Load()):
			default:
			}
		}
	}))
	hub.Store(env.hub)
	p := dialPeer(t, env.url, "sup:4", protocol.VSN1)
	p.mustJoin("supplier:4", map[string]any{"config": map[string]any{}})
	// The hook runs just after the frame is queued: perhaps after the
	// client read it.
	ctx, cancel := context.WithTimeout(ctxBG, 10*time.Second)
	defer cancel()
	select {
	case n := <-atReply:
		require.Equal(t, 1, n, "channels on the socket when the join reply was queued")
	case <-ctx.Done():
		t.Fatal("the join reply was never queued")
	}
}

func TestHubAccessTokenRefresh(t *testing.T) {
	clk := fakeClock()
	env := newHubEnv(t, realtime.WithClock(clk), realtime.WithIdleTimeout(time.Hour))
	soon := strconv.FormatInt(clk.Now().Add(30*time.Second).Unix(), 10)
	later := strconv.FormatInt(clk.Now().Add(time.Hour).Unix(), 10)
	p := dialPeer(t, env.url, "sup:5", protocol.VSN1)
	p.mustJoin("supplier:5", map[string]any{"config": map[string]any{}, "access_token": "sup:5:" + soon})
	p.send(protocol.Message{Ref: "50", JoinRef: "1", Topic: "realtime:supplier:5", Event: "access_token", Payload: json.RawMessage(`{"access_token":"sup:5:` + later + `"}`)})
	// A heartbeat round trip orders the refresh before the clock moves.
	p.send(protocol.Message{Ref: "51", Topic: "phoenix", Event: "heartbeat"})
	require.Equal(t, "51", p.readEvent("phx_reply").Ref)
	// The sweep has run at the new time before the broadcast goes out: had
	// it closed the channel, its frames would come first.
	advanceSweep(t, clk, time.Minute)
	_, err := env.hub.Broadcast(ctxBG, "supplier:5", "still.here", nil)
	require.NoError(t, err)
	require.Equal(t, "still.here", p.readBroadcast().Event)

	// A refresh to another supplier's token closes the channel.
	p.send(protocol.Message{Ref: "52", JoinRef: "1", Topic: "realtime:supplier:5", Event: "access_token", Payload: json.RawMessage(`{"access_token":"sup:6"}`)})
	m := p.readEvent("system")
	require.Contains(t, string(m.Payload), protocol.CodeTokenInvalid)
	require.Equal(t, "phx_close", p.read().Event)
}

func TestHubIdleSocketClosed(t *testing.T) {
	clk := fakeClock()
	env := newHubEnv(t, realtime.WithClock(clk))
	p := dialPeer(t, env.url, "sup:1", protocol.VSN1)
	p.send(protocol.Message{Ref: "1", Topic: "phoenix", Event: "heartbeat"})
	p.read()
	advanceSweep(t, clk, 61*time.Second)
	_, err := p.tryRead(10 * time.Second)
	require.Error(t, err)
	require.Equal(t, websocket.StatusPolicyViolation, closeStatus(err))
}

func TestHubPresence(t *testing.T) {
	env := newHubEnv(t)
	a := dialPeer(t, env.url, "sup:8::anna", protocol.VSN1)
	a.mustJoin("supplier:8", map[string]any{"config": map[string]any{"presence": map[string]any{"enabled": true}}})
	require.Equal(t, "presence_state", a.read().Event)
	a.send(protocol.Message{Ref: "20", JoinRef: "1", Topic: "realtime:supplier:8", Event: "presence",
		Payload: json.RawMessage(`{"type":"presence","event":"track","payload":{"page":"dashboard"}}`)})
	require.Equal(t, "phx_reply", a.readEvent("phx_reply").Event)
	diff := a.readEvent("presence_diff")
	require.Contains(t, string(diff.Payload), `"anna"`)

	b := dialPeer(t, env.url, "sup:8::ben", protocol.VSN2)
	b.mustJoin("supplier:8", map[string]any{"config": map[string]any{"presence": map[string]any{"enabled": true}}})
	st := b.read()
	require.Equal(t, "presence_state", st.Event)
	var state protocol.PresenceState
	require.NoError(t, json.Unmarshal(st.Payload, &state))
	require.Len(t, state["anna"].Metas, 1)
	require.JSONEq(t, `"dashboard"`, string(state["anna"].Metas[0]["page"]))
	require.NotEmpty(t, state["anna"].Metas[0]["phx_ref"])

	// anna's socket goes away: ben sees her leave.
	a.ws.CloseNow()
	leave := b.readEvent("presence_diff")
	var d protocol.PresenceDiff
	require.NoError(t, json.Unmarshal(leave.Payload, &d))
	require.Contains(t, d.Leaves, "anna")
}

func TestHubPostgresChangesRoutedByIDs(t *testing.T) {
	env := newHubEnv(t)
	p := dialPeer(t, env.url, "sup:9", protocol.VSN1)
	_, r := p.join("supplier:9", map[string]any{"config": map[string]any{"postgres_changes": []map[string]string{
		{"event": "INSERT", "schema": "public", "table": "bookings", "filter": "supplier_id=eq.9"},
		{"event": "*", "schema": "public", "table": "supplier_kpis"},
	}}})
	require.Equal(t, "ok", r.Status)
	var resp protocol.JoinResponse
	require.NoError(t, json.Unmarshal(r.Response, &resp))
	require.Len(t, resp.PostgresChanges, 2)
	require.Equal(t, int64(1), resp.PostgresChanges[0].ID)
	require.Equal(t, int64(2), resp.PostgresChanges[1].ID)
	require.Contains(t, string(p.readEvent("system").Payload), "postgres_changes")

	n, err := env.hub.EmitPostgresChange(ctxBG, "supplier:9", protocol.PostgresChange{Schema: "public", Table: "bookings", Type: "INSERT",
		Record: json.RawMessage(`{"id":1,"supplier_id":8}`)})
	require.NoError(t, err)
	require.Equal(t, 0, n, "the filter supplier_id=eq.9 does not match supplier 8")
	n, err = env.hub.EmitPostgresChange(ctxBG, "supplier:9", protocol.PostgresChange{Schema: "public", Table: "supplier_kpis", Type: "UPDATE",
		Record: json.RawMessage(`{"supplier_id":9,"bookings":4}`)})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	m := p.readEvent("postgres_changes")
	var pc protocol.PostgresChangesPayload
	require.NoError(t, json.Unmarshal(m.Payload, &pc))
	require.Equal(t, []int64{2}, pc.IDs)
	require.Equal(t, "supplier_kpis", pc.Data.Table)

	_, r = p.join("supplier:9:x", map[string]any{"config": map[string]any{"postgres_changes": []map[string]string{{"event": "TRUNCATE", "schema": "public"}}}})
	require.Equal(t, "error", r.Status)
	require.Contains(t, string(r.Response), "postgres_changes[0].event")
}

func TestHubClientBroadcastNeedsAuthorizer(t *testing.T) {
	env := newHubEnv(t)
	p := dialPeer(t, env.url, "sup:1", protocol.VSN1)
	p.mustJoin("supplier:1", map[string]any{"config": map[string]any{"broadcast": map[string]any{"ack": true}}})
	p.send(protocol.Message{Ref: "5", JoinRef: "1", Topic: "realtime:supplier:1", Event: "broadcast", Payload: json.RawMessage(`{"type":"broadcast","event":"x","payload":{}}`)})
	m := p.readEvent("phx_reply")
	require.Contains(t, string(m.Payload), "may not broadcast")

	env2 := newHubEnv(t, realtime.WithAuthorizer(realtime.SupplierAuthorizer{AllowClientBroadcast: true}))
	a := dialPeer(t, env2.url, "sup:1", protocol.VSN2)
	a.mustJoin("supplier:1", map[string]any{"config": map[string]any{"broadcast": map[string]any{"ack": true, "self": true}}})
	b := dialPeer(t, env2.url, "sup:1", protocol.VSN1)
	b.mustJoin("supplier:1", joinPayload)
	// realtime-js 2.x sends a user broadcast as a binary kind 3 frame.
	frame, ok := protocol.EncodeUserBroadcastPush("1", "6", "realtime:supplier:1", "cursor", nil, []byte(`{"x":1}`))
	require.True(t, ok)
	require.NoError(t, a.ws.Write(ctxBG, websocket.MessageBinary, frame))
	// The ack and the echo (self: true) both come, the echo first: the
	// broadcast is published before it is acknowledged.
	echo := a.read()
	require.Equal(t, "broadcast", echo.Event)
	require.Contains(t, string(echo.Payload), `"cursor"`)
	require.Equal(t, "6", a.readEvent("phx_reply").Ref)
	got := b.readBroadcast()
	require.Equal(t, "cursor", got.Event)
	require.JSONEq(t, `{"x":1}`, string(got.Payload))
}

func TestHubLimits(t *testing.T) {
	env := newHubEnv(t, realtime.WithMaxChannels(2), realtime.WithJoinRate(0.001, 3))
	p := dialPeer(t, env.url, "sup:1", protocol.VSN1)
	p.mustJoin("supplier:1:a", joinPayload)
	p.mustJoin("supplier:1:b", joinPayload)
	_, r := p.join("supplier:1:c", joinPayload)
	require.Equal(t, "error", r.Status)
	require.Contains(t, string(r.Response), "too many channels")
	_, r = p.join("supplier:1:d", joinPayload)
	require.Contains(t, string(r.Response), "rate limit")

	env2 := newHubEnv(t, realtime.WithMaxFrameSize(2048))
	q := dialPeer(t, env2.url, "sup:1", protocol.VSN1)
	big := `{"x":"` + strings.Repeat("a", 4096) + `"}`
	q.send(protocol.Message{Ref: "1", Topic: "phoenix", Event: "heartbeat", Payload: json.RawMessage(big)})
	_, err := q.tryRead(10 * time.Second)
	require.Equal(t, websocket.StatusMessageTooBig, closeStatus(err))

	env3 := newHubEnv(t, realtime.WithMessageRate(0.001, 2))
	s := dialPeer(t, env3.url, "sup:1", protocol.VSN1)
	for i := range 3 {
		s.send(protocol.Message{Ref: strconv.Itoa(i + 1), Topic: "phoenix", Event: "heartbeat"})
	}
	require.JSONEq(t, `{"status":"ok","response":{}}`, string(s.read().Payload))
	require.JSONEq(t, `{"status":"ok","response":{}}`, string(s.read().Payload))
	require.Contains(t, string(s.read().Payload), "rate limit")

	// Malformed frames count too: past the limit they get no answer.
	env4 := newHubEnv(t, realtime.WithMessageRate(0.001, 1))
	u := dialPeer(t, env4.url, "sup:1", protocol.VSN1)
	for range 3 {
		require.NoError(t, u.ws.Write(ctxBG, websocket.MessageText, []byte(`garbage`)))
	}
	u.send(protocol.Message{Ref: "9", Topic: "phoenix", Event: "heartbeat"})
	require.Equal(t, "system", u.read().Event, "the first malformed frame is answered")
	m := u.read()
	require.Equal(t, "9", m.Ref, "the next answer is the heartbeat's: two malformed frames went unanswered")
	require.Contains(t, string(m.Payload), "rate limit")
}

func TestHubSlowConsumerCutOffOthersKeepFlowing(t *testing.T) {
	env := newHubEnv(t, realtime.WithSendBuffer(8, 1<<20))
	slow := dialPeer(t, env.url, "sup:1", protocol.VSN1)
	slow.mustJoin("supplier:1", joinPayload)
	fast := dialPeer(t, env.url, "sup:1", protocol.VSN1)
	fast.mustJoin("supplier:1", joinPayload)

	// The broadcaster keeps pace with the fast consumer; the slow one
	// never reads, so its socket buffers fill, then its send buffer.
	const n = 400
	payload := json.RawMessage(`{"blob":"` + strings.Repeat("x", 64<<10) + `"}`)
	for i := range n {
		pub, err := env.hub.Broadcast(ctxBG, "supplier:1", "blob", payload)
		require.NoError(t, err)
		b := fast.readBroadcast()
		require.Equal(t, pub.Offset, b.Meta.Offset, "broadcast %d", i)
	}
	require.GreaterOrEqual(t, env.hub.Stats().SlowConsumers, int64(1))
	// The slow one, reading at last, finds its socket closed: with 1008
	// when the close frame got through, or cut when its pipe stayed full.
	var err error
	for err == nil {
		_, err = slow.tryRead(30 * time.Second)
	}
	require.NotErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, []websocket.StatusCode{websocket.StatusPolicyViolation, -1}, closeStatus(err), "%v", err)
}

func TestHubBroadcastValidation(t *testing.T) {
	env := newHubEnv(t)
	for _, tc := range []struct {
		topic, event string
		payload      any
		field, rule  string
	}{
		{"", "e", nil, "topic", "is required"},
		{"supplier:" + strings.Repeat("1", 200), "e", nil, "topic", "the limit is 200"},
		{"supplier:1", "", nil, "event", "is required"},
		{"supplier:1", "a\nb", nil, "event", "control characters"},
		{"supplier:1", "e", json.RawMessage(`[1]`), "payload", "JSON object"},
		{"supplier:1", "e", json.RawMessage(`{"a":`), "payload", "JSON object"},
		{"supplier:1", "e", map[string]any{"c": make(chan int)}, "payload", "JSON"},
		{"supplier:1", "e", json.RawMessage(`{"a":"` + strings.Repeat("x", 1<<20) + `"}`), "payload", "frame limit"},
	} {
		_, err := env.hub.Broadcast(ctxBG, tc.topic, tc.event, tc.payload)
		require.ErrorIs(t, err, realtime.ErrInvalid, "%s", tc.rule)
		var ve *realtime.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, tc.field, ve.Field)
		require.Contains(t, ve.Rule, tc.rule)
	}
	_, err := env.hub.EmitPostgresChange(ctxBG, "supplier:1", protocol.PostgresChange{Type: "TRUNCATE"})
	require.ErrorIs(t, err, realtime.ErrInvalid)
	require.ErrorContains(t, err, "realtime: change.Type: ")
	_, err = env.hub.EmitPostgresChange(ctxBG, "supplier:1", protocol.PostgresChange{Type: "INSERT", Record: json.RawMessage(`{`)})
	require.ErrorContains(t, err, "realtime: change.Record: must be valid JSON")
	_, err = env.hub.EmitPostgresChange(ctxBG, "", protocol.PostgresChange{Type: "INSERT"})
	require.ErrorContains(t, err, "realtime: topic: is required")

	_, err = realtime.NewHub()
	require.ErrorIs(t, err, realtime.ErrInvalid)
	require.ErrorContains(t, err, "realtime: WithAuthenticator: is required")
	// Every bad option at once, each naming its option.
	_, err = realtime.NewHub(realtime.WithAuthenticator(testAuth), realtime.WithIdleTimeout(0), realtime.WithMaxChannels(0), realtime.WithClock(nil), nil,
		realtime.WithMaxPresencePerTopic(0), realtime.WithPresenceRate(0, 1), realtime.WithMaxConnectionsPerPrincipal(-1), realtime.WithMaxConnectionsPerIP(-1))
	for _, field := range []string{"WithIdleTimeout", "WithMaxChannels", "WithClock", "WithMaxPresencePerTopic", "WithPresenceRate",
		"WithMaxConnectionsPerPrincipal", "WithMaxConnectionsPerIP"} {
		require.ErrorContains(t, err, "realtime: "+field+": ")
	}
	_, err = realtime.NewMemoryBroker(realtime.WithHistorySize(0), realtime.WithHistoryTTL(0))
	require.ErrorIs(t, err, realtime.ErrInvalid)
	require.ErrorContains(t, err, "realtime: WithHistorySize: must be at least 1, got 0")
	require.ErrorContains(t, err, "realtime: WithHistoryTTL: ")
	_, err = realtime.NewHub(realtime.WithAuthenticator(testAuth), realtime.WithSlowConsumer(0, 4))
	require.ErrorContains(t, err, "realtime: WithSlowConsumer: blockedFor must be positive, got 0s")
	_, err = realtime.NewHub(realtime.WithAuthenticator(testAuth), realtime.WithSlowConsumer(time.Second, 0))
	require.ErrorContains(t, err, "realtime: WithSlowConsumer: overflow must be between 1 and 1024, got 0")
	require.NoError(t, env.hub.Close())
	_, err = env.hub.Broadcast(ctxBG, "supplier:1", "e", nil)
	require.ErrorIs(t, err, realtime.ErrHubClosed)
}

func TestHubPostgresChangeFilters(t *testing.T) {
	env := newHubEnv(t)
	filters := []string{"bookings=eq.10", "bookings=neq.10", "bookings=lt.9.5", "bookings=lte.10", "bookings=gt.2", "bookings=gte.11", "name=in.(rose,lily)", "name=eq.rose"}
	bindings := make([]map[string]string, len(filters))
	for i, f := range filters {
		bindings[i] = map[string]string{"event": "update", "schema": "public", "table": "kpis", "filter": f}
	}
	p := dialPeer(t, env.url, "sup:1", protocol.VSN1)
	_, r := p.join("supplier:1", map[string]any{"config": map[string]any{"postgres_changes": bindings}})
	require.Equal(t, "ok", r.Status)
	var resp protocol.JoinResponse
	require.NoError(t, json.Unmarshal(r.Response, &resp))
	require.Equal(t, "update", resp.PostgresChanges[0].Event, "bindings are echoed as sent")
	p.readEvent("system")

	for _, tc := range []struct {
		record string
		ids    []int64
	}{
		{`{"bookings":10,"name":"rose"}`, []int64{1, 4, 5, 7, 8}},
		{`{"bookings":"9","name":"lily"}`, []int64{2, 3, 4, 5, 7}},
		{`{"bookings":12,"name":"tulip"}`, []int64{2, 5, 6}},
		{`{"bookings":null}`, nil},
	} {
		n, err := env.hub.EmitPostgresChange(ctxBG, "supplier:1", protocol.PostgresChange{Schema: "public", Table: "kpis", Type: "UPDATE", Record: json.RawMessage(tc.record)})
		require.NoError(t, err)
		if tc.ids == nil {
			require.Zero(t, n, tc.record)
			continue
		}
		var pc protocol.PostgresChangesPayload
		require.NoError(t, json.Unmarshal(p.readEvent("postgres_changes").Payload, &pc))
		require.Equal(t, tc.ids, pc.IDs, tc.record)
	}
	_, r = p.join("supplier:1:bad", map[string]any{"config": map[string]any{"postgres_changes": []map[string]string{{"event": "*", "schema": "public", "filter": "x=like.%a"}}}})
	require.Contains(t, string(r.Response), "operator")
	_, err := env.hub.EmitPostgresChange(ctxBG, "supplier:1", protocol.PostgresChange{Type: "TRUNCATE"})
	require.ErrorContains(t, err, "INSERT, UPDATE or DELETE")
}

func TestHubJoinCursorAndReplayByOffset(t *testing.T) {
	env := newHubEnv(t)
	p := dialPeer(t, env.url, "sup:3", protocol.VSN1)
	_, r := p.join("supplier:3", joinPayload)
	var resp protocol.JoinResponse
	require.NoError(t, json.Unmarshal(r.Response, &resp))
	require.NotNil(t, resp.Broadcast, "the hub's cursor")
	require.Equal(t, uint64(0), resp.Broadcast.Offset)
	epoch := resp.Broadcast.Epoch
	for range 3 {
		_, err := env.hub.Broadcast(ctxBG, "supplier:3", "e", nil)
		require.NoError(t, err)
	}
	q := dialPeer(t, env.url, "sup:3", protocol.VSN2)
	_, r = q.join("supplier:3", map[string]any{"config": map[string]any{"private": true,
		"broadcast": map[string]any{"replay": map[string]any{"epoch": epoch, "after": 1, "since": 9_999_999_999_999}}}})
	require.NoError(t, json.Unmarshal(r.Response, &resp))
	require.Equal(t, protocol.BroadcastCursor{Epoch: epoch, Offset: 3}, *resp.Broadcast)
	// By offset, the (absurd) since is ignored: 2 and 3 come back.
	for want := uint64(2); want <= 3; want++ {
		b := q.readBroadcast()
		require.Equal(t, want, b.Meta.Offset)
		require.True(t, b.Meta.Replayed)
	}
	require.Contains(t, string(q.readEvent("system").Payload), protocol.CodeReplayComplete)

	s := dialPeer(t, env.url, "sup:3", protocol.VSN1)
	s.mustJoin("supplier:3", map[string]any{"config": map[string]any{"broadcast": map[string]any{"replay": map[string]any{"epoch": "other", "after": 1}}}})
	require.Contains(t, string(s.readEvent("system").Payload), protocol.CodeReplayIncomplete, "another epoch's offsets mean nothing here")
}
