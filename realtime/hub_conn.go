package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/wedsync/integrations/realtime/protocol"
)

// outFrame is one frame waiting to be written.
type outFrame struct {
	typ  websocket.MessageType
	data []byte
}

// conn is one dashboard socket.
type conn struct {
	h   *Hub
	ws  *websocket.Conn
	raw net.Conn // the hijacked connection under ws, for cut
	// bc is raw as ws writes to it, gathering a drain's frames
	// (hub_batch.go); nil when the handshake did not go through
	// hijackRecorder.
	bc *batchConn
	// ctx ends when the socket is served no more, or is cut: it bounds
	// the socket's reads, writes and the work its messages start.
	ctx      context.Context
	cancel   context.CancelFunc
	vsn      string
	id       uint64
	token    string // the socket's apikey, used by joins that bring none
	lastSeen atomic.Int64

	joinLimit     *rate.Limiter
	msgLimit      *rate.Limiter
	presenceLimit *rate.Limiter

	mu       sync.Mutex
	channels map[string]*channel // by wire topic
	nextRef  uint64

	qmu    sync.Mutex
	queue  []outFrame
	qbytes int
	// pendN and pendB count the frames and bytes queued and not yet
	// written (the queue and the batch being written); behind is set while
	// they are at or over the hub's lag mark (hub_admission.go).
	pendN  int
	pendB  int
	behind atomic.Bool
	// writeSince is when the write in progress began (Unix ns), 0 when
	// none is: a write that has blocked a while means the peer's socket
	// buffers are full, the peer is not keeping up.
	writeSince atomic.Int64
	writing    bool // queued in the writer pool or being written
	picked     bool // a writer is draining the queue
	closing    bool
	wg         sync.WaitGroup // the drain in progress and the closer
}

func newConn(h *Hub, ws *websocket.Conn, bc *batchConn, vsn, token string) *conn {
	var raw net.Conn
	if bc != nil {
		raw = bc.Conn
	}
	c := &conn{
		h: h, ws: ws, raw: raw, bc: bc, vsn: vsn, token: token, id: h.nextConn.Add(1),
		joinLimit: rate.NewLimiter(h.o.joinRate, h.o.joinBurst),
		msgLimit:  rate.NewLimiter(h.o.msgRate, h.o.msgBurst),
		channels:  map[string]*channel{},

		presenceLimit: rate.NewLimiter(h.o.presenceRate, h.o.presenceBurst),
	}
	c.ctx, c.cancel = context.WithCancel(h.ctx)
	c.lastSeen.Store(h.o.clock.Now().UnixNano())
	return c
}

// cut drops the socket at once, without a close handshake: whatever
// blocks on it (a write to a peer that does not read, a close handshake
// with one that does not answer) fails now.
func (c *conn) cut() {
	c.cancel()
	if c.raw != nil {
		_ = c.raw.Close()
	}
}

// serve reads frames until the socket closes, then leaves every channel.
func (c *conn) serve() {
	defer func() {
		c.mu.Lock()
		chans := make([]*channel, 0, len(c.channels))
		for _, ch := range c.channels {
			chans = append(chans, ch)
		}
		c.channels = map[string]*channel{}
		c.mu.Unlock()
		for _, ch := range chans {
			ch.close()
			c.h.removeChannel(ch)
		}
		c.qmu.Lock()
		c.closing = true
		c.queue = nil
		c.setPendingLocked(0, 0)
		if c.writing && !c.picked {
			// Queued in the writer pool but not picked up: the worker
			// that finds it will skip it.
			c.writing = false
			c.wg.Done()
		}
		c.qmu.Unlock()
		c.ws.CloseNow()
		c.wg.Wait()
		c.cancel()
	}()
	ctx := c.ctx
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			return
		}
		now := c.h.o.clock.Now()
		c.lastSeen.Store(now.UnixNano())
		// Every frame counts against the rate, malformed ones too.
		limited := !c.msgLimit.AllowN(now, 1)
		var m protocol.Message
		if typ == websocket.MessageBinary {
			m, err = protocol.DecodeBinary(data)
		} else {
			m, err = protocol.DecodeText(c.vsn, data)
		}
		if err != nil {
			c.h.o.logger.Debug("realtime: dropped a malformed frame", "conn", c.id, "err", err)
			if limited {
				continue
			}
			c.sendText(protocol.Message{Topic: protocol.PhoenixTopic, Event: protocol.EventSystem, Payload: systemJSON(protocol.SystemPayload{Extension: "system", Status: "error", Message: err.Error()})})
			continue
		}
		if limited {
			c.replyError(m, "rate limit exceeded: too many messages")
			continue
		}
		c.handle(ctx, m)
	}
}

