package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/client"
	"github.com/wedsync/integrations/realtime/pgbroker"
	"github.com/wedsync/integrations/realtime/protocol"
	"github.com/wedsync/integrations/realtime/realtimetest"
)

// The uptime row: a realtime client (package realtime/client) subscribed
// to a supplier's topic with replay on, while the hub's server drops its
// socket on a script (every tc.dropEvery, first at half of it) and the
// host broadcasts tc.uptimeRate times a second. Uptime is the share of the
// run the client had a socket (ClientStats.ConnectedFor); missed counts
// the broadcasts it never handed to its OnBroadcast handler. The floor,
// run at the same time on the same script: a bare coder/websocket client
// that redials at once against a bare server; it has no replay, so what
// is sent while it is away is lost.

var seqKey = []byte(`"seq":`)

// dropListener is a listener whose accepted connections can all be cut at
// once: the server dropping its sockets.
type dropListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[*droppable]struct{}
}

type droppable struct {
	net.Conn
	l    *dropListener
	once sync.Once
}

func newDropListener() (*dropListener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &dropListener{Listener: ln, conns: map[*droppable]struct{}{}}, nil
}

func (l *dropListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	d := &droppable{Conn: c, l: l}
	l.mu.Lock()
	l.conns[d] = struct{}{}
	l.mu.Unlock()
	return d, nil
}

func (c *droppable) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// drop cuts every open connection and returns how many there were.
func (l *dropListener) drop() int {
	l.mu.Lock()
	cs := make([]*droppable, 0, len(l.conns))
	for c := range l.conns {
		cs = append(cs, c)
	}
	l.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
	return len(cs)
}

// seqSet records the sequence numbers a subscriber saw.
type seqSet struct {
	mu    sync.Mutex
	seen  map[int64]bool
	dups  int
	want  int
	done  chan struct{}
	extra int // reloads (the client was told to reload: a gap it could not fill)
}

func newSeqSet(want int) *seqSet {
	return &seqSet{seen: map[int64]bool{}, want: want, done: make(chan struct{})}
}

func (s *seqSet) add(seq int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[seq] {
		s.dups++
		return
	}
	s.seen[seq] = true
	if len(s.seen) == s.want {
		close(s.done)
	}
}

func (s *seqSet) counts() (seen, dups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen), s.dups
}

// uptimeScript broadcasts total messages at tc.uptimeRate with send, and
// calls drop at tc.dropEvery/2, then every tc.dropEvery. It returns how
// many drops it made.
func uptimeScript(ctx context.Context, tc tableConfig, total int, send func(ctx context.Context, seq int) error, drop func()) (int, error) {
	tick := time.NewTicker(time.Second / time.Duration(tc.uptimeRate))
	defer tick.Stop()
	start := time.Now()
	next := tc.dropEvery / 2
	drops := 0
	for seq := 1; seq <= total; seq++ {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return drops, ctx.Err()
		}
		if time.Since(start) >= next {
			drop()
			drops++
			next += tc.dropEvery
		}
		if err := send(ctx, seq); err != nil {
			return drops, fmt.Errorf("broadcast %d: %w", seq, err)
		}
	}
	return drops, nil
}

// uptime runs the uptime row in one mode; the floor runs beside the
// memory mode run.
func (e *tableEnv) uptime(ctx context.Context, pg bool) ([]tableRow, error) {
	tc := e.tc
	total := max(1, int(float64(tc.uptimeRate)*tc.uptime.Seconds()))
	var floor measure
	var floorErr error
	var wg sync.WaitGroup
	fctx, cancelFloor := context.WithCancel(ctx)
	defer cancelFloor()
	if _, ok := e.floors["connection uptime"]; !ok {
		wg.Go(func() { floor, floorErr = bareUptime(fctx, tc, total) })
	}
	e.prog.set("SDK client (and the bare floor beside it), %d broadcasts/s for %s, a drop every %s", tc.uptimeRate, tc.uptime, tc.dropEvery)
	sdk, err := e.hubUptime(ctx, pg, total)
	if err != nil {
		cancelFloor()
	}
	wg.Wait()
	if err != nil {
		return nil, err
	}
	floor, err = e.floor("connection uptime", func() (measure, error) { return floor, floorErr })
	if err != nil {
		return nil, err
	}
	return []tableRow{uptimeRow(modeName(pg), targetUptimePct, sdk, floor)}, nil
}

