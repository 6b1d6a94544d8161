package realtime

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/loop"
	"github.com/wedsync/integrations/internal/validate"
	"github.com/wedsync/integrations/realtime/protocol"
)

// Hub is the server dashboards connect to with the Supabase Realtime
// protocol. It is an http.Handler: mount it at /realtime/v1/websocket.
// Create it with NewHub; it is safe for concurrent use.
type Hub struct {
	o          hubOptions
	broker     Broker
	ownsBroker bool
	instance   string
	// shared is the broker as a PresenceBroker, nil when presence is this
	// instance's own (hub_presence.go).
	shared PresenceBroker

	// untrackCtx bounds the untracks of leaving channels: unlike ctx it
	// outlives the sockets, so that a graceful Shutdown still tells the
	// other instances who left; cutAll ends it.
	untrackCtx    context.Context
	untrackCancel context.CancelFunc

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // sweeper, resyncs
	connWG sync.WaitGroup // ServeHTTP calls that upgraded

	// done is closed when the first Shutdown has seen everything end;
	// closeErr is then the broker's Close error.
	done     chan struct{}
	closeErr error

	// bgMu guards bgClosed: background goroutines start only before
	// Shutdown waits for them.
	bgMu     sync.Mutex
	bgClosed bool

	mu     sync.Mutex
	topics map[string]*hubTopic
	conns  map[*conn]struct{}
	ips    map[string]*rate.Limiter
	closed bool
	// Open sockets (and handshakes past authentication) per client IP (an
	// IPv6 client's /64: clientKey) and per principal, for
	// WithMaxConnectionsPerIP and WithMaxConnectionsPerPrincipal; ips holds
	// the handshake rate limiters, by the same key.
	connsByIP        map[string]int
	connsByPrincipal map[string]int

	nextConn      atomic.Uint64
	published     atomic.Int64
	delivered     atomic.Int64
	slowConsumers atomic.Int64
	resyncs       atomic.Int64
	presenceBytes atomic.Int64

	writers *writerPool
	admit   admission // hub_admission.go
	met     *hubMetrics
}

// HubStats are the hub's counters.
type HubStats struct {
	Connections   int
	Topics        int
	Published     int64 // broadcasts this instance received from the broker
	Delivered     int64 // frames queued to sockets
	SlowConsumers int64 // sockets cut off for not keeping up
	Resyncs       int64 // times a topic's missed broadcasts were read from history
	// PresenceBytes counts the bytes of presence frames (presence_state
	// and presence_diff) queued to sockets.
	PresenceBytes int64
}

// NewHub returns a hub. WithAuthenticator is required; see the options for
// defaults.
func NewHub(opts ...Option) (*Hub, error) {
	o := defaultHubOptions()
	for _, opt := range opts {
		if opt != nil {
			opt.applyHub(&o)
		}
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	h := &Hub{
		o: o, topics: map[string]*hubTopic{}, conns: map[*conn]struct{}{}, ips: map[string]*rate.Limiter{}, instance: rand.Text()[:10],
		connsByIP: map[string]int{}, connsByPrincipal: map[string]int{},
		met: newHubMetrics(o.sharedOptions),
	}
	h.broker = o.broker
	if h.broker == nil {
		b, err := NewMemoryBroker(WithClock(o.clock))
		if err != nil {
			return nil, err
		}
		h.broker, h.ownsBroker = b, true
	}
	h.shared, _ = h.broker.(PresenceBroker)
	if err := h.broker.Attach(brokerSink{h}); err != nil {
		return nil, err
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.untrackCtx, h.untrackCancel = context.WithCancel(context.Background())
	h.done = make(chan struct{})
	h.admit.init()
	h.writers = newWriterPool(h)
	h.wg.Add(1)
	go h.sweep()
	return h, nil
}

// ErrHubClosed is returned by a hub used after Shutdown or Close.
var ErrHubClosed = errors.New("realtime: hub closed")

// CloseTimeout is how long Close lets the sockets' close handshakes take
// before it cuts the sockets that have not closed: coder/websocket's own
// bound on waiting for a peer's close frame.
const CloseTimeout = 5 * time.Second

// Shutdown closes the hub. It refuses new sockets (503) and broadcasts
// (ErrHubClosed) from the start, sends every socket a close frame (close
// code 1001, "server shutting down"), and waits for the sockets to close
// and for the hub's goroutines (the sweep, the writers, resyncs from
// history) to end; then it closes the broker if the hub made it, and
// returns nil (or the broker's error).
//
// When ctx ends first, Shutdown cuts the sockets that are still open, at
// once and without a close frame (a dashboard that does not read, or does
// not answer the close, cannot hold it), cancels the hub's work in flight,
// and returns ctx.Err() without waiting further; the hub's goroutines end
// moments later. A later Shutdown or Close waits for them, and closes the
// broker the hub made. Only an Authenticator or Authorizer that ignores
// its context can keep the hub's goroutines running after the cut.
//
// Shutdown does not wait for an http.Server: the sockets are hijacked, so
// call it alongside (or after) the server's own Shutdown.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	var conns []*conn
	first := !h.closed
	if first {
		h.closed = true
		conns = make([]*conn, 0, len(h.conns))
		for c := range h.conns {
			conns = append(conns, c)
		}
	}
	h.mu.Unlock()
	if first {
		go h.finish()
		// Close the sockets first, so each gets its 1001 before the hub's
		// context ends their reads.
		for _, c := range conns {
			c.abort(websocket.StatusGoingAway, "server shutting down")
		}
	}
	select {
	case <-h.done:
		return h.closeErr
	case <-ctx.Done():
	}
	select {
	case <-h.done: // finished as ctx ended
		return h.closeErr
	default:
	}
	h.cutAll()
	return ctx.Err()
}

// Close is Shutdown with a bound of CloseTimeout (5 s) on the close
// handshakes: sockets that have not closed by then are cut. Close then
// waits for the hub's goroutines, which end within moments once their
// sockets are cut, and returns nil, or the error of closing a broker the
// hub made. It is safe to call more than once, and after Shutdown.
func (h *Hub) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	if err := h.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return h.Shutdown(context.Background())
}

