package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/realtime/realtimetest"
)

const (
	testJWTSecret  = "demo-test-jwt-secret-0123456789-abcdefgh"
	testAdminToken = "test-admin-token"
)

// startServer runs the demo server without the scripted demo and returns
// its base URL and an HTTP client; the server stops when the test ends.
// Options change the config.
func startServer(t *testing.T, opts ...func(*config)) (string, *http.Client, *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan string, 1)
	out := &lockedBuffer{}
	cfg := config{
		Addr: "127.0.0.1:0", VendorAddr: "127.0.0.1:0", AdminToken: testAdminToken, JWTSecret: testJWTSecret,
		onReady: func(api, _ string) { ready <- api },
	}
	for _, o := range opts {
		o(&cfg)
	}
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, out) }()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("run ended early: %v\n%s", err, out.String())
	}
	tr := &http.Transport{}
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done, out.String())
		tr.CloseIdleConnections()
	})
	return base, &http.Client{Transport: tr, Timeout: 30 * time.Second}, out
}

// token signs a dashboard token for supplier with the test's secret.
func token(t *testing.T, secret, supplier string) string {
	t.Helper()
	tok, err := realtimetest.HS256Token([]byte(secret), supplier, time.Now().Add(time.Hour))
	require.NoError(t, err)
	return tok
}

// frame is a Supabase Realtime message, serializer 1.0.0.
type frame struct {
	Topic   string          `json:"topic"`
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
	Ref     *string         `json:"ref"`
	JoinRef *string         `json:"join_ref"`
}

// peer is a dashboard socket, as the page's script opens it.
type peer struct {
	t   *testing.T
	ctx context.Context
	c   *websocket.Conn
	ref int
	// joinRefs holds the ref of each topic's join, which the channel's
	// later messages carry as join_ref.
	joinRefs map[string]string
}

func dialHub(ctx context.Context, base string, hc *http.Client, tok string) (*websocket.Conn, *http.Response, error) {
	u := "ws" + strings.TrimPrefix(base, "http") + hubPath + "?apikey=" + tok + "&vsn=1.0.0"
	return websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: hc})
}

func connect(t *testing.T, ctx context.Context, base string, hc *http.Client, tok string) *peer {
	t.Helper()
	c, _, err := dialHub(ctx, base, hc, tok)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })
	return &peer{t: t, ctx: ctx, c: c, joinRefs: map[string]string{}}
}

// send writes a message and returns its ref.
func (p *peer) send(topic, event string, payload any) string {
	p.t.Helper()
	p.ref++
	ref := strconv.Itoa(p.ref)
	body, err := json.Marshal(payload)
	require.NoError(p.t, err)
	f := frame{Topic: topic, Event: event, Payload: body, Ref: &ref}
	if event == "phx_join" {
		p.joinRefs[topic] = ref
	}
	if jr, ok := p.joinRefs[topic]; ok {
		f.JoinRef = &jr
	}
	msg, err := json.Marshal(f)
	require.NoError(p.t, err)
	require.NoError(p.t, p.c.Write(p.ctx, websocket.MessageText, msg))
	return ref
}

// until reads messages until one matches; the test's context bounds it.
func (p *peer) until(what string, match func(frame) bool) frame {
	p.t.Helper()
	for {
		typ, data, err := p.c.Read(p.ctx)
		require.NoError(p.t, err, "waiting for %s", what)
		require.Equal(p.t, websocket.MessageText, typ)
		var f frame
		require.NoError(p.t, json.Unmarshal(data, &f), string(data))
		if match(f) {
			return f
		}
	}
}

// reply waits for the phx_reply to ref and returns its status and response.
func (p *peer) reply(ref string) (string, map[string]any) {
	p.t.Helper()
	f := p.until("reply "+ref, func(f frame) bool { return f.Event == "phx_reply" && f.Ref != nil && *f.Ref == ref })
	var r struct {
		Status   string         `json:"status"`
		Response map[string]any `json:"response"`
	}
	require.NoError(p.t, json.Unmarshal(f.Payload, &r))
	return r.Status, r.Response
}

