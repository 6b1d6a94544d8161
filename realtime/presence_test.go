package realtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/protocol"
)

// The amplification a reviewer reproduced: many sockets with ONE valid
// token, each tracking presence with the largest meta the hub takes (4
// KiB), every track fanned out to every socket on the topic. Before the
// presence limits, 150 sockets sending 3 tracks each made the hub queue
// 475 MB of presence_diff frames (the reviewer saw 278 MB sent in 1.2 s);
// now the hub admits 20 sockets of one principal (the rest get 429), and
// what it queues is bounded by the formula below, whatever the attacker
// sends.
func TestHubPresenceAmplificationIsBounded(t *testing.T) {
	const (
		attempted = 150  // sockets the attacker opens, all with one token
		tracks    = 3    // tracks each sends, back to back (the default burst is 5)
		metaSize  = 4096 // the largest meta the hub accepts (4 KiB)

		// The bound, from the hub's defaults:
		principalCap  = 20  // WithMaxConnectionsPerPrincipal: sockets of one principal
		metaOverhead  = 64  // what the hub adds to a meta: ,"phx_ref":"<12 characters>"
		frameOverhead = 256 // a presence frame's envelope: topic, event, key, joins, leaves
	)
	// Every accepted track sends one presence_diff to every channel on the
	// topic: at most principalCap channels, since only the attacker's
	// sockets are there. A diff holds the new meta and, from a socket's
	// second track on, the meta it replaces. Each join also gets one
	// presence_state, here before any track (an empty state):
	//
	//	bound = P * k * P * (2*(M + m) + f) + P * f
	//
	// with P the per-principal socket cap, k the tracks per socket, M the
	// meta cap, m the per-meta overhead and f the frame overhead:
	// 20*3*20*(2*(4096+64)+256) + 20*256 = 10,296,320 bytes (9.8 MiB).
	const bound = principalCap*tracks*principalCap*(2*(metaSize+metaOverhead)+frameOverhead) + principalCap*frameOverhead

	env := newHubEnv(t) // the hub's defaults, but for the handshake rate per IP
	const topic = "realtime:supplier:1"
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	// Open the sockets, all with the token "sup:1".
	var (
		peers   []*peer
		refused []string
	)
	for range attempted {
		ws, resp, err := websocket.Dial(ctx, env.url+"?apikey=sup:1&vsn="+protocol.VSN1, nil)
		if err != nil {
			require.NotNil(t, resp, "dial: %v", err)
			require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "dial: %v", err)
			body := make([]byte, 512)
			n, _ := resp.Body.Read(body)
			refused = append(refused, string(body[:n]))
			continue
		}
		ws.SetReadLimit(1 << 20)
		t.Cleanup(func() { ws.CloseNow() })
		peers = append(peers, &peer{t: t, ws: ws, vsn: protocol.VSN1})
	}
	t.Logf("%d sockets admitted, %d refused with 429", len(peers), len(refused))

	for _, p := range peers {
		p.mustJoin("supplier:1", map[string]any{"config": map[string]any{"presence": map[string]any{"key": "", "enabled": true}}})
	}

	// Every admitted socket counts the presence bytes it receives, until it
	// has seen every accepted track or the total passes the bound.
	var total, frames atomic.Int64
	over := make(chan struct{})
	var overOnce sync.Once
	want := int64(len(peers) * tracks) // diffs each socket sees if every track is accepted
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Go(func() {
			var diffs int64
			for diffs < want {
				typ, data, err := p.ws.Read(ctx)
				if err != nil {
					return // deadline, or the socket closed
				}
				m, err := decode(p.vsn, typ, data)
				if err != nil || (m.Event != protocol.EventPresenceDiff && m.Event != protocol.EventPresenceState) {
					continue
				}
				if m.Event == protocol.EventPresenceDiff {
					diffs++
				}
				frames.Add(1)
				if total.Add(int64(len(data))) > bound {
					overOnce.Do(func() { close(over) })
					return
				}
			}
		})
	}

	pad := strings.Repeat("x", metaSize-len(`{"pad":""}`))
	for i := range tracks {
		for j, p := range peers {
			meta := `{"pad":"` + pad[:len(pad)-len(strconv.Itoa(i))] + strconv.Itoa(i) + `"}`
			require.Len(t, meta, metaSize)
			p.send(protocol.Message{JoinRef: "1", Ref: fmt.Sprintf("t%d-%d", i, j), Topic: topic, Event: protocol.EventPresence,
				Payload: json.RawMessage(`{"type":"presence","event":"track","payload":` + meta + `}`)})
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-over:
		cancel()
		<-done
	}
	t.Logf("presence bytes received: %d in %d frames (bound %d)", total.Load(), frames.Load(), bound)
	require.LessOrEqual(t, total.Load(), int64(bound), "the hub fanned out more presence than the bound")
	require.Equal(t, total.Load(), env.hub.Stats().PresenceBytes, "HubStats counts what the sockets received")
	require.Len(t, peers, principalCap, "sockets of one principal admitted")
	require.Len(t, refused, attempted-principalCap)
	require.Contains(t, refused[0], "too many connections for this user: the limit is 20")
}

