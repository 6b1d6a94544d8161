package main

// Postgres mode survives a restart: the demo, run as a process on a
// database of its own, is stopped (SIGTERM, or SIGKILL) while webhooks are
// retrying and started again on the same database. The retries carry on
// in the new process and arrive, signed with the secrets the first one
// sealed; a dashboard that was cut off rejoins and gets, replayed, the
// broadcasts it missed; the tokens printed by the first run still work.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/client"
	"github.com/wedsync/integrations/webhook"
)

// restartRetryAfter is the Retry-After of the failing receiver: long
// enough that no retry is running when the demo is stopped right after the
// first attempts were recorded (a job cut by SIGKILL while running would
// only be rescued minutes later), short enough to keep the retries due
// within River's scheduler interval.
const restartRetryAfter = "4"

// restartWait bounds each wait of the restart test.
const restartWait = time.Minute

func TestDemoPostgresSurvivesARestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{{"SIGTERM", syscall.SIGTERM}, {"SIGKILL", syscall.SIGKILL}} {
		t.Run(tc.name, func(t *testing.T) { testRestart(t, tc.sig) })
	}
}

func testRestart(t *testing.T, stopWith syscall.Signal) {
	dbURL := pgtest.NewDatabase(t, "demo_restart")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	addr := freeAddrOtherThan(t, "") // the restarted demo listens where the first one did
	env := []string{
		envDatabaseURL + "=" + dbURL, envEncryptionKey + "=" + hex.EncodeToString(key),
		// Unset: generated, and in Postgres mode derived from the key.
		envAdminToken + "=", envJWTSecret + "=", envCoupleToken + "=",
		demoChildArgsEnv + "=-addr " + addr + " -vendor-addr 127.0.0.1:0 -demo=false",
	}
	recv := newFailingReceiver(t)

	a := startDemoProcess(t, env)
	api := &apiClient{t: t, base: a.api, token: a.adminToken, c: &http.Client{Timeout: 30 * time.Second}}
	defer api.c.CloseIdleConnections()

	// Two endpoints of the sample supplier: the test's receiver, which
	// fails for now, and a hook of the demo's own vendor CRM.
	code, ep := api.do("POST", "/api/endpoints", `{"supplier_id":"`+demoSupplier+`","url":"`+recv.url+`/hook","event_types":["booking.*"]}`)
	require.Equal(t, http.StatusCreated, code, ep)
	recvEP := ep["id"].(string)
	recv.setSecret(t, ep["secret"].(string))
	code, ep = api.do("POST", "/api/endpoints", `{"supplier_id":"`+demoSupplier+`","url":"`+a.vendor+`/hooks/restart-vendor","event_types":["booking.*"]}`)
	require.Equal(t, http.StatusCreated, code, ep)
	vendorEP := ep["id"].(string)

	// A dashboard with replay, on a socket whose dials the test can hold.
	dash := newReplayDashboard(t, addr, a.dashToken)
	e1 := publishKPI(t, api, 1)
	dash.want(t, e1, false)

	// Messages whose first attempt fails: stop the demo once each one's
	// retry is queued.
	var msgs []string
	for i := range 3 {
		code, sent := api.do("POST", "/api/messages", fmt.Sprintf(`{"supplier_id":%q,"event_type":"booking.confirmed","payload":{"n":%d}}`, demoSupplier, i))
		require.Equal(t, http.StatusAccepted, code, sent)
		msgs = append(msgs, sent["id"].(string))
	}
	for _, m := range msgs {
		a.waitLine(t, "FAILED", m+" -> "+recvEP+", attempt 1", "retry (attempt 2) in")
	}
	dash.hold()
	a.stop(t, stopWith)

	// The same database, key and address; the vendor CRM gets a new port.
	recv.succeed()
	b := startDemoProcess(t, append(env, demoChildArgsEnv+"=-addr "+addr+" -vendor-addr "+freeAddrOtherThan(t, a.vendor)+" -demo=false"))
	defer b.stop(t, syscall.SIGTERM)
	require.Equal(t, a.adminToken, b.adminToken, "the admin token is the same after a restart")
	b.waitLine(t, "restart: endpoint restart-vendor ("+vendorEP+") of "+demoSupplier+" is kept from an earlier run, at the vendor CRM's new address")

	// Broadcasts while the dashboard is away, then it rejoins, with the
	// token the first run printed.
	api.base = b.api
	e2, e3 := publishKPI(t, api, 2), publishKPI(t, api, 3)

	// The retries arrive from the new process, signed with the secret the
	// first one sealed, as attempt 2: the chain carried on.
	for _, m := range msgs {
		b.waitLine(t, "DELIVERED", m+" -> "+recvEP+", attempt 2: HTTP 200")
		recv.waitDelivered(t, m)
		code, atts := api.do("GET", "/api/attempts?message_id="+m+"&endpoint_id="+recvEP, "")
		require.Equal(t, http.StatusOK, code)
		var got []string
		for _, x := range atts["attempts"].([]any) {
			r := x.(map[string]any)
			got = append(got, fmt.Sprintf("%v %v", r["number"], r["status"]))
		}
		require.ElementsMatch(t, []string{"1 failed", "2 succeeded"}, got, "message %s", m)
	}

	dash.release()
	dash.want(t, e2, true)
	dash.want(t, e3, true)
	e4 := publishKPI(t, api, 4)
	dash.want(t, e4, false) // and nothing between: e1 was not replayed twice

	// A new message reaches the vendor CRM at its new address, verified
	// with the secret it got back.
	code, sent := api.do("POST", "/api/messages", `{"supplier_id":"`+demoSupplier+`","event_type":"booking.confirmed","payload":{"after":"restart"}}`)
	require.Equal(t, http.StatusAccepted, code, sent)
	b.waitLine(t, "DELIVERED", sent["id"].(string)+" -> restart-vendor, attempt 1: HTTP 200")
	recv.waitDelivered(t, sent["id"].(string))
	require.Empty(t, recv.rejected(), "every request to the receiver was signed with the endpoint's secret")
}