// join joins a supplier topic as the dashboard does and returns the reply.
func (p *peer) join(topic, tok string, replaySince int64) (string, map[string]any) {
	p.t.Helper()
	bc := map[string]any{"self": false}
	if replaySince > 0 {
		bc["replay"] = map[string]any{"since": replaySince}
	}
	ref := p.send(topic, "phx_join", map[string]any{
		"config":       map[string]any{"broadcast": bc, "private": true, "presence": map[string]any{"key": "", "enabled": true}},
		"access_token": tok,
	})
	return p.reply(ref)
}

type broadcastPayload struct {
	Type    string          `json:"type"`
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
	Meta    struct {
		ID       string `json:"id"`
		Epoch    string `json:"epoch"`
		Offset   uint64 `json:"offset"`
		TS       int64  `json:"ts"`
		Replayed bool   `json:"replayed"`
	} `json:"meta"`
}

func (p *peer) broadcast(topic string) broadcastPayload {
	p.t.Helper()
	f := p.until("a broadcast", func(f frame) bool { return f.Topic == topic && f.Event == "broadcast" })
	var b broadcastPayload
	require.NoError(p.t, json.Unmarshal(f.Payload, &b), string(f.Payload))
	return b
}

// post calls POST /api/events with the admin token (or none).
func post(t *testing.T, hc *http.Client, base, adminToken, body string) (int, map[string]any) {
	t.Helper()
	api := &apiClient{t: t, base: base, token: adminToken, c: hc}
	return api.do("POST", "/api/events", body)
}

// A dashboard joins its supplier's topic, POST /api/events broadcasts to
// it, and a dashboard that comes back asks for what it missed.
func TestDemoRealtimeEvents(t *testing.T) {
	base, hc, out := startServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const topic = "realtime:supplier:sup_rt"
	tok := token(t, testJWTSecret, "sup_rt")

	dash := connect(t, ctx, base, hc, tok)
	status, resp := dash.join(topic, tok, 0)
	require.Equal(t, "ok", status, resp)
	ref := dash.send("realtime:supplier:sup_rt", "presence", map[string]any{"type": "presence", "event": "track", "payload": map[string]any{"online_at": "now"}})
	status, _ = dash.reply(ref)
	require.Equal(t, "ok", status)
	diff := dash.until("presence_diff", func(f frame) bool { return f.Event == "presence_diff" })
	require.Contains(t, string(diff.Payload), `"supplier-user-sup_rt":`, "tracked under the token's subject")
	ref = dash.send("phoenix", "heartbeat", map[string]any{})
	status, _ = dash.reply(ref)
	require.Equal(t, "ok", status, "heartbeat")

	code, body := post(t, hc, base, testAdminToken, `{"supplier_id":"sup_rt","type":"kpi.updated","payload":{"bookings":13,"revenue":{"currency":"GBP","value":"18900.00"}}}`)
	require.Equal(t, http.StatusAccepted, code, body)
	id, _ := body["id"].(string)
	require.NotEmpty(t, id, body)
	require.EqualValues(t, 1, body["offset"])
	require.Equal(t, "supplier:sup_rt", body["topic"])

	b := dash.broadcast(topic)
	require.Equal(t, "broadcast", b.Type)
	require.Equal(t, "kpi.updated", b.Event)
	require.JSONEq(t, `{"bookings":13,"revenue":{"currency":"GBP","value":"18900.00"}}`, string(b.Payload))
	require.Equal(t, id, b.Meta.ID)
	require.EqualValues(t, 1, b.Meta.Offset)
	require.False(t, b.Meta.Replayed)
	require.Contains(t, out.String(), "BROADCAST  kpi.updated       -> supplier:sup_rt, offset 1")

	// Any event type goes through.
	code, body = post(t, hc, base, testAdminToken, `{"supplier_id":"sup_rt","type":"enquiry.received","payload":{"from":"Alex"}}`)
	require.Equal(t, http.StatusAccepted, code, body)
	require.EqualValues(t, 2, body["offset"])
	b2 := dash.broadcast(topic)
	require.Equal(t, "enquiry.received", b2.Event)
	require.EqualValues(t, 2, b2.Meta.Offset)

	// A dashboard that lost its socket rejoins with replay.since = the
	// newest meta.ts it saw, and gets what it missed (and what it had: the
	// page drops those by offset), then a replay_complete.
	require.NoError(t, dash.c.Close(websocket.StatusNormalClosure, "bye"))
	code, _ = post(t, hc, base, testAdminToken, `{"supplier_id":"sup_rt","type":"kpi.updated","payload":{"bookings":14}}`)
	require.Equal(t, http.StatusAccepted, code)
	again := connect(t, ctx, base, hc, tok)
	status, resp = again.join(topic, tok, b2.Meta.TS)
	require.Equal(t, "ok", status, resp)
	var got []uint64
	for {
		f := again.until("replay", func(f frame) bool { return f.Event == "broadcast" || f.Event == "system" })
		if f.Event == "system" {
			require.Contains(t, string(f.Payload), `"code":"replay_complete"`)
			break
		}
		var rb broadcastPayload
		require.NoError(t, json.Unmarshal(f.Payload, &rb))
		require.True(t, rb.Meta.Replayed)
		got = append(got, rb.Meta.Offset)
	}
	// since is inclusive: offset 1 comes again if it shares offset 2's
	// millisecond.
	require.GreaterOrEqual(t, len(got), 2, got)
	require.LessOrEqual(t, len(got), 3, got)
	require.Equal(t, []uint64{2, 3}, got[len(got)-2:])
}