// check closes the socket when it has been silent too long and closes
// channels whose token expired.
func (c *conn) check(now time.Time) {
	if now.Sub(time.Unix(0, c.lastSeen.Load())) >= c.h.o.idleTimeout {
		c.abort(websocket.StatusPolicyViolation, "heartbeat timeout")
		return
	}
	c.mu.Lock()
	var expired []*channel
	for _, ch := range c.channels {
		if ch.expired(now) {
			expired = append(expired, ch)
		}
	}
	c.mu.Unlock()
	for _, ch := range expired {
		c.closeChannel(ch, protocol.SystemPayload{Extension: "system", Status: "error", Code: protocol.CodeTokenExpired,
			Message: "Token has expired", Channel: ch.name})
	}
}

// abort closes the socket with a code, without waiting.
func (c *conn) abort(code websocket.StatusCode, reason string) {
	c.qmu.Lock()
	if c.closing {
		c.qmu.Unlock()
		return
	}
	c.closing = true
	c.queue = nil
	c.setPendingLocked(0, 0)
	c.wg.Add(1)
	c.qmu.Unlock()
	go func() {
		defer c.wg.Done()
		// Close writes the close frame and waits for the peer's briefly;
		// the read loop then returns.
		_ = c.ws.Close(code, reason)
	}()
}

// send queues a frame; a socket over its send buffer is cut off.
func (c *conn) send(f outFrame) bool { return c.enqueue(f, false) }

// enqueue queues a frame and counts it in HubStats.Delivered (and its
// bytes in HubStats.PresenceBytes when presence is set). It counts under
// qmu, before the frame can be written: a client that has read a frame
// finds it counted.
func (c *conn) enqueue(f outFrame, presence bool) bool {
	c.qmu.Lock()
	if c.closing {
		c.qmu.Unlock()
		return false
	}
	if c.overLocked(len(f.data)) {
		c.qmu.Unlock()
		c.h.slowConsumers.Add(1)
		count(c.h.met.slowConsumers, attrReason.String(reasonSendBuffer))
		c.h.o.logger.Warn("realtime: slow consumer disconnected", "conn", c.id)
		c.abort(websocket.StatusPolicyViolation, "slow consumer: send buffer full")
		return false
	}
	c.queue = append(c.queue, f)
	c.qbytes += len(f.data)
	c.setPendingLocked(c.pendN+1, c.pendB+len(f.data))
	c.h.delivered.Add(1)
	if presence {
		c.h.presenceBytes.Add(int64(len(f.data)))
	}
	start := !c.writing
	if start {
		c.writing = true
		c.wg.Add(1)
	}
	c.qmu.Unlock()
	if start {
		c.h.writers.submit(c)
	}
	if hook := c.h.o.hooks.queued; hook != nil {
		hook(f.data)
	}
	return true
}

// drain writes the socket's queued frames until the queue is empty. It
// runs on a pool worker (w) or, as a fallback, on a goroutine of its own
// (w nil). A worker's write that blocks longer than the pool's stall bound
// detaches the worker from the pool (see writerPool).
func (c *conn) drain(w *poolWorker) {
	c.qmu.Lock()
	if !c.writing || c.picked {
		// serve gave up on this socket while it waited in the pool.
		c.qmu.Unlock()
		return
	}
	c.picked = true
	c.qmu.Unlock()
	defer c.wg.Done()
	var batch []outFrame
	written := 0 // bytes of the batch just written
	for {
		if hook := c.h.o.hooks.draining; hook != nil {
			hook()
		}
		c.qmu.Lock()
		if len(batch) > 0 && !c.closing {
			c.setPendingLocked(c.pendN-len(batch), c.pendB-written)
		}
		if len(c.queue) == 0 || c.closing {
			c.writing, c.picked = false, false
			c.qmu.Unlock()
			return
		}
		batch, c.queue = c.queue, batch[:0]
		written, c.qbytes = c.qbytes, 0
		c.qmu.Unlock()
		var n int
		var err error
		if c.bc == nil || c.h.o.perFrameWrites {
			n, err = c.writeEach(w, batch)
		} else {
			n, err = c.writeBatched(w, batch)
		}
		clear(batch)
		c.h.met.frames.Add(context.Background(), int64(n))
		if err != nil {
			c.qmu.Lock()
			c.closing = true
			c.queue = nil
			c.setPendingLocked(0, 0)
			c.writing, c.picked = false, false
			c.qmu.Unlock()
			c.ws.CloseNow()
			return
		}
	}
}

