package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/jonboulle/clockwork"

	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/loop"
	"github.com/wedsync/integrations/internal/validate"
	"github.com/wedsync/integrations/realtime/protocol"
)

// Client errors.
var (
	// ErrJoinRefused is wrapped by the error Subscribe returns when the
	// server answers phx_join with status "error"; the error text carries
	// the server's reason.
	ErrJoinRefused = errors.New("client: join refused")
	// ErrClientClosed is returned by calls on a closed Client.
	ErrClientClosed = errors.New("client: client closed")
	// ErrNotJoined is returned by channel calls that need a joined channel.
	ErrNotJoined = errors.New("client: channel not joined")
	// ErrDisconnected is returned when the socket is lost while a call
	// waits for its reply.
	ErrDisconnected = errors.New("client: connection lost")
	// ErrDuplicateChannel is returned by Subscribe when another Channel of
	// the same client already uses the topic.
	ErrDuplicateChannel = errors.New("client: topic already subscribed by another channel")
	// ErrReplyError is wrapped by the error of a call whose reply has a
	// status other than "ok" (except joins, which use ErrJoinRefused).
	ErrReplyError = errors.New("client: error reply")
)

// ConnState is the state of a Client's socket.
type ConnState int

// Connection states.
const (
	// ConnDisconnected: no socket; the client waits before reconnecting
	// (or Connect was not called yet).
	ConnDisconnected ConnState = iota
	// ConnConnecting: a dial is in progress.
	ConnConnecting
	// ConnConnected: the socket is open.
	ConnConnected
	// ConnClosed: Close was called; the client is done.
	ConnClosed
)

// String returns "disconnected", "connecting", "connected" or "closed".
func (s ConnState) String() string {
	switch s {
	case ConnDisconnected:
		return "disconnected"
	case ConnConnecting:
		return "connecting"
	case ConnConnected:
		return "connected"
	case ConnClosed:
		return "closed"
	}
	return "ConnState(" + strconv.Itoa(int(s)) + ")"
}

// ClientStats describes a Client's connection history.
type ClientStats struct {
	// State is the current connection state.
	State ConnState
	// Connects counts successful connections, the first one included.
	Connects int64
	// Reconnects counts successful connections after the first.
	Reconnects int64
	// ConnectedFor is the total time connected, the current stretch
	// included.
	ConnectedFor time.Duration
	// Since is when the client entered State.
	Since time.Time
}

// Client speaks to Supabase Realtime (or to a realtime.Hub) over one
// WebSocket and multiplexes Channels on it. It keeps the socket alive with
// heartbeats, reconnects with exponential backoff and full jitter, and
// rejoins every channel it joined, with the current access token.
//
// Handlers (OnBroadcast, OnPostgresChanges, OnPresence, OnSystem,
// OnReload and the client-level OnStateChange, OnResync, OnError) are all
// called from one goroutine per client, in the order the messages arrived.
// A handler must be quick: while it runs, no other handler of the client
// runs, and messages wait in an unbounded queue. Handlers may call Channel
// methods (Send, Track, Subscribe...), but must not call Client.Close,
// which waits for the handler goroutine.
//
// A Client is safe for concurrent use.
type Client struct {
	url     string // with apikey and vsn
	safeURL string // with the apikey redacted, for errors
	opts    options
	bo      backoff.Exponential

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // run loop and token refresher
	disp   *dispatcher
	refs   atomic.Uint64

	mu           sync.Mutex
	started      bool
	closed       bool
	state        ConnState
	stateSince   time.Time
	sess         *session
	sessReady    chan struct{} // closed and replaced when a session starts
	firstConn    chan struct{} // closed at the first connect
	lastErr      error
	channels     map[string]*Channel // by wire topic
	token        string
	tokenExp     time.Time
	tokenChanged chan struct{} // closed and replaced when token changes
	connects     int64
	reconnects   int64
	connectedAt  time.Time
	connectedFor time.Duration
}

