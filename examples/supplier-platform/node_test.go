package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/realtime/protocol"
	"github.com/wedsync/integrations/realtime/realtimetest"
	"github.com/wedsync/integrations/webhook/delivery"
)

// The tests in this file prove the demo from the outside with the official
// npm packages, run by Node as a supplier's dashboard and a vendor's
// receiver would run them: @supabase/realtime-js against the realtime hub
// (TestDemoNodeRealtime) and standardwebhooks against the webhook
// deliveries (TestDemoNodeWebhookReceiver). The programs, with their
// package.json and package-lock.json, live in testdata/node, which go
// ignores.

// nodeDir holds the Node programs, relative to this package.
const nodeDir = "testdata/node"

// envRequireNode makes a missing Node or missing npm packages fail the
// tests instead of skipping them; .ci/run sets it after npm ci.
const envRequireNode = "WEDSYNC_REQUIRE_NODE"

// nodeTimeout bounds each Node program. The programs that can wait for
// something have a shorter deadline of their own and say what they were
// waiting for.
const nodeTimeout = 90 * time.Second

// requireNode returns the path of node, or skips the test (fails it under
// WEDSYNC_REQUIRE_NODE=1) when node or the npm packages are missing.
func requireNode(t *testing.T) string {
	t.Helper()
	install := "npm ci --prefix examples/supplier-platform/" + nodeDir + " (from the repository root)"
	why := ""
	node, err := exec.LookPath("node")
	if err != nil {
		why = "node is not on PATH: install Node.js 20 or newer, then run " + install
	} else {
		for _, pkg := range []string{"@supabase/realtime-js", "standardwebhooks", "ws"} {
			if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", filepath.FromSlash(pkg), "package.json")); err != nil {
				why = fmt.Sprintf("the npm package %s is not installed in %s/node_modules: run %s", pkg, nodeDir, install)
				break
			}
		}
	}
	if why == "" {
		return node
	}
	if os.Getenv(envRequireNode) == "1" {
		t.Fatalf("%s=1, but %s", envRequireNode, why)
	}
	t.Skipf("%s (set %s=1 to fail instead of skipping)", why, envRequireNode)
	return ""
}

// nodeLine is one line a Node program printed: JSON, or not.
type nodeLine struct {
	raw string
	m   map[string]any
}

// nodeProc is a running Node program that prints JSON lines. It is the
// program's stdout: Write splits what it prints into lines.
type nodeProc struct {
	t      *testing.T
	ctx    context.Context
	stdin  io.WriteCloser
	stderr lockedBuffer

	mu    sync.Mutex
	part  []byte // a line not yet ended
	lines []nodeLine
	read  int           // lines next has looked at
	more  chan struct{} // a line came (capacity 1)

	exited  chan struct{} // closed once the program has exited
	waitErr error         // its exit, once exited is closed
}

// startNode runs `node script` in nodeDir with env added to the test's
// environment. The program is killed when the test ends if it is still
// running then; wait ends it cleanly.
func startNode(t *testing.T, script string, env ...string) *nodeProc {
	t.Helper()
	node := requireNode(t)
	ctx, cancel := context.WithTimeout(t.Context(), nodeTimeout)
	p := &nodeProc{t: t, ctx: ctx, more: make(chan struct{}, 1), exited: make(chan struct{})}
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = p
	cmd.Stderr = &p.stderr
	cmd.WaitDelay = 5 * time.Second
	var err error
	p.stdin, err = cmd.StdinPipe()
	require.NoError(t, err)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start node %s: %v", script, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.stdin.Close()
		cancel()
		<-p.exited
	})
	return p
}

// Write takes the program's stdout.
func (p *nodeProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	p.part = append(p.part, b...)
	for {
		i := bytes.IndexByte(p.part, '\n')
		if i < 0 {
			break
		}
		l := nodeLine{raw: string(p.part[:i])}
		if err := json.Unmarshal(p.part[:i], &l.m); err != nil {
			l.m = nil
		}
		p.lines = append(p.lines, l)
		p.part = p.part[i+1:]
	}
	p.mu.Unlock()
	select {
	case p.more <- struct{}{}:
	default:
	}
	return len(b), nil
}