// writeBatched writes frames through the socket's batchConn: coder/websocket
// encodes each frame into memory, and the gathered bytes go to the socket
// in one write per batchFlushBytes, each bounded by the write timeout
// (WithWriteTimeout). It returns how many frames reached the socket.
func (c *conn) writeBatched(w *poolWorker, frames []outFrame) (int, error) {
	timeout := c.h.o.writeTimeout
	c.startWrite(w)
	defer c.endWrite(w)
	c.bc.hold()
	done, sent := 0, 0 // frames encoded, frames written to the socket
	for _, f := range frames {
		// In memory: this blocks only while another goroutine's control
		// frame holds coder/websocket's frame lock; c.ctx ends with the
		// socket.
		if err := c.ws.Write(c.ctx, f.typ, f.data); err != nil {
			// The socket is closing (a close frame went out, or it was
			// closed): write what is gathered, the close frame included,
			// as the per-frame writer would have.
			if c.bc.flush(timeout, true) == nil {
				sent = done
			}
			return sent, err
		}
		done++
		if c.bc.gathered() >= batchFlushBytes {
			c.startWrite(w) // each write to the socket gets the whole bounds
			if err := c.bc.flush(timeout, false); err != nil {
				_ = c.bc.flush(timeout, true)
				return sent, err
			}
			c.wroteHook(done - sent)
			sent = done
		}
	}
	c.startWrite(w) // each write to the socket gets the whole bounds
	if err := c.bc.flush(timeout, true); err != nil {
		return sent, err
	}
	if done > sent {
		c.wroteHook(done - sent)
	}
	return done, nil
}

// writeEach is the per-frame writer: one coder/websocket Write, and so one
// system call, per frame, each bounded by the write timeout. It is the
// hub's writer before batching, kept for sockets without a batchConn and
// for the benchmark's comparison (WithPerFrameWrites).
func (c *conn) writeEach(w *poolWorker, frames []outFrame) (int, error) {
	for i, f := range frames {
		ctx, cancel := context.WithTimeout(c.ctx, c.h.o.writeTimeout)
		c.startWrite(w)
		err := c.ws.Write(ctx, f.typ, f.data)
		c.endWrite(w)
		cancel()
		if err != nil {
			return i, err
		}
		c.wroteHook(1)
	}
	return len(frames), nil
}

func (c *conn) wroteHook(frames int) {
	if hook := c.h.o.hooks.wrote; hook != nil {
		hook(frames)
	}
}

// startWrite marks the start of a write that may block on the socket: the
// slow-consumer check (writeSince) and the pool's stall bound time it.
func (c *conn) startWrite(w *poolWorker) {
	if w != nil {
		w.timer.Reset(w.p.stall)
	}
	c.writeSince.Store(time.Now().UnixNano())
}

// endWrite marks the end of a write.
func (c *conn) endWrite(w *poolWorker) {
	c.writeSince.Store(0)
	if w != nil {
		w.timer.Stop()
	}
}

func (c *conn) sendText(m protocol.Message) bool {
	return c.send(outFrame{typ: websocket.MessageText, data: protocol.EncodeText(c.vsn, m)})
}

// sendPresence queues a presence frame and counts its bytes in
// HubStats.PresenceBytes.
func (c *conn) sendPresence(data []byte) {
	c.enqueue(outFrame{typ: websocket.MessageText, data: data}, true)
}

func (c *conn) reply(m protocol.Message, status string, response any) {
	if m.Ref == "" {
		return
	}
	resp, err := json.Marshal(response)
	if err != nil {
		resp = []byte("{}")
	}
	body, _ := json.Marshal(protocol.ReplyPayload{Status: status, Response: resp})
	c.sendText(protocol.Message{JoinRef: m.JoinRef, Ref: m.Ref, Topic: m.Topic, Event: protocol.EventReply, Payload: body})
}

func (c *conn) replyOK(m protocol.Message, response any) { c.reply(m, "ok", response) }

func (c *conn) replyError(m protocol.Message, reason string) {
	c.reply(m, "error", protocol.ErrorResponse{Reason: reason})
}

func systemJSON(p protocol.SystemPayload) json.RawMessage {
	b, _ := json.Marshal(p)
	return b
}