// finish runs once, from the first Shutdown: it waits for the sockets,
// stops the hub's goroutines and waits for them, closes the broker the hub
// made, and closes h.done.
func (h *Hub) finish() {
	defer close(h.done)
	h.connWG.Wait()
	h.cancel()
	h.bgMu.Lock()
	h.bgClosed = true
	h.bgMu.Unlock()
	h.wg.Wait()
	h.untrackCancel()
	if h.ownsBroker {
		h.closeErr = h.broker.Close()
	}
}

// cutAll cuts every socket and cancels the hub's work: Shutdown's context
// has ended.
func (h *Hub) cutAll() {
	h.mu.Lock()
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.cut()
	}
	h.cancel()
	h.untrackCancel()
}

// Stats returns the hub's counters.
func (h *Hub) Stats() HubStats {
	h.mu.Lock()
	s := HubStats{Connections: len(h.conns), Topics: len(h.topics)}
	h.mu.Unlock()
	s.Published = h.published.Load()
	s.Delivered = h.delivered.Load()
	s.SlowConsumers = h.slowConsumers.Load()
	s.Resyncs = h.resyncs.Load()
	s.PresenceBytes = h.presenceBytes.Load()
	return s
}

// Broadcast sends event with payload to every socket joined to topic, on
// every hub instance that shares the broker, and keeps it in the topic's
// history for replay. topic is a name such as "supplier:42" (a "realtime:"
// prefix is accepted). payload is JSON: a json.RawMessage or []byte sent
// byte for byte (it must be a JSON object), or any value json.Marshal
// turns into an object.
//
// When more than half of the topic's sockets on this instance are behind
// (an eighth of their send buffer, WithSendBuffer, queued and not yet
// written), the hub is slower than its publishers: Broadcast waits until
// at most half are, rather than let the queues fill and cut readers that
// keep up. If ctx ends first it publishes nothing and returns an error
// wrapping ErrHubBusy and ctx.Err(). A topic with one socket here never
// waits, and neither does a minority of sockets that lag: they are cut as
// slow consumers (docs/realtime.md, "Publish storms").
//
// An error means nothing was published, except one that matches
// ErrPublishOutcomeUnknown (errors.Is): ctx ended, or the broker lost its
// database, after the broker had started to store the publication, which
// may then reach every subscriber or not. Retrying such a broadcast may
// deliver it twice; a subscriber that must not miss it reloads from
// history. The memory broker never returns it.
func (h *Hub) Broadcast(ctx context.Context, topic, event string, payload any) (pub Publication, err error) {
	topic = protocol.TopicName(topic)
	if err := validateTopic(topic); err != nil {
		return Publication{}, err
	}
	if err := validateEvent(event); err != nil {
		return Publication{}, err
	}
	raw, err := payloadJSON(payload)
	if err != nil {
		return Publication{}, err
	}
	if int64(len(raw)) > h.o.maxFrame {
		return Publication{}, validate.New(pkg, "payload", "is %d bytes, over the %d-byte frame limit (WithMaxFrameSize)", len(raw), h.o.maxFrame)
	}
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return Publication{}, ErrHubClosed
	}
	ctx, span := h.met.startBroadcast(ctx, topic, event, len(raw))
	defer func() { endSpan(span, err) }()
	if err := h.waitAdmission(ctx, topic); err != nil {
		return Publication{}, err
	}
	pub, err = h.broker.Publish(ctx, topic, event, raw, "")
	if err != nil {
		return Publication{}, err
	}
	span.SetAttributes(semconv.MessagingMessageID(pub.ID()))
	h.met.broadcasts.Add(ctx, 1, h.met.fromHost)
	return pub, nil
}