// New returns a client for the socket at rawURL, such as
// "wss://project.supabase.co/realtime/v1/websocket". The client adds the
// apikey and vsn query parameters. It does not connect until Connect.
func New(rawURL string, opts ...Option) (*Client, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, validate.New(pkg, "url", "must be a URL: %v", err)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return nil, validate.New(pkg, "url", "scheme must be ws, wss, http or https, got %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, validate.New(pkg, "url", "must have a host, got %q", rawURL)
	}
	q := u.Query()
	if o.apiKey != "" {
		q.Set("apikey", o.apiKey)
	}
	q.Set("vsn", o.vsn)
	u.RawQuery = q.Encode()
	safe := *u
	if o.apiKey != "" {
		sq := safe.Query()
		sq.Set("apikey", "REDACTED")
		safe.RawQuery = sq.Encode()
	}

	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		url:          u.String(),
		safeURL:      safe.String(),
		opts:         o,
		bo:           backoff.Exponential{Base: o.backoffMin, Max: o.backoffMax},
		ctx:          ctx,
		cancel:       cancel,
		disp:         newDispatcher(),
		stateSince:   o.clock.Now(),
		sessReady:    make(chan struct{}),
		firstConn:    make(chan struct{}),
		channels:     make(map[string]*Channel),
		token:        o.accessToken,
		tokenChanged: make(chan struct{}),
	}
	if c.token == "" {
		c.token = o.apiKey
	}
	return c, nil
}

// Connect starts the client's background loop and blocks until the first
// connection is open or ctx is done. When ctx ends first, Connect returns
// its error (with the last dial error, if any) and the loop keeps trying in
// the background until Close. Calling Connect again only waits.
func (c *Client) Connect(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClientClosed
	}
	if !c.started {
		c.started = true
		c.disp.start(c)
		c.wg.Add(1)
		go c.run()
		if c.opts.tokenSource != nil {
			c.wg.Add(1)
			go c.refreshLoop()
		}
	}
	first := c.firstConn
	c.mu.Unlock()
	select {
	case <-first:
		return nil
	case <-c.ctx.Done():
		return ErrClientClosed
	case <-ctx.Done():
		c.mu.Lock()
		last := c.lastErr
		c.mu.Unlock()
		if last != nil {
			return fmt.Errorf("client: connect: %w (last error: %v)", ctx.Err(), last)
		}
		return fmt.Errorf("client: connect: %w", ctx.Err())
	}
}

// Close stops the background goroutines, leaves the socket with a normal
// closure and marks every channel closed. It waits at most a second
// for the server to answer the close frame, then drops the connection, so
// a server that hangs cannot hold it; it then waits for the handler
// goroutine to run what is queued (handlers must be quick). It is
// idempotent. It must not be called from a handler.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	started := c.started
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	c.mu.Lock()
	chans := make([]*Channel, 0, len(c.channels))
	for _, ch := range c.channels {
		chans = append(chans, ch)
	}
	clear(c.channels)
	c.mu.Unlock()
	for _, ch := range chans {
		ch.mu.Lock()
		ch.state, ch.want, ch.joinRef = ChannelClosed, false, ""
		ch.mu.Unlock()
	}
	c.setState(ConnClosed)
	if started {
		c.disp.stop()
	}
	return nil
}

// Stats returns the connection history.
func (c *Client) Stats() ClientStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := ClientStats{
		State:        c.state,
		Connects:     c.connects,
		Reconnects:   c.reconnects,
		ConnectedFor: c.connectedFor,
		Since:        c.stateSince,
	}
	if c.sess != nil {
		s.ConnectedFor += c.opts.clock.Now().Sub(c.connectedAt)
	}
	return s
}

// SetAccessToken makes token the access token: it is sent as access_token
// on every joined channel now, and used by every later join and rejoin.
// When the socket is down, the token is only stored.
func (c *Client) SetAccessToken(ctx context.Context, token string) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClientClosed
	}
	c.token = token
	c.mu.Unlock()
	return c.pushToken(ctx, token)
}

