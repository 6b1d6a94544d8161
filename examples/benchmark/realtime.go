package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/protocol"
)

// Scenario (d), realtime fan-out: N WebSocket subscribers on loopback, in
// this process, all joined to one topic; -rate broadcasts a second for
// -duration. Each broadcast carries its send time, so every receipt gives a
// Broadcast→receipt latency. Beside the hub, in the same run and with the
// same clients, a bare coder/websocket server sends the same bytes to the
// same number of sockets: the floor.

const (
	rtTopic     = "supplier:1"
	rtEvent     = "kpi.updated"
	rtPath      = "/realtime/v1/websocket"
	rtDialConc  = 64 // handshakes in flight at once
	rtBareQueue = 16 // frames a bare writer goroutine may have waiting
)

// rtBase is the zero of the send stamps: stamps are monotonic nanoseconds
// since it, which is good enough as clients live in this process.
var rtBase = time.Now()

func rtNow() int64 { return int64(time.Since(rtBase)) }

type rtConfig struct {
	subscribers  []int
	rate         int
	duration     time.Duration
	vsns         []string
	bares        []string // "writer", "loop"
	repeat       int
	payloadSize  int
	cpuprofile   string
	memprofile   string
	idleWait     time.Duration
	quietRetries int
}

// rtResult is one implementation measured at one N in one run.
type rtResult struct {
	impl         string
	n            int
	memPerConn   float64 // bytes of heap+stack in use per idle socket pair
	heapPerConn  float64
	stackPerConn float64
	gorPerConn   float64
	connect      time.Duration
	broadcasts   int
	want, got    int64
	p50, p90     time.Duration
	p99, max     time.Duration
	msgsPerSec   float64
	sendP99      time.Duration // the duration of the Broadcast call (hub) or the tick's sends (bare)
	cpu          measured
	othersPct    float64 // the share of the machine other processes used during the broadcasts, -1 when unknown
	busyBefore   float64 // the machine's CPU use in the second before the phase, -1 when unknown
	slow         int64
	receiptSpan  time.Duration
}

// others is the share of the machine (all cores, in points) that other
// processes used during the broadcasts, or 0 when unknown.
func (r rtResult) others() float64 { return max(0, r.othersPct) }

// othersSpan measures the share of the machine other processes use.
type othersSpan struct {
	t     time.Time
	ticks int64
	ok    bool
}

func beginOthers() othersSpan {
	s := othersSpan{t: time.Now()}
	s.ticks, s.ok = othersCPU()
	return s
}

func (s othersSpan) end() float64 {
	ticks, ok := othersCPU()
	d := time.Since(s.t).Seconds()
	if !ok || !s.ok || d <= 0 {
		return -1
	}
	return 100 * float64(ticks-s.ticks) / (100 * d * float64(runtime.NumCPU()))
}

// rtServer is the side under test.
type rtServer struct {
	url  string // ws://127.0.0.1:port/realtime/v1/websocket?...
	join bool   // clients send phx_join and wait for the reply
	// topicOf names the topic client i joins; nil: rtTopic.
	topicOf func(i int) string
	// broadcast sends to a topic of its choice (the hub only).
	broadcast func(ctx context.Context, topic string, seq int) error
	send      func(ctx context.Context, seq int) error
	conns     func() int
	slow      func() int64
	close     func()
}

func parseRealtimeConfig(c config, setFlags map[string]bool, subs, vsns, bares string) (rtConfig, error) {
	rc := rtConfig{rate: 10, duration: 10 * time.Second, repeat: c.repeat, payloadSize: 200,
		cpuprofile: c.cpuprofile, memprofile: c.memprofile, idleWait: c.idleWait, quietRetries: c.quietRetries}
	if setFlags["rate"] {
		rc.rate = c.rate
	}
	if setFlags["duration"] {
		rc.duration = c.duration
	}
	if setFlags["payload"] {
		rc.payloadSize = c.payloadSize
	}
	for s := range strings.SplitSeq(subs, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return rc, fmt.Errorf("-subscribers: %q is not a positive count", s)
		}
		rc.subscribers = append(rc.subscribers, n)
	}
	for s := range strings.SplitSeq(vsns, ",") {
		switch s = strings.TrimSpace(s); s {
		case protocol.VSN1, protocol.VSN2:
			rc.vsns = append(rc.vsns, s)
		case "":
		default:
			return rc, fmt.Errorf("-vsn: %q is not 1.0.0 or 2.0.0", s)
		}
	}
	for s := range strings.SplitSeq(bares, ",") {
		switch s = strings.TrimSpace(s); s {
		case "writer", "loop":
			rc.bares = append(rc.bares, s)
		case "", "none":
		default:
			return rc, fmt.Errorf("-bare: %q is not writer, loop or none", s)
		}
	}
	switch {
	case len(rc.subscribers) == 0 || len(rc.vsns) == 0:
		return rc, errors.New("-subscribers and -vsn must name at least one value")
	case rc.rate <= 0 || rc.duration <= 0:
		return rc, errors.New("-rate and -duration must be positive")
	case rc.payloadSize < 64:
		return rc, errors.New("-payload must be at least 64 bytes for the realtime scenario")
	}
	return rc, nil
}