func validateTopic(topic string) error { return validateName("topic", topic) }

func validateEvent(event string) error { return validateName("event", event) }

// validateName checks a topic or event name: 1 to 200 bytes, no control
// characters that could split a log line or a frame.
func validateName(field, v string) error {
	switch {
	case v == "":
		return validate.New(pkg, field, "is required")
	case len(v) > 200:
		return validate.New(pkg, field, "is %d bytes, the limit is 200", len(v))
	case strings.ContainsAny(v, "\x00\r\n"):
		return validate.New(pkg, field, "must not contain control characters")
	}
	return nil
}

// payloadJSON turns a Broadcast payload into a JSON object.
func payloadJSON(payload any) (json.RawMessage, error) {
	var raw []byte
	switch p := payload.(type) {
	case nil:
		return json.RawMessage("{}"), nil
	case json.RawMessage:
		raw = p
	case []byte:
		raw = p
	default:
		b, err := json.Marshal(p)
		if err != nil {
			return nil, &validate.Error{Package: pkg, Field: "payload", Rule: "must encode as JSON: " + err.Error()}
		}
		raw = b
	}
	trimmed := strings.TrimSpace(string(raw))
	if !json.Valid(raw) || !strings.HasPrefix(trimmed, "{") {
		return nil, validate.New(pkg, "payload", "must be a JSON object")
	}
	return json.RawMessage(trimmed), nil
}

// EmitPostgresChange sends a database change to the sockets on this
// instance joined to topic whose postgres_changes bindings match it, with
// the ids of the matching bindings, as Supabase does. It returns how many
// channels it reached. Changes are live only: they are neither kept in
// history nor carried by the broker.
func (h *Hub) EmitPostgresChange(ctx context.Context, topic string, change protocol.PostgresChange) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	topic = protocol.TopicName(topic)
	if err := validateTopic(topic); err != nil {
		return 0, err
	}
	switch change.Type {
	case "INSERT", "UPDATE", "DELETE":
	default:
		return 0, validate.New(pkg, "change.Type", "must be INSERT, UPDATE or DELETE, got %q", change.Type)
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"change.Record", change.Record}, {"change.OldRecord", change.OldRecord}, {"change.Errors", change.Errors}} {
		if len(f.raw) > 0 && !json.Valid(f.raw) {
			return 0, validate.New(pkg, f.name, "must be valid JSON")
		}
	}
	// realtime-js reads columns, record and old_record unconditionally
	// (columns.find throws on a missing list): send them empty, not absent.
	if change.Errors == nil {
		change.Errors = json.RawMessage("null")
	}
	if change.Columns == nil {
		change.Columns = []protocol.Column{}
	}
	if len(change.Record) == 0 {
		change.Record = json.RawMessage("{}")
	}
	if len(change.OldRecord) == 0 {
		change.OldRecord = json.RawMessage("{}")
	}
	if change.CommitTimestamp == "" {
		change.CommitTimestamp = h.o.clock.Now().UTC().Format(time.RFC3339Nano)
	}
	t := h.lookupTopic(topic)
	if t == nil {
		return 0, nil
	}
	t.mu.Lock()
	chans := make([]*channel, 0, len(t.chans))
	for ch := range t.chans {
		chans = append(chans, ch)
	}
	t.mu.Unlock()
	n := 0
	for _, ch := range chans {
		ids := ch.matchChange(change)
		if len(ids) == 0 {
			continue
		}
		body, err := json.Marshal(protocol.PostgresChangesPayload{IDs: ids, Data: change})
		if err != nil {
			return n, fmt.Errorf("realtime: change: %w", err)
		}
		ch.conn.sendText(protocol.Message{Topic: ch.wire, Event: protocol.EventPostgresChanges, Payload: body})
		n++
	}
	return n, nil
}