// handle dispatches one message from the client.
func (c *conn) handle(ctx context.Context, m protocol.Message) {
	if m.Topic == protocol.PhoenixTopic {
		if m.Event == protocol.EventHeartbeat {
			c.replyOK(m, struct{}{})
		} else {
			c.replyError(m, "unknown event on topic phoenix")
		}
		return
	}
	if m.Event == protocol.EventJoin {
		c.join(ctx, m)
		return
	}
	c.mu.Lock()
	ch := c.channels[m.Topic]
	c.mu.Unlock()
	if ch == nil || (m.JoinRef != "" && m.JoinRef != ch.joinRef) {
		c.replyError(m, "unmatched topic")
		return
	}
	switch m.Event {
	case protocol.EventLeave:
		c.mu.Lock()
		delete(c.channels, m.Topic)
		c.mu.Unlock()
		ch.close()
		c.h.removeChannel(ch)
		c.replyOK(m, struct{}{})
		c.sendText(protocol.Message{JoinRef: ch.joinRef, Topic: ch.wire, Event: protocol.EventClose, Payload: json.RawMessage("{}")})
	case protocol.EventAccessToken:
		c.refreshToken(ctx, ch, m)
	case protocol.EventBroadcast:
		c.clientBroadcast(ctx, ch, m)
	case protocol.EventPresence:
		c.presence(ch, m)
	default:
		c.replyError(m, "unknown event "+m.Event)
	}
}

// closeChannel removes ch after telling the client why (a system message)
// and closing it (phx_close), as Supabase does for an expired token.
func (c *conn) closeChannel(ch *channel, why protocol.SystemPayload) {
	c.mu.Lock()
	if c.channels[ch.wire] != ch {
		c.mu.Unlock()
		return
	}
	delete(c.channels, ch.wire)
	c.mu.Unlock()
	ch.close()
	c.h.removeChannel(ch)
	c.sendText(protocol.Message{JoinRef: ch.joinRef, Topic: ch.wire, Event: protocol.EventSystem, Payload: systemJSON(why)})
	c.sendText(protocol.Message{JoinRef: ch.joinRef, Topic: ch.wire, Event: protocol.EventClose, Payload: json.RawMessage("{}")})
}

func (c *conn) refreshToken(ctx context.Context, ch *channel, m protocol.Message) {
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(m.Payload, &body); err != nil || body.AccessToken == "" {
		c.closeChannel(ch, protocol.SystemPayload{Extension: "system", Status: "error", Code: protocol.CodeTokenInvalid, Channel: ch.name,
			Message: "access_token: payload field access_token is required"})
		return
	}
	p, err := c.authorize(ctx, body.AccessToken, ch.name)
	if err != nil {
		c.closeChannel(ch, protocol.SystemPayload{Extension: "system", Status: "error", Code: protocol.CodeTokenInvalid, Channel: ch.name, Message: err.Error()})
		return
	}
	ch.setPrincipal(p)
}

// authorize authenticates token and checks it may join topic.
func (c *conn) authorize(ctx context.Context, token, topic string) (*Principal, error) {
	p, err := c.h.o.auth.Authenticate(ctx, token)
	if err != nil {
		return nil, err
	}
	if !p.ExpiresAt.IsZero() && !c.h.o.clock.Now().Before(p.ExpiresAt) {
		return nil, errors.New("token has expired")
	}
	if err := c.h.o.authz.AuthorizeJoin(ctx, p, topic); err != nil {
		return nil, err
	}
	return p, nil
}

func (c *conn) clientBroadcast(ctx context.Context, ch *channel, m protocol.Message) {
	var b protocol.BroadcastPayload
	if err := json.Unmarshal(m.Payload, &b); err != nil {
		c.replyError(m, "broadcast: payload must be {type, event, payload}")
		return
	}
	if err := validateEvent(b.Event); err != nil {
		c.replyError(m, "broadcast: "+err.Error())
		return
	}
	raw, err := payloadJSON(b.Payload)
	if err != nil {
		c.replyError(m, "broadcast: "+err.Error())
		return
	}
	if ch.expired(c.h.o.clock.Now()) {
		c.replyError(m, "broadcast: the channel's token has expired")
		return
	}
	if err := c.h.o.authz.AuthorizeBroadcast(ctx, ch.principalNow(), ch.name, b.Event); err != nil {
		c.replyError(m, err.Error())
		return
	}
	if _, err := c.h.broker.Publish(ctx, ch.name, b.Event, raw, ch.origin); err != nil {
		reason := "broadcast failed"
		if errors.Is(err, ErrPublishOutcomeUnknown) {
			reason = "broadcast outcome unknown: it may have been published"
		}
		c.replyError(m, reason)
		return
	}
	c.h.met.broadcasts.Add(ctx, 1, c.h.met.fromClient)
	if ch.cfg.Broadcast.Ack {
		c.replyOK(m, struct{}{})
	}
}