// output is everything the program printed, for failure messages.
func (p *nodeProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, l := range p.lines {
		b.WriteString(l.raw)
		b.WriteByte('\n')
	}
	b.Write(p.part)
	return fmt.Sprintf("node stdout:\n%s\nnode stderr:\n%s", b.String(), p.stderr.String())
}

// next returns the next line that match accepts, passing over the others;
// it fails the test when the program ends or the deadline passes first.
func (p *nodeProc) next(what string, match func(nodeLine) bool) nodeLine {
	p.t.Helper()
	exited := false
	for {
		p.mu.Lock()
		for p.read < len(p.lines) {
			l := p.lines[p.read]
			p.read++
			if match(l) {
				p.mu.Unlock()
				return l
			}
		}
		p.mu.Unlock()
		if exited {
			p.t.Fatalf("node exited (%v) while the test waited for %s\n%s", p.waitErr, what, p.output())
		}
		select {
		case <-p.more:
		case <-p.exited:
			exited = true // every line is in: look once more
		case <-p.ctx.Done():
			p.t.Fatalf("no %s from node within %s\n%s", what, nodeTimeout, p.output())
		}
	}
}

// wait closes the program's stdin and waits for it to exit 0.
func (p *nodeProc) wait() {
	p.t.Helper()
	_ = p.stdin.Close()
	select {
	case <-p.exited:
	case <-p.ctx.Done():
		p.t.Fatalf("node did not exit within %s\n%s", nodeTimeout, p.output())
	}
	require.NoError(p.t, p.waitErr, p.output())
}

// Results of realtime.mjs.

type rtFrames struct {
	TextIn    int `json:"text_in"`
	BinaryIn  int `json:"binary_in"`
	TextOut   int `json:"text_out"`
	BinaryOut int `json:"binary_out"`
}

// rtSent is the answer of POST /api/events.
type rtSent struct {
	ID     string `json:"id"`
	Offset uint64 `json:"offset"`
	Topic  string `json:"topic"`
}

// rtStep is one line of realtime.mjs; each step fills some fields.
type rtStep struct {
	Step    string   `json:"step"`
	Waiting string   `json:"waiting"`
	Error   string   `json:"error"`
	Topic   string   `json:"topic"`
	Status  string   `json:"status"`
	VSN     string   `json:"vsn"`
	State   string   `json:"state"`
	Frames  rtFrames `json:"frames"`

	Sent     rtSent                    `json:"sent"`
	Received protocol.BroadcastPayload `json:"received"`

	Result string `json:"result"`
	Reply  *struct {
		Status   string `json:"status"`
		Response struct {
			Reason string `json:"reason"`
		} `json:"response"`
	} `json:"reply"`
	SentAfter     rtSent                    `json:"sent_after"`
	ReceivedAfter protocol.BroadcastPayload `json:"received_after"`
	Echoed        int                       `json:"echoed"`

	Removed   string `json:"removed"`
	MainState string `json:"main_state"`
	Joined    string `json:"joined"`

	System json.RawMessage `json:"system"`

	Since          int64                       `json:"since"`
	LastSeen       protocol.BroadcastMeta      `json:"last_seen"`
	Missed         []rtSent                    `json:"missed"`
	Replayed       []protocol.BroadcastPayload `json:"replayed"`
	BinaryReplayed int                         `json:"binary_replayed"`
	LiveSent       rtSent                      `json:"live_sent"`
	LiveReceived   protocol.BroadcastPayload   `json:"live_received"`
	Left           string                      `json:"left"`

	Tracked    []string                    `json:"tracked"`
	LaptopSees map[string][]map[string]any `json:"laptop_sees"`
	PhoneSees  map[string][]map[string]any `json:"phone_sees"`
	Untracked  string                      `json:"untracked"`
	LeftKey    string                      `json:"left_key"`
	LeftPages  []string                    `json:"left_pages"`
	AfterLeave []string                    `json:"after_leave"`
}

// step reads realtime.mjs's next step, which must be name.
func (p *nodeProc) step(name string) rtStep {
	p.t.Helper()
	l := p.next("step "+name, func(l nodeLine) bool { return l.m["step"] != nil })
	var s rtStep
	require.NoError(p.t, json.Unmarshal([]byte(l.raw), &s), l.raw)
	if s.Step == "error" {
		p.t.Fatalf("realtime.mjs failed while waiting for %s: %s\n%s", s.Waiting, s.Error, p.output())
	}
	require.Equal(p.t, name, s.Step, p.output())
	return s
}