// HubStats.PresenceBytes counts a presence frame before the frame can
// reach its socket: the goroutine that queued it is held right after it
// queued it (a test-only hook), and by then the client may have read the
// frame; the count must already hold it.
func TestHubPresenceBytesCountedBeforeTheFrameIsSent(t *testing.T) {
	type queuedFrame struct {
		data   []byte
		resume chan struct{}
	}
	queued, stop := make(chan queuedFrame), make(chan struct{})
	hold := func(data []byte) {
		if !bytes.Contains(data, []byte(`"event":"presence_`)) {
			return
		}
		f := queuedFrame{data: data, resume: make(chan struct{})}
		select {
		case queued <- f:
		case <-stop:
			return
		}
		select {
		case <-f.resume:
		case <-stop:
		}
	}
	env := newHubEnv(t, realtime.WithQueuedHook(hold))
	t.Cleanup(func() { close(stop) }) // before the hub closes
	held := func() queuedFrame {
		t.Helper()
		select {
		case f := <-queued:
			return f
		case <-time.After(10 * time.Second):
			t.Fatal("no presence frame was queued")
			return queuedFrame{}
		}
	}
	p := dialPeer(t, env.url, "sup:1", protocol.VSN1)

	p.send(protocol.Message{JoinRef: "1", Ref: "1", Topic: "realtime:supplier:1", Event: protocol.EventJoin,
		Payload: json.RawMessage(`{"config":{"presence":{"enabled":true}}}`)})
	f := held() // the presence_state, queued after the join reply
	state := p.readRaw(protocol.EventPresenceState)
	require.Equal(t, f.data, state)
	require.Equal(t, int64(len(state)), env.hub.Stats().PresenceBytes, "the presence_state reached the client before it was counted")
	close(f.resume)

	p.track("supplier:1", `{"page":"a"}`)
	f = held()
	diff := p.readRaw(protocol.EventPresenceDiff)
	require.Equal(t, f.data, diff)
	require.Equal(t, int64(len(state)+len(diff)), env.hub.Stats().PresenceBytes, "the presence_diff reached the client before it was counted")
	close(f.resume)
}

// A meta is at most 4 KiB as the hub sends it, not only as the client
// sent it: re-encoded with HTML escaping, a meta of "<" grew sixfold
// (each became \u003c), and a key of U+2028 (3 bytes, re-encoded as the
// 6-byte \u2028) twofold, past the bound the fan-out is sized by.
func TestHubPresenceMetaIsBoundedAsSent(t *testing.T) {
	const (
		metaSize = 4096 // the meta cap
		bound    = metaSize + 64 + 256
	)
	env := newHubEnv(t)
	p := dialPeer(t, env.url, "sup:1", protocol.VSN1)
	p.mustJoin("supplier:1", presenceJoin)
	obs := dialPeer(t, env.url, "sup:1::observer", protocol.VSN1)
	obs.mustJoin("supplier:1", presenceJoin)

	// Within the cap as sent and as re-encoded: taken, and fanned out
	// within the bound.
	html := `{"p":"` + strings.Repeat("<", metaSize-len(`{"p":""}`)) + `"}`
	require.Len(t, html, metaSize)
	r, _ := p.reply(p.track("supplier:1", html))
	require.Equal(t, "ok", r.Status, "%s", r.Response)
	diff := obs.readRaw(protocol.EventPresenceDiff)
	require.LessOrEqual(t, len(diff), bound)
	require.Contains(t, string(diff), strings.Repeat("<", 100), "sent as it came, not escaped")

	// Within the cap as sent, twice it as re-encoded: refused.
	key := strings.Repeat("\u2028", (metaSize-len(`{"":1}`))/3)
	wide := `{"` + key + `":1}`
	require.LessOrEqual(t, len(wide), metaSize)
	r, _ = p.reply(p.track("supplier:1", wide))
	require.Equal(t, "error", r.Status, "a meta that re-encodes over the cap is refused")
	require.Contains(t, string(r.Response), "the limit is 4096")

	// What a newcomer gets is within the bound too.
	st := dialPeer(t, env.url, "sup:1::newcomer", protocol.VSN1)
	st.mustJoin("supplier:1", presenceJoin)
	require.LessOrEqual(t, len(st.readRaw(protocol.EventPresenceState)), bound)
}