func realtimeBench(ctx context.Context, rc rtConfig) error {
	maxN := slices.Max(rc.subscribers)
	if rc.memprofile != "" {
		// Record every 4 KiB allocated, not every 512 KiB: the idle
		// connections' memory is then attributed exactly enough.
		runtime.MemProfileRate = 4096
	}
	if err := raiseFileLimit(uint64(2*maxN + 1024)); err != nil {
		return err
	}
	fmt.Printf("realtime fan-out: subscribers %v, %d broadcasts/s for %s, payload %d B, vsn %s, bare %s, %d run(s)\n",
		rc.subscribers, rc.rate, rc.duration, rc.payloadSize, strings.Join(rc.vsns, "+"), strings.Join(rc.bares, "+"), rc.repeat)
	fmt.Println("clients are in this process: memory is per socket pair (server end + client end)")
	fmt.Println()

	var all []rtResult
	for r := 1; r <= rc.repeat; r++ {
		for _, n := range rc.subscribers {
			type phase struct {
				name string
				mk   func() (*rtServer, error)
				vsn  string
			}
			var phases []phase
			for _, v := range rc.vsns {
				phases = append(phases, phase{"hub " + v, func() (*rtServer, error) { return newHubServer(v, rc.payloadSize) }, v})
			}
			for _, b := range rc.bares {
				// The bare server sends the frame of the first vsn, in the
				// same encoding (text for 1.0.0, binary for 2.0.0).
				phases = append(phases, phase{"bare " + b, func() (*rtServer, error) { return newBareServer(b, rc.vsns[0], rc.payloadSize) }, rc.vsns[0]})
			}
			// Alternate the order between runs so neither side always goes
			// first on a warmer (or more fragmented) heap.
			if r%2 == 0 {
				slices.Reverse(phases)
			}
			for _, ph := range phases {
				// Profile the first run's phases at the largest N: the
				// first hub to the file named, the others beside it.
				prof := ""
				if r == 1 && n == maxN {
					prof = "." + strings.ReplaceAll(ph.name, " ", "-")
					if ph.name == "hub "+rc.vsns[0] {
						prof = "-"
					}
				}
				// A phase during which other processes used more than
				// 10% of the machine is run again, up to -quiet-retries
				// times; the quietest attempt counts.
				var best rtResult
				for attempt := 0; attempt <= rc.quietRetries; attempt++ {
					res, err := rtPhase(ctx, rc, n, ph.name, ph.vsn, ph.mk, prof)
					if err != nil {
						return fmt.Errorf("%s, %d subscribers: %w", ph.name, n, err)
					}
					rtRows(fmt.Sprintf("run %d: %s, %d subscribers (attempt %d)", r, ph.name, n, attempt+1), []rtResult{res})
					if attempt == 0 || res.others() < best.others() {
						best = res
					}
					if best.others() <= 10 {
						break
					}
					prof = ""
				}
				all = append(all, best)
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
	}
	rtSummary(rc, all)
	return nil
}

// rtPhase measures one implementation at n subscribers.
// profile is "" for no profiles, "-" for the file names given, or a suffix
// for them.
func rtPhase(ctx context.Context, rc rtConfig, n int, impl, vsn string, mk func() (*rtServer, error), profile string) (rtResult, error) {
	res := rtResult{impl: impl, n: n}
	settle()
	res.busyBefore = waitIdle(ctx, rc.idleWait)
	srv, err := mk()
	if err != nil {
		return res, err
	}
	defer srv.close()
	baseHeap, baseStack := memInUse()
	baseGor := runtime.NumGoroutine()
	profPath := func(p string) string {
		if p == "" || profile == "" {
			return ""
		}
		if profile == "-" {
			return p
		}
		return p + profile
	}

	// Connect and join n clients, rtDialConc at a time.
	var total atomic.Int64
	broadcasts := max(1, int(float64(rc.rate)*rc.duration.Seconds()))
	want := int64(n) * int64(broadcasts)
	done := make(chan struct{})
	var lastReceipt atomic.Int64
	clients := make([]*rtClient, n)
	t0 := time.Now()
	if err := dialAll(ctx, srv, vsn, clients, func() {
		if total.Add(1) == want {
			lastReceipt.Store(rtNow())
			close(done)
		}
	}); err != nil {
		closeClients(clients)
		return res, err
	}
	defer closeClients(clients)
	if err := waitFor(ctx, 30*time.Second, func() bool { return srv.conns() == n }); err != nil {
		return res, fmt.Errorf("server side has %d of %d connections: %w", srv.conns(), n, err)
	}
	res.connect = time.Since(t0)

	// Memory per idle connection: heap and stacks in use after GC.
	time.Sleep(300 * time.Millisecond)
	heap, stack := memInUse()
	res.heapPerConn = float64(int64(heap)-int64(baseHeap)) / float64(n)
	res.stackPerConn = float64(int64(stack)-int64(baseStack)) / float64(n)
	res.memPerConn = res.heapPerConn + res.stackPerConn
	res.gorPerConn = float64(runtime.NumGoroutine()-baseGor) / float64(n)
	if p := profPath(rc.memprofile); p != "" {
		if err := writeHeapProfile(p); err != nil {
			return res, err
		}
	}

	// Broadcast at a steady rate.
	cpuprof := profPath(rc.cpuprofile)
	if cpuprof != "" {
		f, err := os.Create(cpuprof)
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, err
		}
		defer pprof.StopCPUProfile()
	}
	for _, c := range clients {
		c.record.Store(true)
	}
	sendDur := make([]time.Duration, 0, broadcasts)
	tick := time.NewTicker(time.Second / time.Duration(rc.rate))
	span, others := begin(), beginOthers()
	var first int64
	for seq := 1; seq <= broadcasts; seq++ {
		select {
		case <-tick.C:
		case <-ctx.Done():
			tick.Stop()
			return res, ctx.Err()
		}
		if seq == 1 {
			first = rtNow()
		}
		s := time.Now()
		if err := srv.send(ctx, seq); err != nil {
			tick.Stop()
			return res, fmt.Errorf("broadcast %d: %w", seq, err)
		}
		sendDur = append(sendDur, time.Since(s))
	}
	tick.Stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		lastReceipt.Store(rtNow())
	case <-ctx.Done():
		return res, ctx.Err()
	}
	res.cpu, res.othersPct = span.end(), others.end()
	if cpuprof != "" {
		pprof.StopCPUProfile()
	}
	res.broadcasts, res.want, res.got = broadcasts, want, total.Load()
	res.slow = srv.slow()
	res.receiptSpan = time.Duration(lastReceipt.Load() - first)
	res.msgsPerSec = rateOf(int(res.got), res.receiptSpan)
	res.sendP99 = percentile(sortDurations(sendDur), 0.99)

	closeClients(clients)
	lat := make([]time.Duration, 0, res.got)
	for _, c := range clients {
		if c != nil {
			lat = append(lat, c.lat...)
		}
	}
	slices.Sort(lat)
	res.p50, res.p90, res.p99 = percentile(lat, 0.50), percentile(lat, 0.90), percentile(lat, 0.99)
	if len(lat) > 0 {
		res.max = lat[len(lat)-1]
	}
	return res, nil
}

