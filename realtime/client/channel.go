package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/wedsync/integrations/internal/validate"
	"github.com/wedsync/integrations/realtime/protocol"
)

// ChannelConfig configures a Channel.
type ChannelConfig struct {
	// Broadcast sets ack (Send waits for the server's reply) and self (the
	// server echoes this client's broadcasts). Replay, when set, is sent on
	// the first join only. Defaults to neither.
	Broadcast protocol.BroadcastConfig
	// PresenceKey is the key this client asks to be tracked under.
	// Supabase uses it as sent; a realtime.Hub ignores it unless the host
	// allows client keys (realtime.WithClientPresenceKeys) and tracks the
	// client under its token's subject. Defaults to "" (the server picks).
	PresenceKey string
	// Presence enables presence on the channel. Defaults to false.
	Presence bool
	// Private asks the server to authorise the join. Defaults to false.
	Private bool
	// Replay turns on the hub's replay extension (Supabase ignores it):
	// the channel remembers the meta (epoch, offset, ts) of the last
	// broadcast it received; every rejoin asks for the broadcasts since
	// that ts (and sets private, which replay requires); broadcasts of the
	// same epoch with an offset already seen are dropped, so a handler sees
	// each broadcast once and in order. A broadcast of another epoch calls
	// OnReload("epoch") first, and a system message with code
	// protocol.CodeReplayIncomplete calls OnReload with that code. When
	// nothing was received yet, a rejoin asks from ReplaySince or else from
	// 5 s before the first join (client clock; the margin absorbs clock
	// skew). Defaults to false.
	Replay bool
	// ReplaySince, when set with Replay, asks for replay on the very first
	// join too. Defaults to zero (no replay on first join).
	ReplaySince time.Time
}

// replayClockMargin widens a replay that has no broadcast to resume
// from, for clock skew between this machine and the server.
const replayClockMargin = 5 * time.Second

// ChannelState is the state of a Channel.
type ChannelState int

// Channel states.
const (
	// ChannelClosed: not subscribed (initially, and after Unsubscribe or
	// a refused Subscribe).
	ChannelClosed ChannelState = iota
	// ChannelJoining: phx_join sent, waiting for the reply.
	ChannelJoining
	// ChannelJoined: the server accepted the join.
	ChannelJoined
	// ChannelErrored: the socket was lost, the server sent phx_error or
	// phx_close, or a rejoin was refused; the client rejoins.
	ChannelErrored
	// ChannelLeaving: phx_leave sent.
	ChannelLeaving
)

// String returns "closed", "joining", "joined", "errored" or "leaving".
func (s ChannelState) String() string {
	switch s {
	case ChannelClosed:
		return "closed"
	case ChannelJoining:
		return "joining"
	case ChannelJoined:
		return "joined"
	case ChannelErrored:
		return "errored"
	case ChannelLeaving:
		return "leaving"
	}
	return "ChannelState(" + strconv.Itoa(int(s)) + ")"
}

// BroadcastMessage is a broadcast received on a channel.
type BroadcastMessage struct {
	Event   string
	Payload json.RawMessage
	// Meta is what the server sent as meta, nil if nothing.
	Meta *protocol.BroadcastMeta
}

// PresenceEvent reports a presence change: Kind "join" or "leave" for one
// key with the metas that joined or left, then "sync" (Key "" and no metas)
// once the state is up to date.
type PresenceEvent struct {
	Kind  string
	Key   string
	Metas []protocol.PresenceMeta
}

// Presence event kinds.
const (
	PresenceSync  = "sync"
	PresenceJoin  = "join"
	PresenceLeave = "leave"
)

// Channel is one topic on a Client's socket. Get one with Client.Channel,
// register handlers, then Subscribe. Its methods are safe for concurrent
// use; handlers run on the client's handler goroutine (see Client).
type Channel struct {
	client *Client
	topic  string // wire topic
	cfg    ChannelConfig

	mu              sync.Mutex
	state           ChannelState
	joinRef         string
	want            bool // joined by Subscribe and not left: rejoin it
	everJoined      bool
	firstJoinAt     time.Time
	rejoinAttempt   int
	rejoinScheduled bool

	broadcastFns map[string][]func(BroadcastMessage)
	pgBindings   []*pgBinding
	presenceFns  []func(PresenceEvent)
	systemFns    []func(protocol.SystemPayload)
	reloadFns    []func(string)

	presence protocol.PresenceState

	haveLast   bool
	joinCursor *protocol.BroadcastCursor // the hub's cursor from the last join reply
	lastEpoch  string
	lastOffset uint64
	lastTS     int64
}