// freeAddrOtherThan returns a loopback address with a free port, not the
// port of url (an http:// URL or "").
func freeAddrOtherThan(t *testing.T, url string) string {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		if "http://"+addr != url {
			return addr
		}
	}
}

// demoProcess is the demo running as a child process (demoChild).
type demoProcess struct {
	cmd        *exec.Cmd
	waited     chan struct{} // closed once the process has exited and its output is read
	waitErr    error         // set before waited is closed
	api        string
	vendor     string
	adminToken string
	dashToken  string

	mu      sync.Mutex
	partial []byte
	lines   []string
	changed chan struct{} // closed and replaced at each new line
}

var (
	readyLineRe = regexp.MustCompile(`^READY (\S+) (\S+)$`)
	dashLineRe  = regexp.MustCompile(`^  dashboard: +\S+/\?token=([\w.-]+)#token=(\S+)$`)
)

// Write collects the process's output (stdout and stderr) as lines.
func (p *demoProcess) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partial = append(p.partial, b...)
	for {
		i := strings.IndexByte(string(p.partial), '\n')
		if i < 0 {
			return len(b), nil
		}
		p.lines = append(p.lines, string(p.partial[:i]))
		p.partial = p.partial[i+1:]
		close(p.changed)
		p.changed = make(chan struct{})
	}
}

// output is everything the process printed, for failure messages.
func (p *demoProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n") + "\n" + string(p.partial)
}

// startDemoProcess starts the demo with env added to the test's own and
// returns once it is ready. The test's end kills it if it still runs.
func startDemoProcess(t *testing.T, env []string) *demoProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// GORACE: a race-enabled binary otherwise sleeps 1 s before it exits.
	cmd.Env = append(append(os.Environ(), demoChildEnv+"=restart", "GORACE=atexit_sleep_ms=0"), env...)
	p := &demoProcess{cmd: cmd, waited: make(chan struct{}), changed: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p, p
	require.NoError(t, cmd.Start())
	go func() {
		p.waitErr = cmd.Wait() // returns once the output is copied
		close(p.waited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.waited:
		default:
			_ = cmd.Process.Kill()
			<-p.waited
		}
	})
	p.waitLine(t, "READY ")
	for _, line := range p.snapshot() {
		if m := readyLineRe.FindStringSubmatch(line); m != nil {
			p.api, p.vendor = m[1], m[2]
		}
		if m := dashLineRe.FindStringSubmatch(line); m != nil {
			p.dashToken, p.adminToken = m[1], m[2]
		}
	}
	require.NotEmpty(t, p.adminToken, "the demo prints its dashboard link with the tokens\n%s", p.output())
	return p
}

func (p *demoProcess) snapshot() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lines
}