// waitIdle waits up to d for a second in which the machine is less than
// 15% busy, and returns the last second's busy share (-1 when unknown).
func waitIdle(ctx context.Context, d time.Duration) float64 {
	deadline := time.Now().Add(d)
	for {
		s := begin()
		select {
		case <-ctx.Done():
			return -1
		case <-time.After(time.Second):
		}
		m := s.end()
		if m.machine < 15 || !time.Now().Before(deadline) {
			return m.machine
		}
	}
}

// settle collects what earlier phases left behind.
func settle() {
	time.Sleep(500 * time.Millisecond)
	runtime.GC()
	runtime.GC()
}

// memInUse returns the heap and stack bytes in use after a full GC.
func memInUse() (heap, stack uint64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse, m.StackInuse
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GC()
	return pprof.Lookup("heap").WriteTo(f, 0)
}

// stopWithin calls stop (a component's Stop) with 30 s to finish, even
// when ctx has ended: a scenario stops what it started, also when it was
// interrupted.
func stopWithin(ctx context.Context, stop func(context.Context) error) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_ = stop(sctx)
}

func waitFor(ctx context.Context, d time.Duration, ok func() bool) error {
	return waitEvery(ctx, d, 20*time.Millisecond, ok)
}

// waitEvery checks ok every period until it holds, for up to d. A
// benchmark that times how soon something becomes visible through a
// query uses it with a short period.
func waitEvery(ctx context.Context, d, period time.Duration, ok func() bool) error {
	deadline := time.Now().Add(d)
	t := time.NewTicker(period)
	defer t.Stop()
	for !ok() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// rtClient is one subscriber: a raw coder/websocket client that reads
// frames and finds the send stamp in them.
type rtClient struct {
	ws     *websocket.Conn
	record atomic.Bool
	// countOnly calls onReceipt for every stamped frame and records no
	// latency: the storm scenario counts millions of deliveries.
	countOnly atomic.Bool
	lat       []time.Duration // written by the reader goroutine only
	done      chan struct{}
}

var rtTransport = &http.Transport{
	Proxy:               nil,
	DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	MaxIdleConnsPerHost: -1,
}

// dialCounters dials and joins n clients that then only count the frames
// they read, in the counter it returns (the storm and the fan-out writers'
// CPU measurement). The caller closes the clients (closeClients), also
// after an error.
func dialCounters(ctx context.Context, srv *rtServer, vsn string, n int) ([]*rtClient, *atomic.Int64, error) {
	got := new(atomic.Int64)
	clients := make([]*rtClient, n)
	if err := dialAll(ctx, srv, vsn, clients, func() { got.Add(1) }); err != nil {
		return clients, got, err
	}
	for _, c := range clients {
		c.countOnly.Store(true)
	}
	return clients, got, nil
}

func dialAll(ctx context.Context, srv *rtServer, vsn string, clients []*rtClient, onReceipt func()) error {
	hc := &http.Client{Transport: rtTransport}
	idx := make(chan int)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	for range rtDialConc {
		wg.Go(func() {
			for i := range idx {
				c, err := dialClient(ctx, hc, srv, vsn, i, onReceipt)
				if err != nil {
					select {
					case errc <- fmt.Errorf("client %d: %w", i, err):
					default:
					}
					continue
				}
				clients[i] = c
			}
		})
	}
	for i := range clients {
		select {
		case err := <-errc:
			close(idx)
			wg.Wait()
			return err
		case idx <- i:
		}
	}
	close(idx)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	return nil
}

func dialClient(ctx context.Context, hc *http.Client, srv *rtServer, vsn string, i int, onReceipt func()) (*rtClient, error) {
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(dctx, srv.url, &websocket.DialOptions{HTTPClient: hc, CompressionMode: websocket.CompressionDisabled})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	c := &rtClient{ws: ws, done: make(chan struct{})}
	if srv.join {
		ref := strconv.Itoa(i + 1)
		body := []byte(`{"config":{"broadcast":{"ack":false,"self":false},"presence":{"key":""},"postgres_changes":[],"private":false}}`)
		topic := rtTopic
		if srv.topicOf != nil {
			topic = srv.topicOf(i)
		}
		m := protocol.Message{JoinRef: ref, Ref: ref, Topic: protocol.WireTopic(topic), Event: protocol.EventJoin, Payload: body}
		if err := ws.Write(dctx, websocket.MessageText, protocol.EncodeText(vsn, m)); err != nil {
			ws.CloseNow()
			return nil, fmt.Errorf("join: %w", err)
		}
		for {
			typ, data, err := ws.Read(dctx)
			if err != nil {
				ws.CloseNow()
				return nil, fmt.Errorf("join reply: %w", err)
			}
			if typ != websocket.MessageText {
				continue
			}
			r, err := protocol.DecodeText(vsn, data)
			if err != nil {
				ws.CloseNow()
				return nil, fmt.Errorf("join reply: %w", err)
			}
			if r.Event == protocol.EventReply && r.Ref == ref {
				if !bytes.Contains(r.Payload, []byte(`"status":"ok"`)) {
					ws.CloseNow()
					return nil, fmt.Errorf("join refused: %s", r.Payload)
				}
				break
			}
		}
	}
	go c.read(onReceipt)
	return c, nil
}

// read reads frames until the socket closes. The frame buffer is made on
// the first frame, so that an idle client holds none.
func (c *rtClient) read(onReceipt func()) {
	defer close(c.done)
	var buf bytes.Buffer
	for {
		_, r, err := c.ws.Reader(context.Background())
		if err != nil {
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return
		}
		now := rtNow()
		sent, ok := findStamp(buf.Bytes())
		if ok && c.countOnly.Load() {
			onReceipt()
			continue
		}
		if !ok || !c.record.Load() {
			continue
		}
		c.lat = append(c.lat, time.Duration(now-sent))
		onReceipt()
	}
}

var stampKey = []byte(`"sent":`)

// findStamp returns the integer after the first "sent": in frame.
func findStamp(frame []byte) (int64, bool) { return findNumber(frame, stampKey) }

// findNumber returns the integer after the first key in frame.
func findNumber(frame, key []byte) (int64, bool) {
	i := bytes.Index(frame, key)
	if i < 0 {
		return 0, false
	}
	var v int64
	j := i + len(key)
	start := j
	for ; j < len(frame) && frame[j] >= '0' && frame[j] <= '9'; j++ {
		v = v*10 + int64(frame[j]-'0')
	}
	return v, j > start
}

func closeClients(clients []*rtClient) {
	for _, c := range clients {
		if c != nil {
			c.ws.CloseNow()
		}
	}
	for _, c := range clients {
		if c != nil {
			<-c.done
		}
	}
}

// rtPayload returns the broadcast payload, exactly size bytes:
// {"sent":<ns>,"seq":<n>,"kpi":{"bookings_today":..,"pad":"xx.."}}.
func rtPayload(buf []byte, size int, seq int, sent int64) []byte {
	b := append(buf[:0], `{"sent":`...)
	b = strconv.AppendInt(b, sent, 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, `,"kpi":{"bookings_today":42,"revenue_cents":1234567,"enquiries":17,"pad":"`...)
	for len(b)+3 < size {
		b = append(b, 'x')
	}
	return append(b, `"}}`...)
}

// rtAuth maps any token to supplier 1: the benchmark measures fan-out,
// not token checks.
var rtAuth = realtime.AuthenticatorFunc(func(_ context.Context, token string) (*realtime.Principal, error) {
	return &realtime.Principal{Subject: "bench-" + token, SupplierID: "1", Role: "authenticated"}, nil
})

// listen serves h on a fresh loopback port.
func listen(h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	s, url := listenOn(ln, h)
	return s, url, nil
}

// listenOn serves h on ln, and returns the WebSocket URL of rtPath there.
func listenOn(ln net.Listener, h http.Handler) (*http.Server, string) {
	s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.Serve(ln) }()
	return s, "ws://" + ln.Addr().String() + rtPath
}