// readRaw reads until a message with event arrives and returns its frame
// as received.
func (p *peer) readRaw(event string) []byte {
	p.t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		typ, data, err := p.ws.Read(ctx)
		cancel()
		require.NoError(p.t, err)
		m, err := decode(p.vsn, typ, data)
		require.NoError(p.t, err)
		if m.Event == event {
			return data
		}
	}
}

// decode reads one frame as the hub sent it.
func decode(vsn string, typ websocket.MessageType, data []byte) (protocol.Message, error) {
	if typ == websocket.MessageBinary {
		return protocol.DecodeBinary(data)
	}
	return protocol.DecodeText(vsn, data)
}

var presenceJoin = map[string]any{"config": map[string]any{"presence": map[string]any{"enabled": true}}}

func presenceJoinWithKey(key string) map[string]any {
	return map[string]any{"config": map[string]any{"presence": map[string]any{"key": key, "enabled": true}}}
}

// track sends a presence track with meta on topic and returns its ref.
func (p *peer) track(topic, meta string) string {
	p.t.Helper()
	ref := p.nextRef()
	p.send(protocol.Message{JoinRef: "1", Ref: ref, Topic: protocol.WireTopic(topic), Event: protocol.EventPresence,
		Payload: json.RawMessage(`{"type":"presence","event":"track","payload":` + meta + `}`)})
	return ref
}

// reply reads until the reply to ref and returns it with the events of the
// messages read before it.
func (p *peer) reply(ref string) (protocol.ReplyPayload, []string) {
	p.t.Helper()
	var before []string
	for {
		m := p.read()
		if m.Event == protocol.EventReply && m.Ref == ref {
			var r protocol.ReplyPayload
			require.NoError(p.t, json.Unmarshal(m.Payload, &r))
			return r, before
		}
		before = append(before, m.Event)
	}
}

// presenceState joins topic on a fresh socket of token and returns the
// presence_state it gets.
func presenceState(t *testing.T, env *hubEnv, token, topic string) protocol.PresenceState {
	t.Helper()
	p := dialPeer(t, env.url, token, protocol.VSN1)
	p.mustJoin(topic, presenceJoin)
	m := p.readEvent(protocol.EventPresenceState)
	var st protocol.PresenceState
	require.NoError(t, json.Unmarshal(m.Payload, &st))
	p.ws.CloseNow()
	return st
}