// waitLine waits for an output line, printed at any time since the start,
// that contains every part.
func (p *demoProcess) waitLine(t *testing.T, parts ...string) {
	t.Helper()
	timeout := time.NewTimer(restartWait)
	defer timeout.Stop()
	for {
		p.mu.Lock()
		lines, changed := p.lines, p.changed
		p.mu.Unlock()
		for _, line := range lines {
			if containsAll(line, parts) {
				return
			}
		}
		select {
		case <-changed:
		case <-p.waited:
			t.Fatalf("the demo exited (%v) before it printed %q\n%s", p.waitErr, parts, p.output())
		case <-timeout.C:
			t.Fatalf("no line with %q within %s\n%s", parts, restartWait, p.output())
		}
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// stop signals the demo and waits for it to exit: cleanly after SIGTERM.
func (p *demoProcess) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	select {
	case <-p.waited:
		return
	default:
	}
	require.NoError(t, p.cmd.Process.Signal(sig))
	select {
	case <-p.waited:
		if sig == syscall.SIGTERM {
			require.NoError(t, p.waitErr, "a clean exit after SIGTERM\n%s", p.output())
		}
	case <-time.After(restartWait):
		t.Fatalf("the demo still runs %s after %v\n%s", restartWait, sig, p.output())
	}
}

// failingReceiver is a vendor's webhook receiver that outlives the demo's
// restart: it verifies every request with the endpoint's secret, and
// answers 503 with Retry-After until succeed.
type failingReceiver struct {
	url string

	mu        sync.Mutex
	verifier  *webhook.Verifier
	failing   bool
	delivered map[string]chan struct{} // webhook-id -> closed when answered 200
	bad       []string
}

func newFailingReceiver(t *testing.T) *failingReceiver {
	r := &failingReceiver{failing: true, delivered: map[string]chan struct{}{}}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *failingReceiver) setSecret(t *testing.T, secret string) {
	v, err := webhook.NewVerifier(secret)
	require.NoError(t, err)
	r.mu.Lock()
	r.verifier = v
	r.mu.Unlock()
}

func (r *failingReceiver) succeed() {
	r.mu.Lock()
	r.failing = false
	r.mu.Unlock()
}

func (r *failingReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	id := req.Header.Get("webhook-id")
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil && r.verifier != nil {
		err = r.verifier.Verify(req.Header, body)
	}
	if err != nil || r.verifier == nil {
		r.bad = append(r.bad, fmt.Sprintf("%s: %v", id, err))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if r.failing {
		w.Header().Set("Retry-After", restartRetryAfter)
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	ch := r.deliveredLocked(id)
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func (r *failingReceiver) deliveredLocked(id string) chan struct{} {
	ch := r.delivered[id]
	if ch == nil {
		ch = make(chan struct{})
		r.delivered[id] = ch
	}
	return ch
}

// waitDelivered waits until the receiver has answered 200 to msg.
func (r *failingReceiver) waitDelivered(t *testing.T, msg string) {
	t.Helper()
	r.mu.Lock()
	ch := r.deliveredLocked(msg)
	r.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(restartWait):
		t.Fatalf("message %s did not reach the receiver within %s", msg, restartWait)
	}
}

func (r *failingReceiver) rejected() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bad
}

// replayDashboard is a dashboard on the realtime client with replay: after
// a reconnect it rejoins from the last broadcast it saw. hold makes its
// dials wait (the demo is away) until release.
type replayDashboard struct {
	got    chan client.BroadcastMessage
	mu     sync.Mutex
	gate   chan struct{} // closed: dials go through
	reload chan string
}

func newReplayDashboard(t *testing.T, addr, token string) *replayDashboard {
	t.Helper()
	d := &replayDashboard{got: make(chan client.BroadcastMessage, 64), gate: make(chan struct{}), reload: make(chan string, 4)}
	close(d.gate)
	tr := &http.Transport{DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
		d.mu.Lock()
		gate := d.gate
		d.mu.Unlock()
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		var dialer net.Dialer
		return dialer.DialContext(ctx, network, address)
	}}
	c, err := client.New("ws://"+addr+hubPath, client.WithAPIKey(token),
		client.WithReconnectBackoff(50*time.Millisecond, 500*time.Millisecond),
		client.WithDialOptions(&websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}}))
	require.NoError(t, err)
	t.Cleanup(func() {
		d.release()
		_ = c.Close()
		tr.CloseIdleConnections()
	})
	ctx, cancel := context.WithTimeout(t.Context(), restartWait)
	defer cancel()
	require.NoError(t, c.Connect(ctx))
	ch := c.Channel(realtime.SupplierTopic(demoSupplier), client.ChannelConfig{Replay: true})
	ch.OnBroadcast("kpi.updated", func(m client.BroadcastMessage) { d.got <- m })
	ch.OnReload(func(reason string) { d.reload <- reason })
	require.NoError(t, ch.Subscribe(ctx))
	return d
}

func (d *replayDashboard) hold() {
	d.mu.Lock()
	d.gate = make(chan struct{})
	d.mu.Unlock()
}

func (d *replayDashboard) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.gate:
	default:
		close(d.gate)
	}
}

// want waits for the next broadcast and checks it is id, replayed or live.
func (d *replayDashboard) want(t *testing.T, id string, replayed bool) {
	t.Helper()
	select {
	case m := <-d.got:
		require.NotNil(t, m.Meta)
		require.Equal(t, id, m.Meta.ID, "broadcasts arrive once each and in order")
		require.Equal(t, replayed, m.Meta.Replayed, "broadcast %s replayed", id)
	case reason := <-d.reload:
		t.Fatalf("the dashboard was told to reload (%s) instead of getting broadcast %s replayed", reason, id)
	case <-time.After(restartWait):
		t.Fatalf("the dashboard did not get broadcast %s within %s", id, restartWait)
	}
}

// publishKPI broadcasts kpi.updated {"n": n} to the sample supplier's
// dashboards through the API and returns the publication's id.
func publishKPI(t *testing.T, api *apiClient, n int) string {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{"supplier_id": demoSupplier, "type": "kpi.updated", "payload": map[string]int{"n": n}})
	code, body := api.do("POST", "/api/events", string(payload))
	require.Equal(t, http.StatusAccepted, code, body)
	return body["id"].(string)
}