// ServeHTTP upgrades the request to a WebSocket speaking the Supabase
// Realtime protocol. The token comes from the apikey query parameter or the
// x-api-key header; without a valid one the handshake gets 401. The vsn
// query parameter picks the serializer: 1.0.0 (the default) or 2.0.0. Over
// the handshake rate of its IP (WithConnectRate), or with as many sockets
// open as its IP (WithMaxConnectionsPerIP) or its principal
// (WithMaxConnectionsPerPrincipal) may have, the handshake gets 429 with
// a message naming the limit. An IPv6 client's IP, for these limits, is
// its /64.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ip := clientKey(r.RemoteAddr) // an IPv6 client's /64
	if !h.allowConnect(ip) {
		h.met.handshakeRefused(reasonRateLimited)
		http.Error(w, "too many connections from this address: over the handshake rate", http.StatusTooManyRequests)
		return
	}
	vsn := r.URL.Query().Get("vsn")
	switch vsn {
	case "":
		vsn = protocol.VSN1
	case protocol.VSN1, protocol.VSN2:
	default:
		h.met.handshakeRefused(reasonBadRequest)
		http.Error(w, fmt.Sprintf("unsupported vsn %q: use 1.0.0 or 2.0.0", vsn), http.StatusBadRequest)
		return
	}
	token := r.URL.Query().Get("apikey")
	if token == "" {
		token = r.Header.Get("x-api-key")
	}
	if token == "" {
		h.met.handshakeRefused(reasonUnauthenticated)
		http.Error(w, "no token: pass apikey in the query or the x-api-key header", http.StatusUnauthorized)
		return
	}
	p, err := h.o.auth.Authenticate(r.Context(), token)
	if err != nil {
		h.met.handshakeRefused(reasonUnauthenticated)
		http.Error(w, "invalid token: "+err.Error(), http.StatusUnauthorized)
		return
	}
	if !p.ExpiresAt.IsZero() && !h.o.clock.Now().Before(p.ExpiresAt) {
		h.met.handshakeRefused(reasonUnauthenticated)
		http.Error(w, "token has expired", http.StatusUnauthorized)
		return
	}
	who := principalID(p, token)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.met.handshakeRefused(reasonShuttingDown)
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	if n := h.o.maxConnIP; n > 0 && h.connsByIP[ip] >= n {
		h.mu.Unlock()
		h.met.handshakeRefused(reasonTooManyConnections, attrLimit.String("per_ip"))
		http.Error(w, fmt.Sprintf("too many connections from this address: the limit is %d open sockets per address", n), http.StatusTooManyRequests)
		return
	}
	if n := h.o.maxConnPrincipal; n > 0 && h.connsByPrincipal[who] >= n {
		h.mu.Unlock()
		h.met.handshakeRefused(reasonTooManyConnections, attrLimit.String("per_principal"))
		http.Error(w, fmt.Sprintf("too many connections for this user: the limit is %d open sockets per user", n), http.StatusTooManyRequests)
		return
	}
	// The socket's slots are taken before the upgrade, so that concurrent
	// handshakes cannot all pass the caps; freeSlotsLocked gives them back,
	// in the same critical section that removes the socket from h.conns:
	// once Stats no longer counts a socket, its slots are free.
	h.connsByIP[ip]++
	h.connsByPrincipal[who]++
	h.connWG.Add(1)
	h.mu.Unlock()
	freeSlotsLocked := func() {
		if h.connsByIP[ip]--; h.connsByIP[ip] <= 0 {
			delete(h.connsByIP, ip)
		}
		if h.connsByPrincipal[who]--; h.connsByPrincipal[who] <= 0 {
			delete(h.connsByPrincipal, who)
		}
	}

	// The hijacked connection is kept, so that Shutdown can cut a socket
	// whose close handshake hangs.
	hw := &hijackRecorder{ResponseWriter: w}
	ws, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
		OriginPatterns:  h.o.originPatterns,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		h.mu.Lock()
		freeSlotsLocked()
		h.mu.Unlock()
		h.connWG.Done()
		h.met.handshakeRefused(reasonUpgradeFailed)
		return // Accept has written the error response.
	}
	ws.SetReadLimit(h.o.maxFrame)
	c := newConn(h, ws, hw.conn, vsn, token)
	h.mu.Lock()
	// Registered even when the hub closed meanwhile, so that Shutdown can
	// cut it; it is closed at once then.
	h.conns[c] = struct{}{}
	closing := h.closed
	h.mu.Unlock()
	h.met.connections.Add(context.Background(), 1)
	if closing {
		c.abort(websocket.StatusGoingAway, "server shutting down")
	}
	// The socket is hijacked: serve it from a fresh goroutine and let
	// net/http's connection goroutine (its deep stack and its request
	// state) end. Measured: 12 KiB less per idle socket.
	go func() {
		defer h.connWG.Done()
		c.serve()
		h.mu.Lock()
		delete(h.conns, c)
		freeSlotsLocked()
		h.mu.Unlock()
		if hook := h.o.hooks.connRemoved; hook != nil {
			hook()
		}
		h.met.connections.Add(context.Background(), -1)
	}()
}