// A socket is tracked under its principal's key, whatever key it asks
// for: two sockets of one user share the key with a meta each, and no
// socket can claim another user's key.
func TestHubPresenceKeyIsThePrincipals(t *testing.T) {
	env := newHubEnv(t)
	a := dialPeer(t, env.url, "sup:8", protocol.VSN1)
	a.mustJoin("supplier:8", presenceJoinWithKey("anna"))
	r, _ := a.reply(a.track("supplier:8", `{"page":"a"}`))
	require.Equal(t, "ok", r.Status)
	diff := a.readEvent(protocol.EventPresenceDiff)
	var d protocol.PresenceDiff
	require.NoError(t, json.Unmarshal(diff.Payload, &d))
	require.Contains(t, d.Joins, "user-8", "the key is the token's subject")
	require.NotContains(t, d.Joins, "anna", "the key the client asked for is ignored")

	b := dialPeer(t, env.url, "sup:8", protocol.VSN2)
	b.mustJoin("supplier:8", presenceJoinWithKey("ben"))
	r, _ = b.reply(b.track("supplier:8", `{"page":"b"}`))
	require.Equal(t, "ok", r.Status)

	// Another user of the same supplier claims user-8's key.
	m := dialPeer(t, env.url, "sup:8::mallory", protocol.VSN1)
	m.mustJoin("supplier:8", presenceJoinWithKey("user-8"))
	r, _ = m.reply(m.track("supplier:8", `{"page":"m"}`))
	require.Equal(t, "ok", r.Status)

	st := presenceState(t, env, "sup:8::observer", "supplier:8")
	require.Len(t, st, 2, "%v", st)
	require.Len(t, st["user-8"].Metas, 2, "one meta per socket of user-8")
	pages := []string{string(st["user-8"].Metas[0]["page"]), string(st["user-8"].Metas[1]["page"])}
	require.ElementsMatch(t, []string{`"a"`, `"b"`}, pages)
	require.NotEqual(t, st["user-8"].Metas[0]["phx_ref"], st["user-8"].Metas[1]["phx_ref"])
	require.Len(t, st["mallory"].Metas, 1, "mallory is tracked as herself")

	// With WithClientPresenceKeys the client names itself (an empty key
	// still gets the principal's).
	env2 := newHubEnv(t, realtime.WithClientPresenceKeys(true))
	c := dialPeer(t, env2.url, "sup:8", protocol.VSN1)
	c.mustJoin("supplier:8", presenceJoinWithKey("anna"))
	r, _ = c.reply(c.track("supplier:8", `{}`))
	require.Equal(t, "ok", r.Status)
	e := dialPeer(t, env2.url, "sup:8", protocol.VSN1)
	e.mustJoin("supplier:8", presenceJoin)
	r, _ = e.reply(e.track("supplier:8", `{}`))
	require.Equal(t, "ok", r.Status)
	st = presenceState(t, env2, "sup:8", "supplier:8")
	require.Contains(t, st, "anna")
	require.Contains(t, st, "user-8")
	long := dialPeer(t, env2.url, "sup:8", protocol.VSN1)
	_, jr := long.join("supplier:8", presenceJoinWithKey(strings.Repeat("k", 201)))
	require.Equal(t, "error", jr.Status)
	require.Contains(t, string(jr.Response), "the limit is 200")
}

// Tracks over the rate get an error reply and reach nobody.
func TestHubPresenceTrackRate(t *testing.T) {
	clk := fakeClock() // frozen: no token comes back until it moves
	env := newHubEnv(t, realtime.WithClock(clk), realtime.WithIdleTimeout(time.Hour))
	p := dialPeer(t, env.url, "sup:1", protocol.VSN1)
	p.mustJoin("supplier:1", presenceJoin)
	obs := dialPeer(t, env.url, "sup:1::observer", protocol.VSN1)
	obs.mustJoin("supplier:1", presenceJoin)

	for i := range 5 { // the default burst
		r, _ := p.reply(p.track("supplier:1", fmt.Sprintf(`{"n":%d}`, i)))
		require.Equal(t, "ok", r.Status, "track %d", i)
	}
	r, _ := p.reply(p.track("supplier:1", `{"n":5}`))
	require.Equal(t, "error", r.Status)
	require.Contains(t, string(r.Response), "presence rate limit")

	// The observer saw five diffs, and nothing for the refused track: the
	// next thing after them is its heartbeat's reply.
	obs.send(protocol.Message{Ref: "hb", Topic: protocol.PhoenixTopic, Event: protocol.EventHeartbeat})
	_, before := obs.reply("hb")
	diffs := 0
	for _, ev := range before {
		if ev == protocol.EventPresenceDiff {
			diffs++
		}
	}
	require.Equal(t, 5, diffs, "%v", before)

	clk.Advance(time.Second) // two tracks a second
	r, _ = p.reply(p.track("supplier:1", `{"n":6}`))
	require.Equal(t, "ok", r.Status)
	r, _ = p.reply(p.track("supplier:1", `{"n":7}`))
	require.Equal(t, "ok", r.Status)
	r, _ = p.reply(p.track("supplier:1", `{"n":8}`))
	require.Equal(t, "error", r.Status)
	require.Greater(t, env.hub.Stats().PresenceBytes, int64(0))
}

// A topic holds at most WithMaxPresencePerTopic metas; a tracked channel
// may still update its own.
func TestHubPresencePerTopicCap(t *testing.T) {
	env := newHubEnv(t, realtime.WithMaxPresencePerTopic(3))
	var ps []*peer
	for i := range 4 {
		p := dialPeer(t, env.url, fmt.Sprintf("sup:1::u%d", i), protocol.VSN1)
		p.mustJoin("supplier:1", presenceJoin)
		ps = append(ps, p)
	}
	for i := range 3 {
		r, _ := ps[i].reply(ps[i].track("supplier:1", `{}`))
		require.Equal(t, "ok", r.Status, "track %d", i)
	}
	r, _ := ps[3].reply(ps[3].track("supplier:1", `{}`))
	require.Equal(t, "error", r.Status)
	require.Contains(t, string(r.Response), "presence is full")
	require.Contains(t, string(r.Response), "3")
	r, _ = ps[0].reply(ps[0].track("supplier:1", `{"again":true}`))
	require.Equal(t, "ok", r.Status, "a tracked channel updates its meta")

	ps[1].send(protocol.Message{JoinRef: "1", Ref: "u", Topic: "realtime:supplier:1", Event: protocol.EventPresence,
		Payload: json.RawMessage(`{"type":"presence","event":"untrack"}`)})
	r, _ = ps[1].reply("u")
	require.Equal(t, "ok", r.Status)
	r, _ = ps[3].reply(ps[3].track("supplier:1", `{}`))
	require.Equal(t, "ok", r.Status, "room again after an untrack")
	require.Len(t, presenceState(t, env, "sup:1::observer", "supplier:1"), 3)
}