// hubUptime is the SDK's side: a hub with JWT auth (and the Postgres
// broker in Postgres mode), a client.Client with replay.
func (e *tableEnv) hubUptime(ctx context.Context, pg bool, total int) (measure, error) {
	tc := e.tc
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	auth, err := realtime.NewJWTAuthenticator(realtime.WithHS256Secret(secret))
	if err != nil {
		return measure{}, err
	}
	opts := []realtime.Option{realtime.WithAuthenticator(auth)}
	broker := "memory broker"
	if pg {
		schema := e.pg.schema()
		if err := pgbroker.Migrate(ctx, e.pg.pool, pgbroker.WithSchema(schema)); err != nil {
			return measure{}, err
		}
		b, err := pgbroker.New(ctx, e.pg.pool, pgbroker.WithSchema(schema))
		if err != nil {
			return measure{}, err
		}
		defer func() { _ = b.Close() }() // after the hub
		opts = append(opts, realtime.WithBroker(b))
		broker = "Postgres broker"
	}
	hub, err := realtime.NewHub(opts...)
	if err != nil {
		return measure{}, err
	}
	defer func() { _ = hub.Close() }()
	ln, err := newDropListener()
	if err != nil {
		return measure{}, err
	}
	mux := http.NewServeMux()
	mux.Handle(rtPath, hub)
	hs, url := listenOn(ln, mux)
	defer func() { _ = hs.Close() }()

	token, err := realtimetest.HS256Token(secret, "1", time.Now().Add(time.Hour))
	if err != nil {
		return measure{}, err
	}
	cl, err := client.New(url, client.WithAPIKey(token), client.WithAccessToken(token),
		client.WithReconnectBackoff(tc.backoffMin, tc.backoffMax), client.WithHeartbeatInterval(tc.heartbeat))
	if err != nil {
		return measure{}, err
	}
	defer func() { _ = cl.Close() }()
	if err := cl.Connect(ctx); err != nil {
		return measure{}, err
	}
	seqs := newSeqSet(total)
	ch := cl.Channel(realtime.SupplierTopic("1"), client.ChannelConfig{Replay: true})
	ch.OnBroadcast(rtEvent, func(m client.BroadcastMessage) {
		if seq, ok := findNumber(m.Payload, seqKey); ok {
			seqs.add(seq)
		}
	})
	ch.OnReload(func(string) { seqs.mu.Lock(); seqs.extra++; seqs.mu.Unlock() })
	if err := ch.Subscribe(ctx); err != nil {
		return measure{}, err
	}

	s0, t0 := cl.Stats(), time.Now()
	var buf []byte
	drops, err := uptimeScript(ctx, tc, total, func(ctx context.Context, seq int) error {
		buf = rtPayload(buf, 200, seq, rtNow())
		_, err := hub.Broadcast(ctx, realtime.SupplierTopic("1"), rtEvent, json.RawMessage(bytes.Clone(buf)))
		return err
	}, func() { ln.drop() })
	if err != nil {
		return measure{}, err
	}
	s1, t1 := cl.Stats(), time.Now()
	// The last broadcasts may still be on their way (or in a replay).
	_ = waitDone(ctx, seqs.done, 10*time.Second, "broadcasts")
	seen, dups := seqs.counts()
	up := float64(s1.ConnectedFor-s0.ConnectedFor) / float64(t1.Sub(t0))
	return measure{
		Path: fmt.Sprintf("client.Client (replay on, reconnect backoff %s-%s, heartbeat %s) on a hub (%s, JWT auth); the server drops the socket every %s; %d broadcasts/s for %s; uptime from ClientStats.ConnectedFor; %d reconnects, %d reloads",
			tc.backoffMin, tc.backoffMax, tc.heartbeat, broker, tc.dropEvery, tc.uptimeRate, tc.uptime, s1.Reconnects-s0.Reconnects, seqs.extra),
		Samples: total, Missing: total - seen, Duplicates: dups, Drops: drops, UptimePct: round2(100 * up),
	}, nil
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

// bareUptime is the floor: a bare server (scenario (d)'s bare writer)
// dropping its sockets on the same script, and a coder/websocket client
// that redials at once and counts its own connected time.
func bareUptime(ctx context.Context, tc tableConfig, total int) (measure, error) {
	ln, err := newDropListener()
	if err != nil {
		return measure{}, err
	}
	srv := newBareServerOn(ln, "writer", protocol.VSN1, 200)
	defer srv.close()
	seqs := newSeqSet(total)
	cctx, stop := context.WithCancel(ctx)
	var mu sync.Mutex
	var connectedFor time.Duration
	var connectedAt time.Time // zero while away
	var redials int
	done := make(chan struct{})
	hc := &http.Client{Transport: rtTransport}
	connected := make(chan struct{})
	var once sync.Once
	go func() {
		defer close(done)
		for cctx.Err() == nil {
			ws, resp, err := websocket.Dial(cctx, srv.url, &websocket.DialOptions{HTTPClient: hc, CompressionMode: websocket.CompressionDisabled})
			if resp != nil && resp.Body != nil {
				resp.Body.Close()
			}
			if err != nil {
				continue // redial at once: the floor has no backoff
			}
			mu.Lock()
			connectedAt = time.Now()
			mu.Unlock()
			once.Do(func() { close(connected) })
			for {
				_, data, err := ws.Read(cctx)
				if err != nil {
					break
				}
				if seq, ok := findNumber(data, seqKey); ok {
					seqs.add(seq)
				}
			}
			ws.CloseNow()
			mu.Lock()
			connectedFor += time.Since(connectedAt)
			connectedAt = time.Time{}
			redials++
			mu.Unlock()
		}
	}()
	defer func() { stop(); <-done }()
	select {
	case <-connected:
	case <-ctx.Done():
		return measure{}, ctx.Err()
	}
	if err := waitFor(ctx, 10*time.Second, func() bool { return srv.conns() == 1 }); err != nil {
		return measure{}, err
	}
	upTo := func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		d := connectedFor
		if !connectedAt.IsZero() {
			d += time.Since(connectedAt)
		}
		return d
	}
	c0, t0 := upTo(), time.Now()
	drops, err := uptimeScript(ctx, tc, total, srv.send, func() { ln.drop() })
	if err != nil {
		return measure{}, err
	}
	c1, t1 := upTo(), time.Now()
	_ = waitDone(ctx, seqs.done, 2*time.Second, "broadcasts") // what was sent while away never comes
	seen, dups := seqs.counts()
	mu.Lock()
	n := redials
	mu.Unlock()
	return measure{
		Path:    fmt.Sprintf("a bare coder/websocket client that redials at once (no replay) on a bare server, same script; %d redials", n),
		Samples: total, Missing: total - seen, Duplicates: dups, Drops: drops, UptimePct: round2(100 * float64(c1-c0) / float64(t1.Sub(t0))),
	}, nil
}