type pgBinding struct {
	filter protocol.PostgresChangeFilter
	fn     func(protocol.PostgresChange)
	id     int64 // from the last join reply; 0 means unmatched
}

// Topic returns the wire topic, such as "realtime:supplier:1".
func (ch *Channel) Topic() string { return ch.topic }

// State returns the channel state.
func (ch *Channel) State() ChannelState {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.state
}

// OnBroadcast calls fn for each broadcast with the event ("*" for all).
func (ch *Channel) OnBroadcast(event string, fn func(BroadcastMessage)) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.broadcastFns == nil {
		ch.broadcastFns = make(map[string][]func(BroadcastMessage))
	}
	ch.broadcastFns[event] = append(ch.broadcastFns[event], fn)
}

// OnPostgresChanges calls fn for each database change the server matched
// to f. Register before Subscribe: the filters go into the join.
func (ch *Channel) OnPostgresChanges(f protocol.PostgresChangeFilter, fn func(protocol.PostgresChange)) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	f.ID = 0
	ch.pgBindings = append(ch.pgBindings, &pgBinding{filter: f, fn: fn})
}

// OnPresence calls fn for presence changes.
func (ch *Channel) OnPresence(fn func(PresenceEvent)) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.presenceFns = append(ch.presenceFns, fn)
}

// OnSystem calls fn for each system message, such as postgres_changes
// status "ok" (replication ready) or the hub's replay codes.
func (ch *Channel) OnSystem(fn func(protocol.SystemPayload)) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.systemFns = append(ch.systemFns, fn)
}

// OnReload calls fn when the channel's history cannot be trusted and the
// host must reload its state: reason protocol.CodeReplayIncomplete when
// the hub could not replay everything, "epoch" when a broadcast of a new
// epoch arrives (the hub's history was reset).
func (ch *Channel) OnReload(fn func(reason string)) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.reloadFns = append(ch.reloadFns, fn)
}

// PresenceState returns a copy of the presence state after the latest
// presence message received (it may be ahead of the events delivered so
// far).
func (ch *Channel) PresenceState() protocol.PresenceState {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return clonePresence(ch.presence)
}

// Subscribe joins the channel and waits for the reply. If the socket is
// down it waits for it. A refusal returns an error wrapping ErrJoinRefused
// with the server's reason, and the channel is forgotten; only a channel
// whose join succeeded is rejoined after a reconnect or a server error.
func (ch *Channel) Subscribe(ctx context.Context) error {
	c := ch.client
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClientClosed
	}
	if other := c.channels[ch.topic]; other != nil && other != ch {
		c.mu.Unlock()
		return fmt.Errorf("client: subscribe %s: %w", ch.topic, ErrDuplicateChannel)
	}
	ch.mu.Lock()
	if ch.state == ChannelJoined || ch.want {
		ch.mu.Unlock()
		c.mu.Unlock()
		return nil
	}
	if ch.state == ChannelJoining || ch.state == ChannelLeaving {
		st := ch.state
		ch.mu.Unlock()
		c.mu.Unlock()
		return fmt.Errorf("client: subscribe %s: channel is %s", ch.topic, st)
	}
	ch.state = ChannelJoining
	ch.mu.Unlock()
	c.channels[ch.topic] = ch
	c.mu.Unlock()

	for {
		sess, err := c.waitSession(ctx)
		if err != nil {
			ch.forget(nil)
			return err
		}
		err = ch.join(ctx, sess, false)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrDisconnected) && ctx.Err() == nil:
			ch.mu.Lock()
			accepted := ch.want
			ch.mu.Unlock()
			if accepted {
				// The server accepted the join just before the socket
				// ended; the channel is rejoined with the others.
				return nil
			}
			continue // wait for the next socket
		default:
			ch.forget(sess)
			return fmt.Errorf("client: subscribe %s: %w", ch.topic, err)
		}
	}
}