// newHubServer serves a hub with the options (d) needs, and extra ones
// (a broker).
func newHubServer(vsn string, payloadSize int, extra ...realtime.Option) (*rtServer, error) {
	opts := append([]realtime.Option{realtime.WithAuthenticator(rtAuth), realtime.WithConnectRate(1e6, 1e6),
		// Every client is one principal on one address: lift the caps.
		realtime.WithMaxConnectionsPerPrincipal(0), realtime.WithMaxConnectionsPerIP(0),
		// Clients send no heartbeats: long phases must not cut them off.
		realtime.WithIdleTimeout(time.Hour)}, extra...)
	hub, err := realtime.NewHub(opts...)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(rtPath, hub)
	hs, url, err := listen(mux)
	if err != nil {
		_ = hub.Close()
		return nil, err
	}
	var buf []byte
	return &rtServer{
		url:  url + "?apikey=bench&vsn=" + vsn,
		join: true,
		send: func(ctx context.Context, seq int) error {
			buf = rtPayload(buf, payloadSize, seq, rtNow())
			// Broadcast keeps the payload in history: give it its own copy.
			_, err := hub.Broadcast(ctx, rtTopic, rtEvent, json.RawMessage(bytes.Clone(buf)))
			return err
		},
		broadcast: func(ctx context.Context, topic string, seq int) error {
			_, err := hub.Broadcast(ctx, topic, rtEvent, json.RawMessage(rtPayload(nil, payloadSize, seq, rtNow())))
			return err
		},
		conns: func() int { return hub.Stats().Connections },
		slow:  func() int64 { return hub.Stats().SlowConsumers },
		close: func() {
			_ = waitFor(context.Background(), 10*time.Second, func() bool { return hub.Stats().Connections == 0 })
			_ = hub.Close()
			_ = hs.Close()
		},
	}, nil
}