// pushToken sends access_token on every joined channel.
func (c *Client) pushToken(ctx context.Context, token string) error {
	c.mu.Lock()
	sess := c.sess
	chans := make([]*Channel, 0, len(c.channels))
	for _, ch := range c.channels {
		chans = append(chans, ch)
	}
	c.mu.Unlock()
	if sess == nil {
		return nil
	}
	payload, err := json.Marshal(map[string]string{"access_token": token})
	if err != nil {
		return err
	}
	var errs []error
	for _, ch := range chans {
		if err := ctx.Err(); err != nil {
			return err
		}
		ch.mu.Lock()
		joined, joinRef := ch.state == ChannelJoined, ch.joinRef
		ch.mu.Unlock()
		if !joined {
			continue
		}
		m := protocol.Message{JoinRef: joinRef, Ref: c.nextRef(), Topic: ch.topic, Event: protocol.EventAccessToken, Payload: payload}
		if err := sess.writeText(c.opts.vsn, m); err != nil {
			errs = append(errs, fmt.Errorf("client: access_token on %s: %w", ch.topic, err))
		}
	}
	return errors.Join(errs...)
}

// Channel returns a channel for topic ("supplier:1" or
// "realtime:supplier:1"). Register handlers, then call Subscribe.
func (c *Client) Channel(topic string, cfg ChannelConfig) *Channel {
	return &Channel{
		client:   c,
		topic:    protocol.WireTopic(topic),
		cfg:      cfg,
		presence: protocol.PresenceState{},
	}
}

func (c *Client) nextRef() string { return strconv.FormatUint(c.refs.Add(1), 10) }

// report hands err to OnError and the logger.
func (c *Client) report(err error) {
	c.opts.logger.Warn("realtime client", "err", err)
	if fn := c.opts.onError; fn != nil {
		c.disp.enqueue(func() { fn(err) })
	}
}

func (c *Client) setState(s ConnState) {
	c.mu.Lock()
	if c.state == s || (c.state == ConnClosed) {
		c.mu.Unlock()
		return
	}
	c.state = s
	c.stateSince = c.opts.clock.Now()
	c.mu.Unlock()
	c.opts.logger.Debug("realtime client state", "state", s.String())
	if fn := c.opts.onStateChange; fn != nil {
		c.disp.enqueue(func() { fn(s) })
	}
}

func (c *Client) currentToken() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// refreshToken asks the token source for a token and stores it.
func (c *Client) refreshToken(ctx context.Context) (string, error) {
	tok, exp, err := c.opts.tokenSource(ctx)
	if err != nil {
		return "", fmt.Errorf("client: token source: %w", err)
	}
	c.mu.Lock()
	c.token, c.tokenExp = tok, exp
	close(c.tokenChanged)
	c.tokenChanged = make(chan struct{})
	c.mu.Unlock()
	return tok, nil
}

// refreshLoop refreshes the token when 80% of its remaining life has
// passed and pushes it to the joined channels.
func (c *Client) refreshLoop() {
	defer c.wg.Done()
	clk := c.opts.clock
	attempt := 0
	var retryIn time.Duration
	for {
		c.mu.Lock()
		exp, changed := c.tokenExp, c.tokenChanged
		c.mu.Unlock()
		var t clockwork.Timer
		var fire <-chan time.Time
		switch {
		case retryIn > 0:
			t = clk.NewTimer(retryIn)
		case !exp.IsZero():
			t = clk.NewTimer(refreshDelay(clk.Now(), exp))
		}
		if t != nil {
			fire = t.Chan()
		}
		select {
		case <-c.ctx.Done():
			if t != nil {
				t.Stop()
			}
			return
		case <-changed:
			if t != nil {
				t.Stop()
			}
			retryIn, attempt = 0, 0
			continue
		case <-fire:
		}
		tok, err := c.refreshToken(c.ctx)
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			c.report(err)
			retryIn = max(c.bo.FullJitter(attempt), time.Second)
			attempt++
			continue
		}
		retryIn, attempt = 0, 0
		if err := c.pushToken(c.ctx, tok); err != nil && c.ctx.Err() == nil {
			c.report(err)
		}
	}
}

// refreshDelay is 80% of the token's remaining life, at least a second.
func refreshDelay(now, exp time.Time) time.Duration {
	return max(exp.Sub(now)*4/5, time.Second)
}