// hijackRecorder keeps the connection websocket.Accept hijacks, and hands
// websocket.Accept a batchConn over it, so that a drain can gather its
// frames (hub_batch.go).
type hijackRecorder struct {
	http.ResponseWriter
	conn *batchConn
}

func (w *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return c, brw, err
	}
	// net/http has flushed the 101 response and points the writer at c
	// with nothing buffered; flush anyway, in case that ever changes.
	if err := brw.Writer.Flush(); err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	w.conn = &batchConn{Conn: c}
	brw.Writer.Reset(w.conn)
	return w.conn, brw, nil
}

func (w *hijackRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// clientKey is what the per-IP limits (WithConnectRate,
// WithMaxConnectionsPerIP) key a request on, from its RemoteAddr: an IPv4
// address as it is (an IPv4-mapped IPv6 address as the IPv4 address it
// maps), an IPv6 address by its /64 prefix. One host commonly holds a whole
// /64 (2^64 addresses), so keyed by address it could open a fresh cap's
// worth of sockets from each. A RemoteAddr that is not an IP address (a
// custom listener's) is used as it is.
func clientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if addr = addr.Unmap(); addr.Is4() {
		return addr.String()
	}
	prefix, err := addr.Prefix(64) // drops the zone
	if err != nil {
		return host
	}
	return prefix.String()
}

// principalID names a principal for WithMaxConnectionsPerPrincipal: its
// subject, or its token (hashed) when it has no subject.
func principalID(p *Principal, token string) string {
	if p.Subject != "" {
		return "sub:" + p.Subject
	}
	sum := sha256.Sum256([]byte(token))
	return "tok:" + hex.EncodeToString(sum[:])
}

// allowConnect applies the per-IP handshake rate limit.
func (h *Hub) allowConnect(ip string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.ips[ip]
	if l == nil {
		l = rate.NewLimiter(h.o.connRate, h.o.connBurst)
		h.ips[ip] = l
	}
	return l.AllowN(h.o.clock.Now(), 1)
}

// sweep runs sweepOnce every sweep interval until the hub closes.
func (h *Hub) sweep() {
	defer h.wg.Done()
	loop.Every(h.ctx, h.o.clock, h.o.sweepEvery, h.o.sweepEvery, h.sweepOnce)
}

// sweepOnce closes idle sockets and channels whose token expired, and
// forgets rate limiters that are full again.
func (h *Hub) sweepOnce(context.Context) {
	now := h.o.clock.Now()
	h.mu.Lock()
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	for ip, l := range h.ips {
		if l.TokensAt(now) >= float64(h.o.connBurst) {
			delete(h.ips, ip)
		}
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.check(now)
	}
}

// hubTopic is a topic with sockets on this instance.
type hubTopic struct {
	name    string
	created time.Time

	mu        sync.Mutex
	chans     map[*channel]struct{}
	dead      bool // removed from the hub; join must look again
	epoch     string
	last      uint64
	resyncing bool
	missed    bool
	presence  map[string]map[string]protocol.PresenceMeta // key -> channel origin -> meta
	metas     int                                         // metas in presence, for WithMaxPresencePerTopic
	// shared is set, with a PresenceBroker, once a channel needs the
	// topic's presence: presence then mirrors the broker's, every
	// instance's members (hub_presence.go).
	shared *sharedPresence
}