// Sockets per principal and per IP are capped; over either, the
// handshake gets 429 naming the limit, and a closed socket frees its slot
// by the time Stats stops counting it.
func TestHubConnectionCaps(t *testing.T) {
	// The first socket to close is held on its goroutine right after Stats
	// stops counting it, until the test lets it go: whatever the socket
	// still holds then, a client that saw it gone would find held.
	removed, resume := make(chan struct{}), make(chan struct{})
	var first sync.Once
	held := func() {
		first.Do(func() {
			close(removed)
			<-resume
		})
	}
	env := newHubEnv(t, realtime.WithMaxConnectionsPerPrincipal(2), realtime.WithMaxConnectionsPerIP(3), realtime.WithConnRemovedHook(held))
	letGo := sync.OnceFunc(func() { close(resume) })
	t.Cleanup(letGo) // before the hub closes: it waits for the held socket
	dial := func(token string) (*websocket.Conn, int, string) {
		t.Helper()
		ws, resp, err := websocket.Dial(t.Context(), env.url+"?apikey="+token, nil)
		if err != nil {
			require.NotNil(t, resp, "%v", err)
			var body strings.Builder
			if resp.Body != nil {
				b := make([]byte, 1024)
				n, _ := resp.Body.Read(b)
				body.Write(b[:n])
			}
			return nil, resp.StatusCode, body.String()
		}
		t.Cleanup(func() { ws.CloseNow() })
		return ws, http.StatusSwitchingProtocols, ""
	}
	a1, code, _ := dial("sup:1")
	require.Equal(t, http.StatusSwitchingProtocols, code)
	_, code, _ = dial("sup:1")
	require.Equal(t, http.StatusSwitchingProtocols, code)
	_, code, body := dial("sup:1")
	require.Equal(t, http.StatusTooManyRequests, code)
	require.Contains(t, body, "too many connections for this user")
	require.Contains(t, body, "limit is 2")

	_, code, _ = dial("sup:2") // another principal: the IP's third socket
	require.Equal(t, http.StatusSwitchingProtocols, code)
	_, code, body = dial("sup:3")
	require.Equal(t, http.StatusTooManyRequests, code)
	require.Contains(t, body, "too many connections from this address")
	require.Contains(t, body, "limit is 3")

	require.NoError(t, a1.Close(websocket.StatusNormalClosure, "bye"))
	select {
	case <-removed:
	case <-time.After(10 * time.Second):
		t.Fatal("the closed socket was not removed")
	}
	// (The last socket dialled may register a moment after its dial returned.)
	require.Eventually(t, func() bool { return env.hub.Stats().Connections == 2 }, 10*time.Second, time.Millisecond, "Stats no longer counts the closed socket")
	// sup:1 has one socket left, the IP two: a new sup:1 socket needs
	// both of the closed socket's slots.
	_, code, body = dial("sup:1")
	require.Equal(t, http.StatusSwitchingProtocols, code, "the closed socket freed its slots: %s", body)
	letGo()
	_, code, body = dial("sup:3")
	require.Equal(t, http.StatusTooManyRequests, code)
	require.Contains(t, body, "too many connections from this address")

	// A principal without a subject is its token: two different tokens
	// are two principals.
	env2 := newHubEnv(t, realtime.WithMaxConnectionsPerPrincipal(1))
	for _, tok := range []string{"sup:1::", "sup:1:4102444800:"} {
		ws, resp, err := websocket.Dial(t.Context(), env2.url+"?apikey="+tok, nil)
		require.NoError(t, err, tok)
		require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
		t.Cleanup(func() { ws.CloseNow() })
	}
	_, resp, err := websocket.Dial(t.Context(), env2.url+"?apikey=sup:1::", nil)
	require.Error(t, err)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
}