// forget drops the channel after a failed Subscribe; if a join may be
// pending on the server, it sends phx_leave without waiting.
func (ch *Channel) forget(sess *session) {
	c := ch.client
	c.mu.Lock()
	if c.channels[ch.topic] == ch {
		delete(c.channels, ch.topic)
	}
	c.mu.Unlock()
	ch.mu.Lock()
	joinRef, wasJoining := ch.joinRef, ch.state == ChannelJoining || ch.state == ChannelJoined
	ch.state, ch.want, ch.joinRef = ChannelClosed, false, ""
	ch.mu.Unlock()
	if sess != nil && wasJoining && joinRef != "" {
		_ = sess.writeText(c.opts.vsn, protocol.Message{JoinRef: joinRef, Ref: c.nextRef(), Topic: ch.topic, Event: protocol.EventLeave, Payload: json.RawMessage("{}")})
	}
}

// errChannelErrored: the server sent phx_error or phx_close while a
// join waited for its reply.
var errChannelErrored = errors.New("client: channel errored while joining")

// join sends phx_join on sess and waits for the reply. A rejoin happens
// only if the channel is errored (and so not joined or joining already).
func (ch *Channel) join(ctx context.Context, sess *session, rejoin bool) error {
	c := ch.client
	token := c.currentToken()
	ref := c.nextRef()
	ch.mu.Lock()
	if rejoin && (ch.state != ChannelErrored || !ch.want) {
		ch.mu.Unlock()
		return nil
	}
	if ch.state == ChannelLeaving || ch.state == ChannelClosed {
		ch.mu.Unlock()
		return fmt.Errorf("client: join %s: channel is %s", ch.topic, ch.state)
	}
	payload, err := json.Marshal(ch.joinPayloadLocked(token))
	if err != nil {
		ch.mu.Unlock()
		return err
	}
	ch.joinRef = ref
	ch.state = ChannelJoining
	ch.mu.Unlock()
	m := protocol.Message{JoinRef: ref, Ref: ref, Topic: ch.topic, Event: protocol.EventJoin, Payload: payload}
	reply, err := c.request(ctx, sess, m, nil, func(r protocol.Message) { ch.applyJoinReply(ref, r) })
	if err != nil {
		return err
	}
	if reply.Event != protocol.EventReply {
		return fmt.Errorf("%w: server sent %s", errChannelErrored, reply.Event)
	}
	var r protocol.ReplyPayload
	if err := json.Unmarshal(reply.Payload, &r); err != nil {
		return fmt.Errorf("%w: join reply: %v", protocol.ErrFrame, err)
	}
	if r.Status != "ok" {
		return fmt.Errorf("%w: %s", ErrJoinRefused, replyReason(r.Response))
	}
	ch.mu.Lock()
	ok := ch.joinRef == ref && ch.state == ChannelJoined
	ch.mu.Unlock()
	if !ok {
		return fmt.Errorf("client: join %s: channel left while joining", ch.topic)
	}
	return nil
}

// joinPayloadLocked builds the phx_join payload.
func (ch *Channel) joinPayloadLocked(token string) protocol.JoinPayload {
	cfg := protocol.JoinConfig{
		Broadcast: protocol.BroadcastConfig{
			Ack:              ch.cfg.Broadcast.Ack,
			Self:             ch.cfg.Broadcast.Self,
			ReplicationReady: ch.cfg.Broadcast.ReplicationReady,
		},
		Presence:        protocol.PresenceConfig{Enabled: ch.cfg.Presence, Key: ch.cfg.PresenceKey},
		PostgresChanges: make([]protocol.PostgresChangeFilter, 0, len(ch.pgBindings)),
		Private:         ch.cfg.Private,
	}
	for _, b := range ch.pgBindings {
		cfg.PostgresChanges = append(cfg.PostgresChanges, b.filter)
	}
	switch {
	case !ch.everJoined:
		if r := ch.cfg.Broadcast.Replay; r != nil {
			rc := *r
			cfg.Broadcast.Replay = &rc
		}
		if ch.cfg.Replay && !ch.cfg.ReplaySince.IsZero() {
			cfg.Broadcast.Replay = &protocol.ReplayConfig{Since: ch.cfg.ReplaySince.UnixMilli()}
			cfg.Private = true
		}
	case ch.cfg.Replay:
		// Nothing received yet: from the first join, less a margin for
		// this machine's clock running ahead of the server's (what comes
		// twice is dropped by offset; nothing was received to repeat).
		since := ch.firstJoinAt.Add(-replayClockMargin).UnixMilli()
		if !ch.cfg.ReplaySince.IsZero() {
			since = ch.cfg.ReplaySince.UnixMilli()
		}
		replay := &protocol.ReplayConfig{Since: since}
		if ch.haveLast {
			// Exact with our hub (epoch and offset); by time elsewhere.
			replay = &protocol.ReplayConfig{Since: ch.lastTS, Epoch: ch.lastEpoch, After: ch.lastOffset}
			if ch.lastTS == 0 {
				replay.Since = since
			}
		}
		cfg.Broadcast.Replay = replay
		cfg.Private = true
	}
	return protocol.JoinPayload{Config: cfg, AccessToken: token}
}