// bareServer is the floor: coder/websocket, no protocol, no auth.
type bareServer struct {
	mode string // "writer": one goroutine per socket fed by a channel; "loop": one loop writes every socket
	mu   sync.Mutex
	cs   []*bareConn
	n    atomic.Int64
	slow atomic.Int64
}

type bareConn struct {
	ws *websocket.Conn
	ch chan []byte
}

func (b *bareServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	c := &bareConn{ws: ws}
	typ := websocket.MessageText
	if r.URL.Query().Get("vsn") == protocol.VSN2 {
		typ = websocket.MessageBinary
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if b.mode == "writer" {
		c.ch = make(chan []byte, rtBareQueue)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case msg := <-c.ch:
					wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
					err := ws.Write(wctx, typ, msg)
					wcancel()
					if err != nil {
						ws.CloseNow()
						return
					}
				}
			}
		}()
	}
	b.mu.Lock()
	b.cs = append(b.cs, c)
	b.mu.Unlock()
	b.n.Add(1)
	defer func() {
		// Copy on write: a send may be going through the old slice.
		b.mu.Lock()
		b.cs = slices.DeleteFunc(slices.Clone(b.cs), func(x *bareConn) bool { return x == c })
		b.mu.Unlock()
		b.n.Add(-1)
	}()
	// Read, as any server must, so that control frames and the close
	// handshake are handled; the hub's read loop does the same.
	for {
		if _, _, err := ws.Read(ctx); err != nil {
			ws.CloseNow()
			return
		}
	}
}