// The per-IP limits key an IPv6 client on its /64: a host that holds a
// whole /64 (the usual assignment) cannot take a fresh cap per address.
// IPv4 clients are keyed on the address, IPv4-mapped IPv6 ones on the IPv4
// address they map.
func TestHubPerIPLimitsKeyIPv6OnItsSlash64(t *testing.T) {
	for _, c := range []struct{ remote, key string }{
		{"192.0.2.1:443", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:443", "192.0.2.1"},
		{"[2001:db8:1:2::1]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff:ffff:ffff:ffff]:1", "2001:db8:1:2::/64"},
		{"[2001:db8:1:3::1]:443", "2001:db8:1:3::/64"},
		{"[fe80::1%eth0]:443", "fe80::/64"},
		{"[::1]:443", "::/64"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"}, // no port
		{"192.0.2.1", "192.0.2.1"},
		{"pipe", "pipe"}, // not an IP: as it is
		{"", ""},
	} {
		require.Equal(t, c.key, realtime.ClientKey(c.remote), c.remote)
	}

	// Open sockets: the cap is 2 per key. A proxy in front of the hub sets
	// each request's RemoteAddr from a header, as a peer of that address
	// would have it.
	hub, err := realtime.NewHub(realtime.WithAuthenticator(testAuth), realtime.WithConnectRate(1e6, 1e6), realtime.WithMaxConnectionsPerIP(2))
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.Clone(r.Context())
		r.RemoteAddr = r.Header.Get("X-Test-Remote-Addr")
		hub.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		require.NoError(t, hub.Close())
		srv.Close()
	})
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/?apikey=sup:1"
	dial := func(remote string) int {
		t.Helper()
		ws, resp, err := websocket.Dial(t.Context(), url, &websocket.DialOptions{HTTPHeader: http.Header{"X-Test-Remote-Addr": {remote}}})
		if err != nil {
			require.NotNil(t, resp, "%s: %v", remote, err)
			return resp.StatusCode
		}
		t.Cleanup(func() { ws.CloseNow() })
		return resp.StatusCode
	}
	require.Equal(t, http.StatusSwitchingProtocols, dial("[2001:db8:1:2::1]:40000"))
	require.Equal(t, http.StatusSwitchingProtocols, dial("[2001:db8:1:2:ffff:ffff:ffff:fffe]:40001"))
	require.Equal(t, http.StatusTooManyRequests, dial("[2001:db8:1:2::abcd]:40002"), "a third address of the /64")
	require.Equal(t, http.StatusSwitchingProtocols, dial("[2001:db8:1:3::1]:40003"), "the next /64")
	require.Equal(t, http.StatusSwitchingProtocols, dial("192.0.2.1:40004"))
	require.Equal(t, http.StatusSwitchingProtocols, dial("[::ffff:192.0.2.1]:40005"))
	require.Equal(t, http.StatusTooManyRequests, dial("192.0.2.1:40006"), "an IPv4 address and its mapped form share the cap")
	require.Equal(t, http.StatusSwitchingProtocols, dial("192.0.2.2:40007"), "another IPv4 address")

	// The handshake rate: bursts of 2 on a frozen clock. A handshake that
	// passes it is refused for its missing token (401).
	hub2, err := realtime.NewHub(realtime.WithAuthenticator(testAuth), realtime.WithClock(fakeClock()), realtime.WithConnectRate(1, 2))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, hub2.Close()) })
	handshake := func(remote string) int {
		r := httptest.NewRequest(http.MethodGet, "/realtime/v1/websocket", nil)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		hub2.ServeHTTP(w, r)
		return w.Code
	}
	require.Equal(t, http.StatusUnauthorized, handshake("[2001:db8:1:2::1]:1"))
	require.Equal(t, http.StatusUnauthorized, handshake("[2001:db8:1:2::2]:1"))
	require.Equal(t, http.StatusTooManyRequests, handshake("[2001:db8:1:2::3]:1"), "a third address of the /64, over the burst")
	require.Equal(t, http.StatusUnauthorized, handshake("[2001:db8:1:3::1]:1"), "the next /64")
	require.Equal(t, http.StatusUnauthorized, handshake("192.0.2.1:1"))
	require.Equal(t, http.StatusUnauthorized, handshake("[::ffff:192.0.2.1]:1"))
	require.Equal(t, http.StatusTooManyRequests, handshake("192.0.2.1:2"))
}