// The hub lets a token join its own supplier's topics only, and refuses
// bad tokens at the handshake.
func TestDemoRealtimeAuth(t *testing.T) {
	base, hc, out := startServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	// The token printed at start-up opens the sample supplier's dashboard.
	m := regexp.MustCompile(`dashboard token of ` + demoSupplier + `[^\n]*\n\s+(\S+)\n`).FindStringSubmatch(out.String())
	require.NotNil(t, m, out.String())
	printed := connect(t, ctx, base, hc, m[1])
	status, resp := printed.join("realtime:supplier:"+demoSupplier, m[1], 0)
	require.Equal(t, "ok", status, resp)

	other := token(t, testJWTSecret, "sup_other")
	p := connect(t, ctx, base, hc, other)
	status, resp = p.join("realtime:supplier:sup_rt", other, 0)
	require.Equal(t, "error", status)
	require.Contains(t, resp["reason"], "may not join")
	status, resp = p.join("realtime:supplier:sup_other", other, 0)
	require.Equal(t, "ok", status, resp)

	for name, tok := range map[string]string{
		"garbage":      "not-a-jwt",
		"wrong secret": token(t, "another-secret-of-at-least-32-bytes!!", "sup_rt"),
	} {
		c, res, err := dialHub(ctx, base, hc, tok)
		if c != nil {
			_ = c.CloseNow()
		}
		require.Error(t, err, name)
		require.NotNil(t, res, name)
		require.Equal(t, http.StatusUnauthorized, res.StatusCode, name)
	}
}

// POST /api/events checks its input and its caller.
func TestDemoRealtimeEventsValidation(t *testing.T) {
	base, hc, out := startServer(t)

	code, body := post(t, hc, base, "", `{"supplier_id":"sup_rt","type":"kpi.updated","payload":{}}`)
	require.Equal(t, http.StatusUnauthorized, code, body)
	require.Contains(t, body["error"], "bearer token")
	code, _ = post(t, hc, base, "wrong", `{"supplier_id":"sup_rt","type":"kpi.updated","payload":{}}`)
	require.Equal(t, http.StatusUnauthorized, code)

	for _, tc := range []struct{ body, field, rule string }{
		{`{"type":"kpi.updated","payload":{}}`, "supplier_id", "is required"},
		{`{"supplier_id":"sup:1","type":"kpi.updated","payload":{}}`, "supplier_id", "no ':'"},
		{`{"supplier_id":"sup 1","type":"kpi.updated","payload":{}}`, "supplier_id", "letters, digits"},
		{`{"supplier_id":42,"type":"kpi.updated","payload":{}}`, "supplier_id", "must be a string"},
		{`{"supplier_id":"sup_rt","payload":{}}`, "type", "is required"},
		{`{"supplier_id":"sup_rt","type":"kpi\nupdated","payload":{}}`, "type", "control characters"},
		{`{"supplier_id":"sup_rt","type":"` + strings.Repeat("k", 201) + `","payload":{}}`, "type", "at most 200"},
		{`{"supplier_id":"sup_rt","type":"kpi.updated"}`, "payload", "is required"},
		{`{"supplier_id":"sup_rt","type":"kpi.updated","payload":null}`, "payload", "is required"},
		{`{"supplier_id":"sup_rt","type":"kpi.updated","payload":[1,2]}`, "payload", "must be a JSON object"},
		{`{"supplier_id":"sup_rt","type":"kpi.updated","payload":{},"topic":"x"}`, "topic", "not a known field"},
		{``, "body", "is required"},
	} {
		code, body := post(t, hc, base, testAdminToken, tc.body)
		require.Equal(t, http.StatusBadRequest, code, "%s: %v", tc.body, body)
		require.Equal(t, tc.field, body["field"], body)
		require.Contains(t, body["error"], tc.field+": ")
		require.Contains(t, body["error"], tc.rule)
	}
	code, body = post(t, hc, base, testAdminToken, `{"supplier_id":"sup_rt","type":"kpi.updated","payload":{"x":"`+strings.Repeat("a", 300<<10)+`"}}`)
	require.Equal(t, http.StatusRequestEntityTooLarge, code, body)
	require.Equal(t, "payload", body["field"])
	require.NotContains(t, out.String(), "BROADCAST", "nothing was broadcast")

	// The page may open a socket to its own host.
	res, err := hc.Get(base + "/")
	require.NoError(t, err)
	page, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Contains(t, string(page), "/static/dashboard.js")
	require.Contains(t, res.Header.Get("Content-Security-Policy"), "connect-src 'self' ws://"+strings.TrimPrefix(base, "http://"))
}