// run is the connection loop: dial, serve, back off, again.
func (c *Client) run() {
	defer c.wg.Done()
	clk := c.opts.clock
	attempt := 0
	for c.ctx.Err() == nil {
		c.setState(ConnConnecting)
		sess, err := c.dial()
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			c.mu.Lock()
			c.lastErr = err
			c.mu.Unlock()
			c.report(err)
			c.setState(ConnDisconnected)
		} else {
			start := clk.Now()
			c.serve(sess)
			if c.ctx.Err() != nil {
				return
			}
			// A session the server answered (a join or a heartbeat
			// replied ok), or that lived through a heartbeat, was
			// healthy: start the backoff again, so that a network that
			// drops sockets every few seconds costs a short delay each
			// time, not one growing to the maximum. One dropped before
			// any answer (a server that accepts and closes) keeps
			// backing off, so a flapping server is not hammered.
			if sess.answered.Load() || clk.Now().Sub(start) >= c.opts.heartbeatInterval {
				attempt = 0
			}
		}
		d := c.bo.FullJitter(attempt)
		attempt++
		c.opts.logger.Debug("realtime client reconnect scheduled", "in", d)
		if loop.Sleep(c.ctx, clk, d) != nil {
			return
		}
	}
}

// redact hides the API key that dial errors quote in the URL.
func (c *Client) redact(err error) error {
	key := c.opts.apiKey
	if key == "" {
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = c.safeURL
	}
	msg := err.Error()
	red := strings.NewReplacer(url.QueryEscape(key), "REDACTED", key, "REDACTED").Replace(msg)
	if red == msg {
		return err
	}
	return &redactedError{msg: red, err: err}
}

// redactedError shows a message with secrets removed and unwraps to
// the original error for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func (c *Client) dial() (*session, error) {
	if c.opts.tokenSource != nil {
		if _, err := c.refreshToken(c.ctx); err != nil {
			c.mu.Lock()
			exp, have := c.tokenExp, c.token != ""
			c.mu.Unlock()
			if !have || (!exp.IsZero() && !exp.After(c.opts.clock.Now())) {
				return nil, err
			}
			c.report(err) // the current token is still valid: carry on
		}
	}
	ctx, cancel := context.WithTimeout(c.ctx, dialTimeout)
	defer cancel()
	opts, raw, release := recordingDialOptions(c.opts.dialOptions)
	ws, resp, err := websocket.Dial(ctx, c.url, opts)
	release() // a refused handshake leaves an idle connection in the transport
	if err != nil {
		err = c.redact(err)
		if resp != nil {
			return nil, fmt.Errorf("client: dial: HTTP %d: %w", resp.StatusCode, err)
		}
		return nil, fmt.Errorf("client: dial: %w", err)
	}
	ws.SetReadLimit(c.opts.readLimit)
	sctx, scancel := context.WithCancel(context.Background())
	return &session{
		ws:      ws,
		raw:     raw,
		ctx:     sctx,
		cancel:  scancel,
		done:    make(chan struct{}),
		pending: make(map[string]*pendingReply),
	}, nil
}

// serve runs one connected session until the socket is lost, a
// heartbeat goes unanswered or the client is closed.
func (c *Client) serve(sess *session) {
	now := c.opts.clock.Now()
	c.mu.Lock()
	reconnect := c.connects > 0
	c.connects++
	if reconnect {
		c.reconnects++
	}
	var rejoin []*Channel
	for _, ch := range c.channels {
		ch.mu.Lock()
		if ch.want {
			rejoin = append(rejoin, ch)
		}
		ch.mu.Unlock()
	}
	c.sess = sess
	c.connectedAt = now
	c.lastErr = nil
	close(c.sessReady)
	c.sessReady = make(chan struct{})
	if !reconnect {
		close(c.firstConn)
	}
	c.mu.Unlock()
	c.setState(ConnConnected)
	c.opts.logger.Info("realtime client connected", "reconnect", reconnect)

	sess.wg.Add(2)
	go c.read(sess)
	go c.rejoinAll(sess, rejoin, reconnect)
	c.heartbeat(sess)

	if c.ctx.Err() != nil {
		// Close: a normal closure, but a server that does not answer
		// it (or does not read) must not hold Close for the library's
		// 5 s: after closeTimeout the socket is dropped.
		drop := time.AfterFunc(closeTimeout, func() {
			sess.end() // ends the reader's Read, which closes the socket
			sess.raw.cut()
		})
		_ = sess.ws.Close(websocket.StatusNormalClosure, "client closed")
		drop.Stop()
	} else {
		_ = sess.ws.CloseNow()
	}
	sess.end()
	sess.wg.Wait()

	c.mu.Lock()
	c.sess = nil
	c.connectedFor += c.opts.clock.Now().Sub(c.connectedAt)
	for _, ch := range c.channels {
		ch.mu.Lock()
		if ch.state == ChannelJoined || ch.state == ChannelJoining {
			ch.state = ChannelErrored
		}
		ch.rejoinAttempt = 0
		ch.mu.Unlock()
	}
	c.mu.Unlock()
	c.setState(ConnDisconnected)
	c.opts.logger.Info("realtime client disconnected")
}