// The official Supabase Realtime client, @supabase/realtime-js from npm,
// against the demo's hub on both protocol versions: join a supplier's
// topic, receive what the backend broadcasts through the API, have its own
// broadcast refused cleanly, be refused another supplier's topic, refresh
// its token (and lose the channel to a bad or expired one), get what it
// missed replayed when it rejoins, and see presence (one user on two
// devices).
func TestDemoNodeRealtime(t *testing.T) {
	requireNode(t)
	base, _, out := startServer(t)
	hubURL := "ws" + strings.TrimPrefix(base, "http") + strings.TrimSuffix(hubPath, "/websocket")
	secret := []byte(testJWTSecret)
	mint := func(t *testing.T, supplier string, expires time.Time) string {
		t.Helper()
		tok, err := realtimetest.HS256Token(secret, supplier, expires)
		require.NoError(t, err)
		return tok
	}

	for _, tc := range []struct{ vsn, supplier string }{{"1.0.0", "sup_node_v1"}, {"2.0.0", "sup_node_v2"}} {
		t.Run("vsn "+tc.vsn, func(t *testing.T) {
			now := time.Now()
			topic := "realtime:supplier:" + tc.supplier
			p := startNode(t, "realtime.mjs",
				"HUB_URL="+hubURL, "VSN="+tc.vsn, "API_URL="+base, "ADMIN_TOKEN="+testAdminToken,
				"SUPPLIER="+tc.supplier, "OTHER_SUPPLIER=sup_node_other",
				"TOKEN="+mint(t, tc.supplier, now.Add(time.Hour)),
				// Another expiry, so another token: realtime-js sends
				// access_token only when the token changes.
				"NEW_TOKEN="+mint(t, tc.supplier, now.Add(2*time.Hour)),
				"INVALID_TOKEN="+token(t, "another-secret-of-at-least-32-bytes!!", tc.supplier),
				// Past the hub's 30 s leeway.
				"EXPIRED_TOKEN="+mint(t, tc.supplier, now.Add(-10*time.Minute)),
				"TIMEOUT_MS=45000")
			binary := tc.vsn == "2.0.0"

			// Join.
			s := p.step("join")
			require.Equal(t, "SUBSCRIBED", s.Status, s.Error)
			require.Equal(t, topic, s.Topic)
			require.Equal(t, tc.vsn, s.VSN)
			require.Zero(t, s.Frames.BinaryIn+s.Frames.BinaryOut, "the join is text")

			// A broadcast the backend sent through POST /api/events, byte
			// for byte (the payload has non-ASCII text), with its meta.
			s = p.step("server_broadcast")
			require.Equal(t, "supplier:"+tc.supplier, s.Sent.Topic)
			require.EqualValues(t, 1, s.Sent.Offset)
			require.Equal(t, "broadcast", s.Received.Type)
			require.Equal(t, "kpi.updated", s.Received.Event)
			require.JSONEq(t, `{"bookings":21,"revenue":{"currency":"GBP","value":"1234.50"},"note":"Zoë & Chloé 🌸"}`, string(s.Received.Payload))
			require.NotNil(t, s.Received.Meta, "the hub's meta reaches realtime-js")
			require.Equal(t, s.Sent.ID, s.Received.Meta.ID)
			require.EqualValues(t, 1, s.Received.Meta.Offset)
			require.NotEmpty(t, s.Received.Meta.Epoch)
			require.Positive(t, s.Received.Meta.TS)
			require.False(t, s.Received.Meta.Replayed)
			if binary {
				require.Equal(t, 1, s.Frames.BinaryIn, "vsn 2.0.0: the broadcast came as a binary frame")
			} else {
				require.Zero(t, s.Frames.BinaryIn, "vsn 1.0.0 is all text")
			}

			// The client's own broadcast: the demo's hub does not let
			// dashboards broadcast, and says so in the reply; the channel
			// stays joined and keeps receiving, and nothing was echoed.
			s = p.step("client_broadcast")
			require.Equal(t, "error", s.Result, "send() resolves 'error' on the refusal")
			require.NotNil(t, s.Reply, "the refusal is a reply to the push\n%s", p.output())
			require.Equal(t, "error", s.Reply.Status)
			require.Contains(t, s.Reply.Response.Reason, "clients may not broadcast on \"supplier:"+tc.supplier+"\"")
			require.Equal(t, "joined", s.State)
			require.Equal(t, "enquiry.received", s.ReceivedAfter.Event)
			require.Equal(t, s.SentAfter.ID, s.ReceivedAfter.Meta.ID)
			require.EqualValues(t, 2, s.ReceivedAfter.Meta.Offset, "the refused broadcast took no offset")
			require.Zero(t, s.Echoed)
			if binary {
				require.Equal(t, 1, s.Frames.BinaryOut, "vsn 2.0.0: the client's broadcast went as a binary frame")
				require.Equal(t, 2, s.Frames.BinaryIn)
			} else {
				require.Zero(t, s.Frames.BinaryIn+s.Frames.BinaryOut)
			}

			// Another supplier's topic.
			s = p.step("refused_join")
			require.Equal(t, "realtime:supplier:sup_node_other", s.Topic)
			require.Equal(t, "CHANNEL_ERROR", s.Status)
			require.Contains(t, s.Error, "supplier "+tc.supplier+" may not join topic \"supplier:sup_node_other\"")
			require.Equal(t, "ok", s.Removed)
			require.Equal(t, "joined", s.MainState, "the refusal leaves the joined channel alone")

			// Token refresh: still joined, no system error, still receiving.
			s = p.step("refresh")
			require.Equal(t, "joined", s.State)
			require.JSONEq(t, `[]`, string(s.System), "no system message after a good refresh")
			require.Equal(t, s.Sent.ID, s.Received.Meta.ID)
			require.EqualValues(t, 3, s.Received.Meta.Offset)
			require.JSONEq(t, `{"bookings":22}`, string(s.Received.Payload))

			// A token signed with another secret: system error, then close.
			s = p.step("invalid_token")
			var sys protocol.SystemPayload
			require.NoError(t, json.Unmarshal(s.System, &sys))
			require.Equal(t, protocol.SystemPayload{Extension: "system", Status: "error", Code: "token_invalid", Message: sys.Message,
				Channel: "supplier:" + tc.supplier}, sys)
			require.NotEmpty(t, sys.Message)
			require.Equal(t, "CLOSED", s.Status)
			require.Equal(t, "closed", s.State)

			// An expired token on a channel joined again.
			s = p.step("expired_token")
			require.Equal(t, "SUBSCRIBED", s.Joined)
			sys = protocol.SystemPayload{}
			require.NoError(t, json.Unmarshal(s.System, &sys))
			require.Equal(t, "error", sys.Status)
			require.Equal(t, "token_invalid", sys.Code)
			require.Contains(t, sys.Message, "expired")
			require.Equal(t, "CLOSED", s.Status)
			require.Equal(t, "closed", s.State)

			// Replay after rejoin: since is the newest meta.ts seen, and
			// inclusive, so the last broadcast seen may come again; the
			// two sent while away come, in order, marked replayed; then
			// replay_complete, then live broadcasts.
			s = p.step("replay")
			require.Equal(t, s.LastSeen.TS, s.Since)
			require.Len(t, s.Missed, 2)
			require.NotEmpty(t, s.Replayed)
			var ids []string
			var offsets []uint64
			for _, b := range s.Replayed {
				require.NotNil(t, b.Meta)
				require.True(t, b.Meta.Replayed, "every replayed broadcast says so: %+v", b)
				require.GreaterOrEqual(t, b.Meta.TS, s.Since)
				ids = append(ids, b.Meta.ID)
				offsets = append(offsets, b.Meta.Offset)
			}
			// Contiguous and in order, ending with what was missed; the
			// last broadcast seen is there (its ts is since), and older
			// ones only when they share its millisecond (checked above).
			for i := 1; i < len(offsets); i++ {
				require.Equal(t, offsets[i-1]+1, offsets[i], "offsets %v", offsets)
			}
			require.GreaterOrEqual(t, len(ids), 3, "offsets %v", offsets)
			require.Equal(t, []string{s.LastSeen.ID, s.Missed[0].ID, s.Missed[1].ID}, ids[len(ids)-3:])
			last := s.Replayed[len(s.Replayed)-1]
			require.Equal(t, "kpi.updated", last.Event)
			require.JSONEq(t, `{"bookings":23}`, string(last.Payload))
			sys = protocol.SystemPayload{}
			require.NoError(t, json.Unmarshal(s.System, &sys))
			require.Equal(t, "replay_complete", sys.Code)
			require.Equal(t, "ok", sys.Status)
			require.Equal(t, s.LiveSent.ID, s.LiveReceived.Meta.ID)
			require.False(t, s.LiveReceived.Meta.Replayed)
			require.Equal(t, s.Missed[1].Offset+1, s.LiveReceived.Meta.Offset)
			if binary {
				require.Equal(t, len(s.Replayed), s.BinaryReplayed, "vsn 2.0.0: replayed broadcasts are binary too")
			} else {
				require.Zero(t, s.Frames.BinaryIn+s.Frames.BinaryOut)
			}

			require.Equal(t, "ok", s.Left, "removeChannel leaves the channel")

			// Presence: both devices of the supplier's user are one key
			// (the token's subject) with two metas, seen by each; the
			// phone's untrack is a leave of its meta for the laptop.
			s = p.step("presence")
			require.Equal(t, []string{"ok", "ok"}, s.Tracked)
			for _, seen := range []map[string][]map[string]any{s.LaptopSees, s.PhoneSees} {
				require.Len(t, seen, 1, "one user, one key: %v", seen)
				for key, metas := range seen {
					require.Equal(t, s.LeftKey, key)
					require.Len(t, metas, 2, "%v", seen)
					got := []any{metas[0]["page"], metas[1]["page"]}
					require.ElementsMatch(t, []any{"dashboard", "calendar"}, got)
				}
			}
			require.Equal(t, "ok", s.Untracked)
			require.NotEmpty(t, s.LeftKey)
			require.Equal(t, []string{"calendar"}, s.LeftPages)
			require.Equal(t, []string{"dashboard"}, s.AfterLeave)

			p.step("done")
			p.wait()
			require.Contains(t, out.String(), "BROADCAST  kpi.updated       -> supplier:"+tc.supplier+", offset 6: {\"bookings\":24} (through the API)")
		})
	}
}