func (h *Hub) lookupTopic(name string) *hubTopic {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.topics[name]
}

// addChannel registers ch with its topic, creating the topic if need be,
// and calls registered under the topic's lock: what it queues (the join
// reply) goes before any frame of the topic.
func (h *Hub) addChannel(ch *channel, registered func()) {
	for {
		h.mu.Lock()
		t := h.topics[ch.name]
		if t == nil {
			t = &hubTopic{name: ch.name, created: h.o.clock.Now(), chans: map[*channel]struct{}{}, presence: map[string]map[string]protocol.PresenceMeta{}}
			h.topics[ch.name] = t
		}
		h.mu.Unlock()
		t.mu.Lock()
		if t.dead {
			t.mu.Unlock()
			continue
		}
		t.chans[ch] = struct{}{}
		ch.topic = t
		registered()
		t.mu.Unlock()
		h.met.channels.Add(context.Background(), 1)
		return
	}
}

// removeChannel unregisters ch, sends presence leaves, and drops the topic
// when it has no channel left.
func (h *Hub) removeChannel(ch *channel) {
	t := ch.topic
	if t == nil {
		return
	}
	t.mu.Lock()
	_, member := t.chans[ch]
	delete(t.chans, ch)
	var leaves protocol.PresenceState
	if h.shared == nil {
		leaves = t.untrackLocked(ch)
	}
	empty := len(t.chans) == 0
	t.mu.Unlock()
	if member {
		h.met.channels.Add(context.Background(), -1)
	}
	if leaves != nil {
		h.sendPresenceDiff(t, nil, leaves)
	}
	if h.shared != nil {
		h.untrackSharedLater(ch)
	}
	if !empty {
		return
	}
	h.mu.Lock()
	t.mu.Lock()
	if len(t.chans) == 0 && h.topics[t.name] == t {
		t.dead = true
		delete(h.topics, t.name)
	}
	t.mu.Unlock()
	h.mu.Unlock()
}

// brokerSink receives the broker's deliveries for the hub.
type brokerSink struct{ h *Hub }

func (s brokerSink) OnPublication(p Publication) { s.h.onPublication(p) }

// OnPresence implements PresenceHandler.
func (s brokerSink) OnPresence(topic string, ids []string) { s.h.onPresence(topic, ids) }

func (s brokerSink) OnResync() {
	h := s.h
	for _, t := range h.topicList() {
		t.mu.Lock()
		h.startResyncLocked(t, reasonBroker)
		h.markPresenceLocked(t, nil)
		t.mu.Unlock()
	}
}

// onPublication delivers p to this instance's channels, in offset order;
// a gap (a publication the broker did not hand over) is filled from
// history first.
func (h *Hub) onPublication(p Publication) {
	h.published.Add(1)
	t := h.lookupTopic(p.Topic)
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.resyncing {
		t.missed = true
		return
	}
	if t.epoch == p.Epoch {
		if p.Offset <= t.last {
			return
		}
		if p.Offset > t.last+1 && t.last != 0 {
			h.startResyncLocked(t, reasonGap)
			return
		}
	}
	h.deliverLocked(t, p)
}

// deliverLocked sends p to every channel of t; t.mu is held.
func (h *Hub) deliverLocked(t *hubTopic, p Publication) {
	t.epoch, t.last = p.Epoch, p.Offset
	f := newPubFrames(p)
	for ch := range t.chans {
		ch.deliver(p, f)
	}
}

// startResyncLocked reads the topic's history from where this instance
// last delivered, in the background; live publications that arrive
// meanwhile are dropped and read from history on the next round.
func (h *Hub) startResyncLocked(t *hubTopic, reason string) {
	if t.resyncing {
		t.missed = true
		return
	}
	if t.dead {
		return
	}
	// bgMu, a leaf lock, orders this Add before Close's Wait (t.mu is held,
	// so h.mu cannot be taken here).
	h.bgMu.Lock()
	defer h.bgMu.Unlock()
	if h.bgClosed {
		return
	}
	t.resyncing, t.missed = true, true
	h.resyncs.Add(1)
	count(h.met.resyncs, attrReason.String(reason))
	h.wg.Add(1)
	go h.resync(t, reason)
}