// heartbeat sends a heartbeat every interval and returns when one is
// still unanswered at the next, or the session or client ends.
func (c *Client) heartbeat(sess *session) {
	clk := c.opts.clock
	for {
		t := clk.NewTimer(c.opts.heartbeatInterval)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return
		case <-sess.done:
			t.Stop()
			return
		case <-t.Chan():
		}
		sess.mu.Lock()
		unanswered := sess.hbRef
		sess.mu.Unlock()
		if unanswered != "" {
			c.report(fmt.Errorf("client: heartbeat ref %s unanswered after %s: reconnecting", unanswered, c.opts.heartbeatInterval))
			return
		}
		ref := c.nextRef()
		sess.mu.Lock()
		sess.hbRef = ref
		sess.mu.Unlock()
		if err := sess.writeText(c.opts.vsn, protocol.Message{Ref: ref, Topic: protocol.PhoenixTopic, Event: protocol.EventHeartbeat, Payload: json.RawMessage("{}")}); err != nil {
			return
		}
	}
}

// read reads frames until the socket fails, and routes them.
func (c *Client) read(sess *session) {
	defer sess.wg.Done()
	defer sess.end()
	for {
		typ, data, err := sess.ws.Read(sess.ctx)
		if err != nil {
			if c.ctx.Err() == nil {
				c.opts.logger.Info("realtime client read failed", "err", err)
			}
			return
		}
		var m protocol.Message
		if typ == websocket.MessageBinary {
			m, err = protocol.DecodeBinary(data)
		} else {
			m, err = protocol.DecodeText(c.opts.vsn, data)
		}
		if err != nil {
			c.report(err)
			continue
		}
		c.route(sess, m)
	}
}

// route handles one decoded message on the reader goroutine.
func (c *Client) route(sess *session, m protocol.Message) {
	if m.Event == protocol.EventReply {
		if _, err := parseReply(m); err == nil {
			sess.answered.Store(true)
		}
		sess.mu.Lock()
		if m.Topic == protocol.PhoenixTopic && m.Ref != "" && m.Ref == sess.hbRef {
			sess.hbRef = ""
			sess.mu.Unlock()
			return
		}
		p := sess.pending[m.Ref]
		if p != nil && p.topic == m.Topic {
			delete(sess.pending, m.Ref)
		} else {
			p = nil
		}
		sess.mu.Unlock()
		if p == nil {
			c.report(fmt.Errorf("client: unexpected phx_reply ref %q on %q: %s", m.Ref, m.Topic, truncate(m.Payload)))
			return
		}
		if p.onReply != nil {
			p.onReply(m)
		}
		p.reply <- m
		return
	}
	if m.Topic == protocol.PhoenixTopic {
		return
	}
	c.mu.Lock()
	ch := c.channels[m.Topic]
	c.mu.Unlock()
	if ch == nil {
		c.opts.logger.Debug("realtime client message for unknown topic", "topic", m.Topic, "event", m.Event)
		return
	}
	ch.handle(sess, m)
}