// A short WEDSYNC_JWT_SECRET is refused, naming the variable.
func TestDemoRealtimeConfig(t *testing.T) {
	env := map[string]string{envJWTSecret: "short"}
	c, err := parseConfig([]string{"-addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "short", c.JWTSecret)
	err = run(t.Context(), c, io.Discard)
	require.ErrorContains(t, err, envJWTSecret+" must be at least 32 bytes")

	s, generated, err := jwtSecret("")
	require.NoError(t, err)
	require.True(t, generated)
	require.GreaterOrEqual(t, len(s), 32)
	_, _, err = jwtSecret(strings.Repeat("x", 31))
	require.ErrorContains(t, err, "it has 31")
}

// In Postgres mode the broadcasts go through Postgres: a dashboard on one
// instance sees what POST /api/events sent to another, live and in the
// KPIs it loads when it opens.
func TestDemoRealtimePostgres(t *testing.T) {
	url := pgtest.NewDatabase(t, "demo_realtime") // the demo names its schemas: a database of its own
	pg := func(c *config) {
		c.DatabaseURL = url
		c.EncryptionKey = strings.Repeat("5e", 32)
	}
	baseA, hcA, _ := startServer(t, pg)
	baseB, hcB, outB := startServer(t, pg)
	require.Contains(t, outB.String(), "Postgres mode")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	// A topic of its own, so that earlier runs' history does not count.
	supplier := "sup_pg_" + strings.ToLower(rand.Text()[:10])
	topic := "realtime:supplier:" + supplier
	tok := token(t, testJWTSecret, supplier)
	dash := connect(t, ctx, baseA, hcA, tok)
	status, resp := dash.join(topic, tok, 0)
	require.Equal(t, "ok", status, resp)

	code, body := post(t, hcB, baseB, testAdminToken, `{"supplier_id":"`+supplier+`","type":"kpi.updated","payload":{"enquiries":7}}`)
	require.Equal(t, http.StatusAccepted, code, body)
	require.EqualValues(t, 1, body["offset"])
	b := dash.broadcast(topic)
	require.Equal(t, "kpi.updated", b.Event)
	require.JSONEq(t, `{"enquiries":7}`, string(b.Payload))
	require.Equal(t, body["id"], b.Meta.ID)

	// A dashboard that opens on A now shows the KPIs B broadcast: A's
	// snapshot reads them from the shared history.
	code, snap := (&apiClient{t: t, base: baseA, token: tok, c: hcA}).do("GET", "/api/kpis", "")
	require.Equal(t, http.StatusOK, code, snap)
	require.Equal(t, map[string]any{"enquiries": 7.0}, snap["kpis"])
	require.EqualValues(t, 1, snap["as_of"].(map[string]any)["offset"])
}