// applyJoinReply runs on the reader goroutine, before any later message
// is routed: it records the postgres_changes ids and the new state.
func (ch *Channel) applyJoinReply(ref string, m protocol.Message) {
	c := ch.client
	var r protocol.ReplyPayload
	if err := json.Unmarshal(m.Payload, &r); err != nil {
		return // join reports it
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.joinRef != ref || ch.state != ChannelJoining {
		return
	}
	if r.Status != "ok" {
		ch.state = ChannelErrored
		return
	}
	var resp protocol.JoinResponse
	if len(r.Response) > 0 {
		if err := json.Unmarshal(r.Response, &resp); err != nil {
			c.report(fmt.Errorf("%w: join reply response on %s: %v", protocol.ErrFrame, ch.topic, err))
		}
	}
	used := make([]bool, len(resp.PostgresChanges))
	for _, b := range ch.pgBindings {
		b.id = 0
		for i, s := range resp.PostgresChanges {
			if !used[i] && sameBinding(b.filter, s) {
				used[i] = true
				b.id = s.ID
				break
			}
		}
		if b.id == 0 {
			c.report(fmt.Errorf("client: %s: the join reply has no postgres_changes binding for %s %s.%s %q",
				ch.topic, b.filter.Event, b.filter.Schema, b.filter.Table, b.filter.Filter))
		}
	}
	ch.state = ChannelJoined
	ch.want = true
	ch.joinCursor = nil
	if resp.Broadcast != nil && resp.Broadcast.Epoch != "" {
		cur := *resp.Broadcast
		ch.joinCursor = &cur
	}
	if ch.cfg.Replay && !ch.haveLast && resp.Broadcast != nil && resp.Broadcast.Epoch != "" {
		// Our hub's cursor: nothing received yet, so resume from the
		// server's position at this join, not from this machine's clock.
		ch.haveLast = true
		ch.lastEpoch, ch.lastOffset = resp.Broadcast.Epoch, resp.Broadcast.Offset
	}
	if !ch.everJoined {
		ch.everJoined = true
		ch.firstJoinAt = c.opts.clock.Now()
	}
}

func sameBinding(a, b protocol.PostgresChangeFilter) bool {
	return a.Event == b.Event && a.Schema == b.Schema && a.Table == b.Table && a.Filter == b.Filter
}

// Send broadcasts event with payload (marshalled with encoding/json; pass
// json.RawMessage for JSON you already have). With Broadcast.Ack it waits
// for the server's reply; otherwise it returns once the frame is written.
// With VSN2 the broadcast travels as a kind 3 binary frame.
func (ch *Channel) Send(ctx context.Context, event string, payload any) error {
	if event == "" {
		return validate.New(pkg, "event", "must not be empty")
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("client: Send: payload: %w", err)
	}
	c := ch.client
	sess, joinRef, err := ch.joinedSession()
	if err != nil {
		return err
	}
	ref := c.nextRef()
	var frame []byte
	if c.opts.vsn == protocol.VSN2 {
		if f, ok := protocol.EncodeUserBroadcastPush(joinRef, ref, ch.topic, event, nil, data); ok {
			frame = f
		}
	}
	body, err := json.Marshal(protocol.BroadcastPayload{Type: "broadcast", Event: event, Payload: data})
	if err != nil {
		return err
	}
	m := protocol.Message{JoinRef: joinRef, Ref: ref, Topic: ch.topic, Event: protocol.EventBroadcast, Payload: body}
	if !ch.cfg.Broadcast.Ack {
		if frame != nil {
			return sess.write(websocket.MessageBinary, frame)
		}
		return sess.writeText(c.opts.vsn, m)
	}
	reply, err := c.request(ctx, sess, m, frame, nil)
	if err != nil {
		return fmt.Errorf("client: Send %s on %s: %w", event, ch.topic, err)
	}
	if _, err := parseReply(reply); err != nil {
		return fmt.Errorf("client: Send %s on %s: %w", event, ch.topic, err)
	}
	return nil
}

// Track sends this client's presence meta and waits for the reply.
func (ch *Channel) Track(ctx context.Context, meta any) error {
	data, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("client: Track: meta: %w", err)
	}
	return ch.presencePush(ctx, protocol.PresencePush{Type: "presence", Event: "track", Payload: data})
}