func newBareServer(mode, vsn string, payloadSize int) (*rtServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return newBareServerOn(ln, mode, vsn, payloadSize), nil
}

// newBareServerOn is newBareServer on ln.
func newBareServerOn(ln net.Listener, mode, vsn string, payloadSize int) *rtServer {
	b := &bareServer{mode: mode}
	mux := http.NewServeMux()
	mux.Handle(rtPath, b)
	hs, url := listenOn(ln, mux)
	typ := websocket.MessageText
	if vsn == protocol.VSN2 {
		typ = websocket.MessageBinary
	}
	var buf []byte
	epoch := "AbCdEfGh" // the hub's epochs are 8 characters too
	return &rtServer{
		url: url + "?vsn=" + vsn,
		send: func(ctx context.Context, seq int) error {
			// The same bytes the hub would send: encode once per broadcast.
			sent := rtNow()
			buf = rtPayload(buf, payloadSize, seq, sent)
			frame := hubFrame(vsn, epoch, uint64(seq), buf)
			b.mu.Lock()
			cs := b.cs
			b.mu.Unlock()
			for _, c := range cs {
				if b.mode == "writer" {
					select {
					case c.ch <- frame:
					default:
						b.slow.Add(1)
					}
					continue
				}
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_ = c.ws.Write(wctx, typ, frame)
				cancel()
			}
			return nil
		},
		conns: func() int { return int(b.n.Load()) },
		slow:  b.slow.Load,
		close: func() {
			_ = waitFor(context.Background(), 10*time.Second, func() bool { return b.n.Load() == 0 })
			_ = hs.Close()
		},
	}
}

// hubFrame builds the frame the hub sends for a broadcast, with the hub's
// own encoder (protocol.EncodeBroadcast), so that the floor writes the same
// bytes as the hub.
func hubFrame(vsn, epoch string, offset uint64, payload []byte) []byte {
	meta := protocol.BroadcastMeta{ID: epoch + ":" + strconv.FormatUint(offset, 10), Epoch: epoch, Offset: offset, TS: time.Now().UnixMilli()}
	frame, _ := protocol.EncodeBroadcast(vsn, protocol.WireTopic(rtTopic), rtEvent, meta, payload)
	return frame
}