// rejoinAll rejoins the channels that were joined when the session
// started, then calls OnResync after a reconnect.
func (c *Client) rejoinAll(sess *session, chans []*Channel, reconnect bool) {
	defer sess.wg.Done()
	var wg sync.WaitGroup
	for _, ch := range chans {
		wg.Go(func() { c.rejoin(sess, ch) })
	}
	wg.Wait()
	if reconnect && sess.ctx.Err() == nil {
		if fn := c.opts.onResync; fn != nil {
			ctx := c.ctx
			c.disp.enqueue(func() { fn(ctx) })
		}
	}
}

// rejoin joins ch again on sess and schedules a retry if refused.
func (c *Client) rejoin(sess *session, ch *Channel) {
	err := ch.join(sess.ctx, sess, true)
	switch {
	case err == nil:
		ch.mu.Lock()
		ch.rejoinAttempt = 0
		ch.mu.Unlock()
	case sess.ctx.Err() != nil || errors.Is(err, ErrDisconnected):
	default:
		c.report(fmt.Errorf("client: rejoin %s: %w", ch.topic, err))
		c.scheduleRejoin(sess, ch)
	}
}

// scheduleRejoin rejoins ch after a backoff delay, unless one is already
// scheduled. Only goroutines counted in sess.wg call it.
func (c *Client) scheduleRejoin(sess *session, ch *Channel) {
	ch.mu.Lock()
	if ch.rejoinScheduled || !ch.want {
		ch.mu.Unlock()
		return
	}
	ch.rejoinScheduled = true
	d := c.bo.FullJitter(ch.rejoinAttempt)
	ch.rejoinAttempt++
	ch.mu.Unlock()
	sess.wg.Go(func() {
		err := loop.Sleep(sess.ctx, c.opts.clock, d)
		ch.mu.Lock()
		ch.rejoinScheduled = false
		again := err == nil && ch.want && ch.state == ChannelErrored
		ch.mu.Unlock()
		if !again {
			return
		}
		if c.opts.tokenSource != nil { // the token may be why the server closed the channel
			if _, err := c.refreshToken(sess.ctx); err != nil && sess.ctx.Err() == nil {
				c.report(err)
			}
		}
		c.rejoin(sess, ch)
	})
}

// waitSession waits until a socket is open.
func (c *Client) waitSession(ctx context.Context) (*session, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClientClosed
		}
		sess, ready := c.sess, c.sessReady
		c.mu.Unlock()
		if sess != nil {
			return sess, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("client: waiting for connection: %w", ctx.Err())
		case <-c.ctx.Done():
			return nil, ErrClientClosed
		case <-ready:
		}
	}
}

// session is one open socket.
type session struct {
	ws     *websocket.Conn
	raw    *connRecorder   // nil when the host's transport cannot record it
	ctx    context.Context // ends with the session
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup // reader, rejoins

	answered atomic.Bool // the server replied ok to something on this session

	mu      sync.Mutex
	hbRef   string
	pending map[string]*pendingReply
	ended   bool
}

// pendingReply waits for the phx_reply with a ref. onReply runs on the
// reader goroutine before the reply is handed over.
type pendingReply struct {
	topic   string
	reply   chan protocol.Message // buffered 1
	onReply func(protocol.Message)
}

func (s *session) end() {
	s.once.Do(func() {
		s.mu.Lock()
		s.ended = true
		s.mu.Unlock()
		s.cancel()
		close(s.done)
	})
}

func (s *session) writeText(vsn string, m protocol.Message) error {
	return s.write(websocket.MessageText, protocol.EncodeText(vsn, m))
}

func (s *session) write(typ websocket.MessageType, data []byte) error {
	ctx, cancel := context.WithTimeout(s.ctx, writeTimeout)
	defer cancel()
	if err := s.ws.Write(ctx, typ, data); err != nil {
		return fmt.Errorf("%w: %v", ErrDisconnected, err)
	}
	return nil
}

// expect registers a waiter for the reply to ref.
func (s *session) expect(ref, topic string, onReply func(protocol.Message)) (*pendingReply, error) {
	p := &pendingReply{topic: topic, reply: make(chan protocol.Message, 1), onReply: onReply}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return nil, ErrDisconnected
	}
	s.pending[ref] = p
	return p, nil
}