// Untrack removes this client's presence and waits for the reply.
func (ch *Channel) Untrack(ctx context.Context) error {
	return ch.presencePush(ctx, protocol.PresencePush{Type: "presence", Event: "untrack"})
}

func (ch *Channel) presencePush(ctx context.Context, p protocol.PresencePush) error {
	c := ch.client
	sess, joinRef, err := ch.joinedSession()
	if err != nil {
		return err
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	m := protocol.Message{JoinRef: joinRef, Ref: c.nextRef(), Topic: ch.topic, Event: protocol.EventPresence, Payload: body}
	reply, err := c.request(ctx, sess, m, nil, nil)
	if err != nil {
		return fmt.Errorf("client: presence %s on %s: %w", p.Event, ch.topic, err)
	}
	if _, err := parseReply(reply); err != nil {
		return fmt.Errorf("client: presence %s on %s: %w", p.Event, ch.topic, err)
	}
	return nil
}

// joinedSession returns the socket and join_ref of a joined channel.
func (ch *Channel) joinedSession() (*session, string, error) {
	c := ch.client
	c.mu.Lock()
	closed, sess := c.closed, c.sess
	c.mu.Unlock()
	if closed {
		return nil, "", ErrClientClosed
	}
	ch.mu.Lock()
	state, joinRef := ch.state, ch.joinRef
	ch.mu.Unlock()
	if state != ChannelJoined || sess == nil {
		return nil, "", fmt.Errorf("client: %s is %s: %w", ch.topic, state, ErrNotJoined)
	}
	return sess, joinRef, nil
}

// Unsubscribe sends phx_leave, waits for the reply and forgets the
// channel, which is then not rejoined. The channel is forgotten even when
// the reply does not come.
func (ch *Channel) Unsubscribe(ctx context.Context) error {
	c := ch.client
	ch.mu.Lock()
	prev, joinRef := ch.state, ch.joinRef
	if prev == ChannelClosed {
		ch.mu.Unlock()
		return nil
	}
	ch.want = false
	ch.state = ChannelLeaving
	ch.mu.Unlock()

	var err error
	c.mu.Lock()
	sess := c.sess
	c.mu.Unlock()
	if sess != nil && (prev == ChannelJoined || prev == ChannelJoining) && joinRef != "" {
		m := protocol.Message{JoinRef: joinRef, Ref: c.nextRef(), Topic: ch.topic, Event: protocol.EventLeave, Payload: json.RawMessage("{}")}
		var reply protocol.Message
		reply, err = c.request(ctx, sess, m, nil, nil)
		if err == nil {
			_, err = parseReply(reply)
		}
		if errors.Is(err, ErrDisconnected) {
			err = nil // the server forgets a socket's channels with it
		}
		if err != nil {
			err = fmt.Errorf("client: unsubscribe %s: %w", ch.topic, err)
		}
	}
	c.mu.Lock()
	if c.channels[ch.topic] == ch {
		delete(c.channels, ch.topic)
	}
	c.mu.Unlock()
	ch.mu.Lock()
	ch.state, ch.joinRef = ChannelClosed, ""
	ch.presence = protocol.PresenceState{}
	ch.mu.Unlock()
	return err
}

// handle routes a message for this channel; it runs on the reader
// goroutine and queues handler calls on the handler goroutine.
func (ch *Channel) handle(sess *session, m protocol.Message) {
	c := ch.client
	ch.mu.Lock()
	if m.JoinRef != "" && m.JoinRef != ch.joinRef {
		ch.mu.Unlock()
		c.opts.logger.Debug("realtime client stale message", "topic", m.Topic, "event", m.Event)
		return
	}
	switch m.Event {
	case protocol.EventError, protocol.EventClose:
		ch.handleErrorLocked(sess, m)
		return // unlocked
	case protocol.EventBroadcast:
		ch.handleBroadcastLocked(m)
	case protocol.EventPostgresChanges:
		ch.handlePostgresLocked(m)
	case protocol.EventPresenceState:
		ch.handlePresenceStateLocked(m)
	case protocol.EventPresenceDiff:
		ch.handlePresenceDiffLocked(m)
	case protocol.EventSystem:
		ch.handleSystemLocked(m)
	default:
		c.opts.logger.Debug("realtime client ignored event", "topic", m.Topic, "event", m.Event)
	}
	ch.mu.Unlock()
}

// handleErrorLocked handles phx_error and phx_close; it unlocks ch.mu.
func (ch *Channel) handleErrorLocked(sess *session, m protocol.Message) {
	c := ch.client
	state, joinRef, want := ch.state, ch.joinRef, ch.want
	if state == ChannelLeaving || state == ChannelClosed {
		ch.mu.Unlock()
		return
	}
	ch.state = ChannelErrored
	ch.mu.Unlock()
	c.opts.logger.Info("realtime client channel errored", "topic", ch.topic, "event", m.Event)
	if state == ChannelJoining {
		sess.fail(joinRef, m) // the waiting join fails; its caller retries
		return
	}
	if want {
		c.scheduleRejoin(sess, ch)
	}
}

func (ch *Channel) handleBroadcastLocked(m protocol.Message) {
	c := ch.client
	var b protocol.BroadcastPayload
	if err := json.Unmarshal(m.Payload, &b); err != nil || b.Event == "" {
		c.report(fmt.Errorf("%w: broadcast on %s: payload needs an event: %s", protocol.ErrFrame, ch.topic, truncate(m.Payload)))
		return
	}
	if ch.cfg.Replay && b.Meta != nil && b.Meta.Epoch != "" {
		if ch.haveLast {
			if b.Meta.Epoch == ch.lastEpoch {
				if b.Meta.Offset <= ch.lastOffset {
					c.opts.logger.Debug("realtime client dropped duplicate broadcast", "topic", ch.topic, "offset", b.Meta.Offset)
					return
				}
			} else {
				ch.queueReloadLocked("epoch")
			}
		}
		ch.haveLast = true
		ch.lastEpoch, ch.lastOffset, ch.lastTS = b.Meta.Epoch, b.Meta.Offset, b.Meta.TS
	}
	msg := BroadcastMessage{Event: b.Event, Payload: b.Payload, Meta: b.Meta}
	fns := slices.Concat(ch.broadcastFns[b.Event], ch.broadcastFns["*"])
	if b.Event == "*" {
		fns = ch.broadcastFns["*"]
	}
	for _, fn := range fns {
		c.disp.enqueue(func() { fn(msg) })
	}
}

func (ch *Channel) queueReloadLocked(reason string) {
	for _, fn := range ch.reloadFns {
		ch.client.disp.enqueue(func() { fn(reason) })
	}
}

func (ch *Channel) handlePostgresLocked(m protocol.Message) {
	c := ch.client
	var p protocol.PostgresChangesPayload
	if err := json.Unmarshal(m.Payload, &p); err != nil {
		c.report(fmt.Errorf("%w: postgres_changes on %s: %v", protocol.ErrFrame, ch.topic, err))
		return
	}
	for _, b := range ch.pgBindings {
		if b.id != 0 && slices.Contains(p.IDs, b.id) {
			fn, data := b.fn, p.Data
			c.disp.enqueue(func() { fn(data) })
		}
	}
}

func (ch *Channel) handleSystemLocked(m protocol.Message) {
	c := ch.client
	var s protocol.SystemPayload
	if err := json.Unmarshal(m.Payload, &s); err != nil {
		c.report(fmt.Errorf("%w: system on %s: %v", protocol.ErrFrame, ch.topic, err))
		return
	}
	for _, fn := range ch.systemFns {
		c.disp.enqueue(func() { fn(s) })
	}
	if s.Code == protocol.CodeReplayIncomplete {
		if ch.cfg.Replay && ch.joinCursor != nil {
			// After the reload, the stream continues from this join's
			// cursor: resume from there if the socket drops again.
			ch.haveLast = true
			ch.lastEpoch, ch.lastOffset, ch.lastTS = ch.joinCursor.Epoch, ch.joinCursor.Offset, 0
		}
		ch.queueReloadLocked(protocol.CodeReplayIncomplete)
	}
}

func (ch *Channel) handlePresenceStateLocked(m protocol.Message) {
	c := ch.client
	var next protocol.PresenceState
	if err := json.Unmarshal(m.Payload, &next); err != nil {
		c.report(fmt.Errorf("%w: presence_state on %s: %v", protocol.ErrFrame, ch.topic, err))
		return
	}
	var events []PresenceEvent
	for _, key := range sortedKeys(next) {
		if joined := metasMissing(next[key].Metas, ch.presence[key].Metas); len(joined) > 0 {
			events = append(events, PresenceEvent{Kind: PresenceJoin, Key: key, Metas: joined})
		}
	}
	for _, key := range sortedKeys(ch.presence) {
		if left := metasMissing(ch.presence[key].Metas, next[key].Metas); len(left) > 0 {
			events = append(events, PresenceEvent{Kind: PresenceLeave, Key: key, Metas: left})
		}
	}
	ch.presence = clonePresence(next)
	ch.queuePresenceLocked(events)
}

func (ch *Channel) handlePresenceDiffLocked(m protocol.Message) {
	c := ch.client
	var d protocol.PresenceDiff
	if err := json.Unmarshal(m.Payload, &d); err != nil {
		c.report(fmt.Errorf("%w: presence_diff on %s: %v", protocol.ErrFrame, ch.topic, err))
		return
	}
	var events []PresenceEvent
	for _, key := range sortedKeys(d.Joins) {
		joins := d.Joins[key].Metas
		refs := phxRefs(joins)
		var metas []protocol.PresenceMeta
		for _, old := range ch.presence[key].Metas {
			if _, dup := refs[phxRef(old)]; !dup {
				metas = append(metas, old)
			}
		}
		ch.presence[key] = protocol.PresenceEntry{Metas: append(metas, joins...)}
		events = append(events, PresenceEvent{Kind: PresenceJoin, Key: key, Metas: joins})
	}
	for _, key := range sortedKeys(d.Leaves) {
		leaves := d.Leaves[key].Metas
		refs := phxRefs(leaves)
		var metas []protocol.PresenceMeta
		for _, old := range ch.presence[key].Metas {
			if _, gone := refs[phxRef(old)]; !gone {
				metas = append(metas, old)
			}
		}
		if len(metas) == 0 {
			delete(ch.presence, key)
		} else {
			ch.presence[key] = protocol.PresenceEntry{Metas: metas}
		}
		events = append(events, PresenceEvent{Kind: PresenceLeave, Key: key, Metas: leaves})
	}
	ch.queuePresenceLocked(events)
}

func (ch *Channel) queuePresenceLocked(events []PresenceEvent) {
	events = append(events, PresenceEvent{Kind: PresenceSync})
	for _, fn := range ch.presenceFns {
		for _, ev := range events {
			ch.client.disp.enqueue(func() { fn(ev) })
		}
	}
}

// phxRef returns a meta's phx_ref ("" if none).
func phxRef(m protocol.PresenceMeta) string {
	var s string
	_ = json.Unmarshal(m["phx_ref"], &s)
	return s
}

func phxRefs(metas []protocol.PresenceMeta) map[string]struct{} {
	refs := make(map[string]struct{}, len(metas))
	for _, m := range metas {
		refs[phxRef(m)] = struct{}{}
	}
	return refs
}

// metasMissing returns the metas of a whose phx_ref is not in b.
func metasMissing(a, b []protocol.PresenceMeta) []protocol.PresenceMeta {
	refs := phxRefs(b)
	var out []protocol.PresenceMeta
	for _, m := range a {
		if _, ok := refs[phxRef(m)]; !ok {
			out = append(out, m)
		}
	}
	return out
}

func sortedKeys(s protocol.PresenceState) []string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func clonePresence(s protocol.PresenceState) protocol.PresenceState {
	out := make(protocol.PresenceState, len(s))
	for k, e := range s {
		metas := make([]protocol.PresenceMeta, len(e.Metas))
		for i, m := range e.Metas {
			cm := make(protocol.PresenceMeta, len(m))
			for f, v := range m {
				cm[f] = slices.Clone(v)
			}
			metas[i] = cm
		}
		out[k] = protocol.PresenceEntry{Metas: metas}
	}
	return out
}
