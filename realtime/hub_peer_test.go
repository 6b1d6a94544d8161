package realtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/protocol"
)

// testAuth accepts tokens "sup:<supplier>", "sup:<supplier>:<exp unix>"
// and "sup:<supplier>:<exp unix or empty>:<subject>"; the subject defaults
// to "user-<supplier>".
var testAuth = realtime.AuthenticatorFunc(func(_ context.Context, token string) (*realtime.Principal, error) {
	parts := strings.Split(token, ":")
	if len(parts) < 2 || len(parts) > 4 || parts[0] != "sup" {
		return nil, fmt.Errorf("%w: unknown token", realtime.ErrUnauthenticated)
	}
	p := &realtime.Principal{Subject: "user-" + parts[1], SupplierID: parts[1], Role: "authenticated"}
	if len(parts) == 4 {
		p.Subject = parts[3]
	}
	if len(parts) >= 3 && parts[2] != "" {
		sec, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: bad exp", realtime.ErrUnauthenticated)
		}
		p.ExpiresAt = time.Unix(sec, 0)
	}
	return p, nil
})

type hubEnv struct {
	hub *realtime.Hub
	srv *httptest.Server
	url string // ws://.../realtime/v1/websocket
}

func newHubEnv(t testing.TB, opts ...realtime.Option) *hubEnv {
	t.Helper()
	hub, err := realtime.NewHub(append([]realtime.Option{realtime.WithAuthenticator(testAuth), realtime.WithConnectRate(1e6, 1e6)}, opts...)...)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/realtime/v1/websocket", hub)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		require.NoError(t, hub.Close())
		srv.Close()
	})
	return &hubEnv{hub: hub, srv: srv, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/realtime/v1/websocket"}
}

// peer is a bare protocol client for hub tests: it sends and reads frames
// exactly as written.
type peer struct {
	t   testing.TB
	ws  *websocket.Conn
	vsn string
	ref atomic.Int64
}

func dialPeer(t testing.TB, url, token, vsn string) *peer {
	t.Helper()
	p, err := tryDialPeer(t, url, token, vsn)
	require.NoError(t, err)
	return p
}

func tryDialPeer(t testing.TB, url, token, vsn string) (*peer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := url + "?apikey=" + token
	if vsn != "" {
		u += "&vsn=" + vsn
	}
	ws, resp, err := websocket.Dial(ctx, u, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(16 << 20)
	p := &peer{t: t, ws: ws, vsn: vsn}
	t.Cleanup(func() { ws.CloseNow() })
	return p, nil
}

func (p *peer) nextRef() string { return strconv.FormatInt(p.ref.Add(1), 10) }

func (p *peer) send(m protocol.Message) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(p.t, p.ws.Write(ctx, websocket.MessageText, protocol.EncodeText(p.vsn, m)))
}

// read returns the next message.
func (p *peer) read() protocol.Message {
	p.t.Helper()
	m, err := p.tryRead(10 * time.Second)
	require.NoError(p.t, err)
	return m
}

func (p *peer) tryRead(d time.Duration) (protocol.Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	typ, data, err := p.ws.Read(ctx)
	if err != nil {
		return protocol.Message{}, err
	}
	if typ == websocket.MessageBinary {
		return protocol.DecodeBinary(data)
	}
	return protocol.DecodeText(p.vsn, data)
}

// join sends phx_join and returns the reply.
func (p *peer) join(topic string, payload any) (protocol.Message, protocol.ReplyPayload) {
	p.t.Helper()
	body, err := json.Marshal(payload)
	require.NoError(p.t, err)
	ref := p.nextRef()
	p.send(protocol.Message{JoinRef: ref, Ref: ref, Topic: protocol.WireTopic(topic), Event: protocol.EventJoin, Payload: body})
	m := p.read()
	require.Equal(p.t, protocol.EventReply, m.Event, "join reply: %s", m.Payload)
	require.Equal(p.t, ref, m.Ref)
	var r protocol.ReplyPayload
	require.NoError(p.t, json.Unmarshal(m.Payload, &r))
	return m, r
}

func (p *peer) mustJoin(topic string, payload any) {
	p.t.Helper()
	_, r := p.join(topic, payload)
	require.Equal(p.t, "ok", r.Status, "join %s: %s", topic, r.Response)
}

// readBroadcast reads until a broadcast arrives and returns its payload.
func (p *peer) readBroadcast() protocol.BroadcastPayload {
	p.t.Helper()
	for {
		m := p.read()
		if m.Event != protocol.EventBroadcast {
			continue
		}
		var b protocol.BroadcastPayload
		require.NoError(p.t, json.Unmarshal(m.Payload, &b))
		return b
	}
}

// readEvent reads until a message with the event arrives.
func (p *peer) readEvent(event string) protocol.Message {
	p.t.Helper()
	for {
		m := p.read()
		if m.Event == event {
			return m
		}
	}
}

func closeStatus(err error) websocket.StatusCode { return websocket.CloseStatus(err) }

func fakeClock() *clockwork.FakeClock {
	return clockwork.NewFakeClockAt(time.Date(2026, 6, 6, 12, 0, 0, 0, time.UTC))
}

// advanceSweep moves clk by d and returns once the hub's sweep has run at
// the new time. The sweep (loop.Every) arms a fresh timer only after a run
// returns, so the test waits for that timer before moving the clock (a
// timer armed after the Advance would wait for a time the test never
// reaches) and again after (the run at the new time has returned, with the
// frames it queued). The sweep must be the only waiter on clk: in hub tests
// with the memory broker and a client on the wall clock it is.
func advanceSweep(t testing.TB, clk *clockwork.FakeClock, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, clk.BlockUntilContext(ctx, 1), "the hub's sweep is not waiting on the clock")
	clk.Advance(d)
	require.NoError(t, clk.BlockUntilContext(ctx, 1), "the hub's sweep did not run after the clock moved")
}