// attemptLog records the demo's delivery attempts (its attempt hook) so
// that a test can wait for one.
type attemptLog struct {
	mu   sync.Mutex
	all  []delivery.Attempt
	more chan struct{}
}

func newAttemptLog() *attemptLog { return &attemptLog{more: make(chan struct{}, 1)} }

func (l *attemptLog) hook(a delivery.Attempt) {
	l.mu.Lock()
	l.all = append(l.all, a)
	l.mu.Unlock()
	select {
	case l.more <- struct{}{}:
	default:
	}
}

// wait returns the first attempt that match accepts, waiting for it.
func (l *attemptLog) wait(t *testing.T, ctx context.Context, what string, match func(delivery.Attempt) bool) delivery.Attempt {
	t.Helper()
	for {
		l.mu.Lock()
		for _, a := range l.all {
			if match(a) {
				l.mu.Unlock()
				return a
			}
		}
		l.mu.Unlock()
		select {
		case <-l.more:
		case <-ctx.Done():
			t.Fatalf("no attempt: %s", what)
		}
	}
}

// The Node side of the vendor spec (docs/webhooks.md), for real: a
// vendor's receiver in Node verifies the demo's deliveries with the
// standardwebhooks package over the raw body. Every genuine delivery
// verifies; a receiver holding the wrong secret and a delivery tampered
// with on the way are rejected (401), and the demo's attempt log shows
// both sides; after a secret rotation, the receiver verifies with the new
// secret alone while the demo signs with both.
func TestDemoNodeWebhookReceiver(t *testing.T) {
	requireNode(t)
	attempts := newAttemptLog()
	base, hc, out := startServer(t, func(c *config) { c.onAttempt = attempts.hook })
	api := &apiClient{t: t, base: base, token: testAdminToken, c: hc}
	ctx, cancel := context.WithTimeout(t.Context(), nodeTimeout)
	defer cancel()

	p := startNode(t, "receiver.mjs")
	nodeURL, _ := p.next("the receiver's address", func(l nodeLine) bool { return l.m["event"] == "listening" }).m["url"].(string)
	require.True(t, strings.HasPrefix(nodeURL, "http://127.0.0.1:"), nodeURL)

	// A man in the middle that changes one number of the body and passes
	// the request on to the receiver, headers and all.
	tampered := make(chan string, 16)
	proxyURL := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		changed := bytes.Replace(body, []byte(`"amount":100`), []byte(`"amount":900`), 1)
		if bytes.Equal(changed, body) {
			http.Error(w, "proxy: nothing to tamper with", http.StatusTeapot)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, nodeURL+r.URL.Path, bytes.NewReader(changed))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for k, v := range r.Header {
			req.Header[k] = v
		}
		res, err := hc.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		select {
		case tampered <- r.Header.Get("Webhook-Id"):
		default:
		}
		w.WriteHeader(res.StatusCode)
		_, _ = io.Copy(w, res.Body)
	}))

	// The endpoints, made through the demo's JSON API as the integrations
	// page makes them.
	create := func(supplier, url, description string) (id, secret string) {
		t.Helper()
		code, ep := api.do("POST", "/api/endpoints", fmt.Sprintf(`{"supplier_id":%q,"url":%q,"description":%q}`, supplier, url, description))
		require.Equal(t, http.StatusCreated, code, ep)
		id, _ = ep["id"].(string)
		secret, _ = ep["secret"].(string)
		require.True(t, strings.HasPrefix(secret, "whsec_"), ep)
		return id, secret
	}
	goodID, goodSecret := create("sup_node_vendor", nodeURL+"/hooks/crm", "Node CRM (standardwebhooks)")
	wrongID, _ := create("sup_node_bad", nodeURL+"/hooks/wrong-secret", "Node CRM holding another endpoint's secret")
	tamperedID, tamperedSecret := create("sup_node_bad", proxyURL+"/hooks/tampered", "Node CRM behind a tampering proxy")

	// The vendor pastes each secret into its receiver.
	configure := func(path, secret string) {
		t.Helper()
		line, err := json.Marshal(map[string]string{"path": path, "secret": secret})
		require.NoError(t, err)
		_, err = p.stdin.Write(append(line, '\n'))
		require.NoError(t, err)
		p.next("configured "+path, func(l nodeLine) bool { return l.m["event"] == "configured" && l.m["path"] == path })
	}
	configure("/hooks/crm", goodSecret)
	configure("/hooks/wrong-secret", goodSecret) // not its endpoint's secret
	configure("/hooks/tampered", tamperedSecret)

	send := func(supplier, eventType, payload string) string {
		t.Helper()
		code, sent := api.do("POST", "/api/messages", fmt.Sprintf(`{"supplier_id":%q,"event_type":%q,"payload":%s}`, supplier, eventType, payload))
		require.Equal(t, http.StatusAccepted, code, sent)
		id, _ := sent["id"].(string)
		require.True(t, strings.HasPrefix(id, "msg_"), sent)
		return id
	}
	delivered := func(path, msgID string) nodeLine {
		t.Helper()
		return p.next("the delivery of "+msgID+" to "+path, func(l nodeLine) bool {
			return l.m["event"] == "delivery" && l.m["path"] == path && l.m["webhook_id"] == msgID
		})
	}

	// Genuine deliveries verify, whatever the body holds: non-ASCII text,
	// HTML characters, numbers as written, spaces; standardwebhooks parses
	// the JSON it verified.
	payloads := []struct{ eventType, body string }{
		{"booking.confirmed", `{"type":"booking.confirmed","timestamp":"2026-11-26T23:06:30Z","data":{"booking_id":"bk_1001","couple":"Zoë & Chloé 🌸","note":"<b>it's \"on\"</b>"}}`},
		{"payment.received", `{"type":"payment.received","timestamp":"2026-11-27T09:00:00Z","data":{"amount":{"currency":"GBP","value":"1500.00"},"deposit":true}}`},
		{"client.updated", `{ "type" : "client.updated", "data" : { "guests" : 1.50e2, "tags" : [ "vip" , "outdoor" ] } }`},
	}
	for _, pl := range payloads {
		id := send("sup_node_vendor", pl.eventType, pl.body)
		l := delivered("/hooks/crm", id)
		require.Equal(t, true, l.m["verified"], l.raw)
		require.Equal(t, pl.eventType, l.m["event_type"], l.raw)
		require.EqualValues(t, 1, l.m["signatures"], "one secret, one signature")
		require.Equal(t, pl.body, l.m["body"], "the body arrives byte for byte as the host gave it")
		got, err := json.Marshal(l.m["payload"])
		require.NoError(t, err)
		require.JSONEq(t, pl.body, string(got), "and parses to the same JSON")
		a := attempts.wait(t, ctx, "the successful attempt of "+id, func(a delivery.Attempt) bool {
			return a.MessageID == id && a.EndpointID == goodID && a.Status == delivery.AttemptSucceeded
		})
		require.Equal(t, http.StatusNoContent, a.ResponseStatus)
		require.Equal(t, 1, a.Number, "verified the first time")
	}

	// The wrong secret and the tampered body: the receiver rejects both,
	// and the demo records the receiver's 401 and its reason.
	badID := send("sup_node_bad", "booking.confirmed", `{"type":"booking.confirmed","data":{"booking_id":"bk_2002","amount":100}}`)
	for _, c := range []struct{ path, endpoint string }{{"/hooks/wrong-secret", wrongID}, {"/hooks/tampered", tamperedID}} {
		l := delivered(c.path, badID)
		require.Equal(t, false, l.m["verified"], l.raw)
		require.Equal(t, "WebhookVerificationError: No matching signature found", l.m["error"], l.raw)
		a := attempts.wait(t, ctx, "the rejected attempt of "+badID+" to "+c.path, func(a delivery.Attempt) bool {
			return a.MessageID == badID && a.EndpointID == c.endpoint
		})
		require.Equal(t, delivery.AttemptFailed, a.Status)
		require.Equal(t, http.StatusUnauthorized, a.ResponseStatus)
		require.Contains(t, a.ResponseBody, "invalid webhook: No matching signature found")
		require.False(t, a.NextAttemptAt.IsZero(), "a 401 is retried")
		// Stop the retries: they would fail the same way.
		code, ep := api.do("POST", "/api/endpoints/"+c.endpoint+"/pause", "")
		require.Equal(t, http.StatusOK, code, ep)
	}
	select {
	case id := <-tampered:
		require.Equal(t, badID, id, "the proxy changed the body of the delivery")
	default:
		t.Fatal("the tampering proxy passed on no request")
	}

	// A rotation: WedSync signs with the old and the new secret for a day;
	// a receiver that switched to the new one verifies at once.
	code, rot := api.do("POST", "/api/endpoints/"+goodID+"/rotate-secret", "")
	require.Equal(t, http.StatusOK, code, rot)
	newSecret, _ := rot["secret"].(string)
	require.NotEqual(t, goodSecret, newSecret)
	configure("/hooks/crm", newSecret)
	id := send("sup_node_vendor", "booking.cancelled", `{"type":"booking.cancelled","data":{"booking_id":"bk_1001"}}`)
	l := delivered("/hooks/crm", id)
	require.Equal(t, true, l.m["verified"], l.raw)
	require.EqualValues(t, 2, l.m["signatures"], "old and new secret during the rotation")
	attempts.wait(t, ctx, "the successful attempt after the rotation", func(a delivery.Attempt) bool {
		return a.MessageID == id && a.EndpointID == goodID && a.Status == delivery.AttemptSucceeded
	})

	p.wait()
	for _, s := range []string{goodSecret, newSecret, tamperedSecret} {
		require.NotContains(t, p.output(), s, "the receiver never prints a secret")
		require.NotContains(t, out.String(), s, "nor does the demo")
	}
}

// serveLoopback serves h on a free port of 127.0.0.1 until the test ends
// and returns its base URL.
func serveLoopback(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		require.ErrorIs(t, <-done, http.ErrServerClosed)
	})
	return "http://" + ln.Addr().String()
}