func kib(bytes float64) string { return fmt.Sprintf("%.1f", bytes/1024) }

func rtRows(title string, rs []rtResult) {
	rows := make([][]string, 0, len(rs))
	for _, r := range rs {
		lost := fmt.Sprintf("%d", r.want-r.got)
		if r.slow > 0 {
			lost += fmt.Sprintf(" (%d slow)", r.slow)
		}
		rows = append(rows, []string{r.impl, strconv.Itoa(r.n), pct(r.busyBefore), kib(r.memPerConn), kib(r.heapPerConn) + "+" + kib(r.stackPerConn), fmt.Sprintf("%.1f", r.gorPerConn), dur(r.connect),
			dur(r.p50), dur(r.p90), dur(r.p99), dur(r.max), f0(r.msgsPerSec), lost, dur(r.sendP99), r.cpu.cpuShare(), f0(r.others())})
	}
	table(title, []string{"impl", "N", "busy before", "KiB/idle conn", "heap+stack", "goroutines/conn", "connect", "p50", "p90", "p99", "max", "msgs/s", "lost", "send p99", "CPU proc/machine", "others"}, rows)
}

// rtSummary prints the medians over runs and the targets.
func rtSummary(rc rtConfig, all []rtResult) {
	type key struct {
		impl string
		n    int
	}
	groups := map[key][]rtResult{}
	var order []key
	for _, r := range all {
		k := key{r.impl, r.n}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	slices.SortStableFunc(order, func(a, b key) int { return a.n - b.n })
	med := func(rs []rtResult, get func(rtResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	m := map[key]rtResult{}
	rows := [][]string{}
	for _, k := range order {
		rs := groups[k]
		r := rtResult{impl: k.impl, n: k.n}
		r.memPerConn = med(rs, func(x rtResult) float64 { return x.memPerConn })
		r.p50 = time.Duration(med(rs, func(x rtResult) float64 { return float64(x.p50) }))
		r.p90 = time.Duration(med(rs, func(x rtResult) float64 { return float64(x.p90) }))
		r.p99 = time.Duration(med(rs, func(x rtResult) float64 { return float64(x.p99) }))
		r.max = time.Duration(med(rs, func(x rtResult) float64 { return float64(x.max) }))
		r.msgsPerSec = med(rs, func(x rtResult) float64 { return x.msgsPerSec })
		var lost int64
		for _, x := range rs {
			lost += x.want - x.got
		}
		m[k] = r
		worst := slices.MaxFunc(rs, func(a, b rtResult) int { return int(a.others() - b.others()) }).others()
		rows = append(rows, []string{k.impl, strconv.Itoa(k.n), kib(r.memPerConn), dur(r.p50), dur(r.p90), dur(r.p99), dur(r.max), f0(r.msgsPerSec), strconv.FormatInt(lost, 10), f0(worst)})
	}
	table("realtime fan-out"+medianOf(rc.repeat)+" (lost: summed over runs; others: the most other processes used in a run, % of the machine)",
		[]string{"impl", "N", "KiB/idle conn", "p50", "p90", "p99", "max", "msgs/s", "lost", "others"}, rows)

	if len(rc.bares) == 0 {
		return
	}
	var trows [][]string
	for _, n := range rc.subscribers {
		for _, v := range rc.vsns {
			hub, ok := m[key{"hub " + v, n}]
			if !ok {
				continue
			}
			for _, b := range rc.bares {
				bare := m[key{"bare " + b, n}]
				lr := float64(hub.p99) / float64(bare.p99)
				mr := hub.memPerConn / bare.memPerConn
				row := []string{"hub " + v, "bare " + b, strconv.Itoa(n), f2(lr) + " " + target(lr <= 1.2), f2(mr) + " " + target(mr <= 1.2)}
				abs := "-"
				if n >= 5000 {
					abs = dur(hub.p99) + " " + target(hub.p99 <= 100*time.Millisecond)
				}
				trows = append(trows, append(row, abs))
			}
		}
	}
	table("targets: p99 ≤ 1.2 × bare, memory per idle connection ≤ 1.2 × bare, p99 ≤ 100ms at 5,000",
		[]string{"hub", "vs", "N", "p99 ratio", "memory ratio", "p99 ≤ 100ms"}, trows)
}