// fail hands a synthetic message to the waiter for ref, if any.
func (s *session) fail(ref string, m protocol.Message) {
	s.mu.Lock()
	p := s.pending[ref]
	delete(s.pending, ref)
	s.mu.Unlock()
	if p != nil {
		p.reply <- m
	}
}

// request writes m (or frame, when not nil, as a binary frame) and waits
// for its reply. The pending entry stays registered after ctx ends so a
// late reply is absorbed quietly.
func (c *Client) request(ctx context.Context, sess *session, m protocol.Message, frame []byte, onReply func(protocol.Message)) (protocol.Message, error) {
	p, err := sess.expect(m.Ref, m.Topic, onReply)
	if err != nil {
		return protocol.Message{}, err
	}
	if frame != nil {
		err = sess.write(websocket.MessageBinary, frame)
	} else {
		err = sess.writeText(c.opts.vsn, m)
	}
	if err != nil {
		return protocol.Message{}, err
	}
	select {
	case r := <-p.reply:
		return r, nil
	case <-sess.done:
		select {
		case r := <-p.reply: // the reply won the race with the socket's end
			return r, nil
		default:
		}
		return protocol.Message{}, ErrDisconnected
	case <-c.ctx.Done():
		return protocol.Message{}, ErrClientClosed
	case <-ctx.Done():
		return protocol.Message{}, fmt.Errorf("client: waiting for reply to %s on %s: %w", m.Event, m.Topic, ctx.Err())
	}
}

// parseReply reads a phx_reply payload; a non-ok status gives an error
// wrapping ErrReplyError with the reason.
func parseReply(m protocol.Message) (protocol.ReplyPayload, error) {
	if m.Event != protocol.EventReply {
		return protocol.ReplyPayload{}, fmt.Errorf("%w: got %s instead of a reply", ErrDisconnected, m.Event)
	}
	var r protocol.ReplyPayload
	if err := json.Unmarshal(m.Payload, &r); err != nil {
		return protocol.ReplyPayload{}, fmt.Errorf("%w: phx_reply payload: %v", protocol.ErrFrame, err)
	}
	if r.Status != "ok" {
		return r, fmt.Errorf("%w: status %q: %s", ErrReplyError, r.Status, replyReason(r.Response))
	}
	return r, nil
}

// replyReason extracts response.reason, or the raw response.
func replyReason(resp json.RawMessage) string {
	var e protocol.ErrorResponse
	if json.Unmarshal(resp, &e) == nil && e.Reason != "" {
		return e.Reason
	}
	return truncate(resp)
}

func truncate(b []byte) string {
	const n = 200
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// dispatcher runs handlers one at a time, in order, on one goroutine.
type dispatcher struct {
	mu     sync.Mutex
	queue  []func()
	wake   chan struct{}
	quit   chan struct{}
	done   chan struct{}
	client *Client
}

func newDispatcher() *dispatcher {
	return &dispatcher{wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
}

func (d *dispatcher) start(c *Client) {
	d.client = c
	go d.run()
}

// stop runs what is queued, then ends the goroutine.
func (d *dispatcher) stop() {
	close(d.quit)
	<-d.done
}

func (d *dispatcher) enqueue(fn func()) {
	d.mu.Lock()
	d.queue = append(d.queue, fn)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run() {
	defer close(d.done)
	for {
		d.mu.Lock()
		if len(d.queue) == 0 {
			d.queue = nil
			d.mu.Unlock()
			select {
			case <-d.wake:
				continue
			case <-d.quit:
				d.mu.Lock()
				empty := len(d.queue) == 0
				d.mu.Unlock()
				if empty {
					return
				}
				continue
			}
		}
		fn := d.queue[0]
		d.queue[0] = nil
		d.queue = d.queue[1:]
		d.mu.Unlock()
		d.call(fn)
	}
}

func (d *dispatcher) call(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("client: handler panicked: %v", r)
			d.client.opts.logger.Error("realtime client", "err", err)
			if onErr := d.client.opts.onError; onErr != nil {
				func() {
					defer func() { _ = recover() }()
					onErr(err)
				}()
			}
		}
	}()
	fn()
}