// resync reads what t missed from history, in rounds until no live
// publication was held back meanwhile. It is traced as one span.
func (h *Hub) resync(t *hubTopic, reason string) {
	defer h.wg.Done()
	_, span := h.met.tracer.Start(h.ctx, spanResync, trace.WithAttributes(
		semconv.MessagingSystemKey.String(messagingSystem), semconv.MessagingDestinationName(t.name), attrReason.String(reason)))
	outcome, rounds := "filled", 0
	defer func() {
		span.SetAttributes(attrOutcome.String(outcome), attribute.Int("wedsync.realtime.rounds", rounds))
		span.End()
	}()
	retry := backoff.Exponential{Base: 100 * time.Millisecond, Max: 10 * time.Second}
	failures := 0
	for {
		t.mu.Lock()
		if !t.missed || t.dead {
			t.resyncing = false
			t.mu.Unlock()
			return
		}
		t.missed = false
		q := HistoryQuery{After: t.last, Epoch: t.epoch}
		if t.epoch == "" {
			// Nothing delivered yet: from when the topic got its first
			// socket, with a margin for the broker's clock (a database's)
			// running behind the hub's. Channels drop what they have.
			q = HistoryQuery{Since: t.created.Add(-resyncClockMargin)}
		}
		t.mu.Unlock()
		ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
		res, err := h.broker.History(ctx, t.name, q)
		cancel()
		rounds++
		t.mu.Lock()
		switch {
		case err != nil && h.ctx.Err() != nil:
			t.resyncing = false
			t.mu.Unlock()
			outcome = "stopped"
			return
		case err != nil:
			// The history is there but could not be read: try again,
			// still holding live publications back, rather than make
			// every client reload.
			t.missed = true
			t.mu.Unlock()
			wait := retry.FullJitter(failures)
			failures++
			h.o.logger.Warn("realtime: reading history to fill a gap failed; retrying", "topic", t.name, "err", err, "in", wait)
			span.AddEvent("history read failed; retrying", trace.WithAttributes(attribute.String("error", err.Error())))
			if loop.Sleep(h.ctx, h.o.clock, wait) != nil {
				t.mu.Lock()
				t.resyncing = false
				t.mu.Unlock()
				outcome = "stopped"
				return
			}
			continue
		case !res.Complete:
			// The gap cannot be filled: every channel must reload.
			h.o.logger.Warn("realtime: history gap could not be filled; telling clients to reload", "topic", t.name)
			outcome = outcomeIncomplete
			for ch := range t.chans {
				ch.sendReplayIncomplete("messages were missed and the history no longer holds them")
			}
			t.epoch, t.last = res.Epoch, res.Latest
		default:
			for _, p := range res.Publications {
				if p.Epoch == t.epoch && p.Offset <= t.last {
					continue
				}
				h.deliverLocked(t, p)
			}
		}
		t.mu.Unlock()
	}
}

// resyncClockMargin widens a time-based history read, for clock skew
// between the hub and the broker.
const resyncClockMargin = 5 * time.Second

// pubFrames holds a publication's frames, encoded once for all sockets.
type pubFrames struct {
	p      Publication
	once   [2]sync.Once
	frames [2]outFrame // 0: vsn 1.0.0, 1: vsn 2.0.0
}

func newPubFrames(p Publication) *pubFrames { return &pubFrames{p: p} }

func (f *pubFrames) get(vsn string) outFrame {
	i := 0
	if vsn == protocol.VSN2 {
		i = 1
	}
	f.once[i].Do(func() { f.frames[i] = encodePublication(vsn, f.p, false) })
	return f.frames[i]
}

// encodePublication encodes p for a serializer version with
// protocol.EncodeBroadcast, the one encoder of broadcasts: the live path
// (through pubFrames, once per serializer) and the replay path use it.
func encodePublication(vsn string, p Publication, replayed bool) outFrame {
	meta := protocol.BroadcastMeta{ID: p.ID(), Epoch: p.Epoch, Offset: p.Offset, TS: p.Time.UnixMilli(), Replayed: replayed}
	// Not WireTopic: a name may itself start with "realtime:".
	data, binary := protocol.EncodeBroadcast(vsn, protocol.TopicPrefix+p.Topic, p.Event, meta, p.Payload)
	if binary {
		return outFrame{typ: websocket.MessageBinary, data: data}
	}
	return outFrame{typ: websocket.MessageText, data: data}
}
