package realtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/wedsync/integrations/realtime/protocol"
)

// channel is one socket's membership of one topic.
type channel struct {
	conn     *conn
	name     string // topic name, "supplier:42"
	wire     string // "realtime:supplier:42"
	joinRef  string
	origin   string // Publication.Origin of its own broadcasts
	cfg      protocol.JoinConfig
	bindings []protocol.PostgresChangeFilter
	presKey  string
	topic    *hubTopic

	// With a PresenceBroker: presMu orders the channel's presence writes
	// (a track, its untrack when the channel leaves); tracked says its
	// member is in the broker (presMu); maybeTracked, that it may be.
	presMu       sync.Mutex
	tracked      bool
	maybeTracked atomic.Bool

	mu        sync.Mutex
	principal *Principal
	syncing   bool // joined, replay not yet sent: live publications wait
	pending   []Publication
	epoch     string
	last      uint64 // newest offset sent, for dedupe
	closed    bool
}

func (ch *channel) principalNow() *Principal {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.principal
}

func (ch *channel) setPrincipal(p *Principal) {
	ch.mu.Lock()
	ch.principal = p
	ch.mu.Unlock()
}

func (ch *channel) expired(now time.Time) bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.principal != nil && !ch.principal.ExpiresAt.IsZero() && !now.Before(ch.principal.ExpiresAt)
}

func (ch *channel) isClosed() bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.closed
}

func (ch *channel) close() {
	ch.mu.Lock()
	ch.closed = true
	ch.pending = nil
	ch.mu.Unlock()
}

// deliver sends a live publication, or holds it while the join's replay is
// being sent. Publications already sent (by offset) are dropped.
func (ch *channel) deliver(p Publication, f *pubFrames) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.closed {
		return
	}
	if ch.syncing {
		if len(ch.pending) >= ch.conn.h.o.sendQueue {
			ch.closed = true
			ch.pending = nil
			ch.conn.h.slowConsumers.Add(1)
			count(ch.conn.h.met.slowConsumers, attrReason.String(reasonReplayBacklog))
			ch.conn.abort(websocket.StatusPolicyViolation, "slow consumer: too much to replay")
			return
		}
		ch.pending = append(ch.pending, p)
		return
	}
	ch.sendLocked(p, f.get(ch.conn.vsn), false)
}

// sendLocked sends p unless it was sent already; ch.mu is held.
func (ch *channel) sendLocked(p Publication, f outFrame, replayed bool) {
	if p.Epoch == ch.epoch && p.Offset <= ch.last {
		return
	}
	ch.epoch, ch.last = p.Epoch, p.Offset
	if p.Origin != "" && p.Origin == ch.origin && !ch.cfg.Broadcast.Self {
		return
	}
	if replayed {
		f = encodePublication(ch.conn.vsn, p, true)
	}
	ch.conn.send(f)
}

func (ch *channel) sendReplayIncomplete(why string) {
	ch.conn.sendText(protocol.Message{JoinRef: ch.joinRef, Topic: ch.wire, Event: protocol.EventSystem, Payload: systemJSON(protocol.SystemPayload{
		Extension: "broadcast", Status: "error", Code: protocol.CodeReplayIncomplete, Channel: ch.name,
		Message: "replay incomplete: " + why + "; reload the state",
	})})
}

// matchChange returns the ids of the bindings that select change.
func (ch *channel) matchChange(c protocol.PostgresChange) []int64 {
	var ids []int64
	for _, b := range ch.bindings {
		if matchBinding(b, c) {
			ids = append(ids, b.ID)
		}
	}
	return ids
}

// join handles phx_join.
func (c *conn) join(ctx context.Context, m protocol.Message) {
	if !c.joinLimit.AllowN(c.h.o.clock.Now(), 1) {
		c.h.met.join(outcomeError, reasonRateLimited)
		c.replyError(m, "rate limit exceeded: too many joins")
		return
	}
	name := protocol.TopicName(m.Topic)
	if !strings.HasPrefix(m.Topic, protocol.TopicPrefix) || validateTopic(name) != nil {
		c.h.met.join(outcomeError, reasonInvalid)
		c.replyError(m, fmt.Sprintf("topic %q must be \"realtime:<name>\" with a name of 1 to 200 characters", m.Topic))
		return
	}
	var jp protocol.JoinPayload
	if err := json.Unmarshal(m.Payload, &jp); err != nil {
		c.h.met.join(outcomeError, reasonInvalid)
		c.replyError(m, "join payload: "+err.Error())
		return
	}
	bindings, err := checkBindings(jp.Config.PostgresChanges)
	if err != nil {
		c.h.met.join(outcomeError, reasonInvalid)
		c.replyError(m, err.Error())
		return
	}
	if key := jp.Config.Presence.Key; c.h.o.clientPresenceKeys && len(key) > maxPresenceKey {
		c.h.met.join(outcomeError, reasonInvalid)
		c.replyError(m, fmt.Sprintf("config.presence.key is %d bytes, the limit is %d", len(key), maxPresenceKey))
		return
	}
	c.mu.Lock()
	old := c.channels[m.Topic]
	if old == nil && len(c.channels) >= c.h.o.maxChannels {
		c.mu.Unlock()
		c.h.met.join(outcomeError, reasonTooManyChannels)
		c.replyError(m, fmt.Sprintf("too many channels on this connection (max %d)", c.h.o.maxChannels))
		return
	}
	c.mu.Unlock()
	token := jp.AccessToken
	if token == "" {
		token = c.token
	}
	p, err := c.authorize(ctx, token, name)
	if err != nil {
		c.h.met.joinRefused(err)
		c.replyError(m, "Unauthorized: "+err.Error())
		return
	}
	c.h.met.join(outcomeOK, "")
	if old != nil {
		// A second join of the same topic replaces the first, as Phoenix.
		c.mu.Lock()
		delete(c.channels, m.Topic)
		c.mu.Unlock()
		old.close()
		c.h.removeChannel(old)
	}
	c.nextRef++
	ch := &channel{
		conn: c, name: name, wire: m.Topic, joinRef: m.JoinRef, cfg: jp.Config, bindings: bindings,
		principal: p, syncing: true,
		origin: c.h.instance + ":" + strconv.FormatUint(c.id, 10) + ":" + strconv.FormatUint(c.nextRef, 10),
	}
	if ch.joinRef == "" {
		ch.joinRef = m.Ref
	}
	ch.presKey = presenceKey(p, token)
	if key := jp.Config.Presence.Key; key != "" && c.h.o.clientPresenceKeys {
		ch.presKey = key
	}
	// The topic's position, read before the channel is registered: a
	// publication in between shows as a gap at the next one, which the hub
	// fills from history.
	var pos HistoryResult
	if c.h.lookupTopic(name) == nil {
		hctx, cancel := context.WithTimeout(ctx, historyTimeout)
		pos, _ = c.h.broker.History(hctx, name, HistoryQuery{Since: c.h.o.clock.Now(), Limit: 1})
		cancel()
	}
	c.h.addChannel(ch, func() {
		t := ch.topic
		if t.epoch == "" && pos.Epoch != "" {
			t.epoch, t.last = pos.Epoch, pos.Latest
		}
		resp := protocol.JoinResponse{PostgresChanges: bindings}
		if t.epoch != "" {
			// Everything after the topic's last delivery reaches this
			// channel: that is the client's cursor.
			resp.Broadcast = &protocol.BroadcastCursor{Epoch: t.epoch, Offset: t.last}
		}
		// On the socket before the reply: once the client holds the
		// reply, the sweep (conn.check) sees the channel and closes it
		// when its token expires. Registered after the reply, a sweep in
		// between skipped the channel until the next one.
		c.mu.Lock()
		c.channels[m.Topic] = ch
		c.mu.Unlock()
		c.replyOK(m, resp)
	})
	if jp.Config.Presence.Enabled || jp.Config.Presence.Key != "" {
		if c.h.shared != nil {
			pctx, cancel := context.WithTimeout(ctx, presenceTimeout)
			c.h.presenceReady(pctx, ch.topic)
			cancel()
		}
		c.sendPresence(protocol.EncodeText(c.vsn, protocol.Message{JoinRef: ch.joinRef, Topic: ch.wire, Event: protocol.EventPresenceState, Payload: ch.topic.presenceJSON()}))
	}
	if len(bindings) > 0 {
		c.sendText(protocol.Message{JoinRef: ch.joinRef, Topic: ch.wire, Event: protocol.EventSystem, Payload: systemJSON(protocol.SystemPayload{
			Extension: "postgres_changes", Status: "ok", Message: "Subscribed to PostgreSQL", Channel: name})})
	}
	c.replay(ctx, ch, jp.Config.Broadcast.Replay)
}

// replay sends the history a join asked for, then the live publications
// held meanwhile, and makes the channel live. It never sends part of a
// history: when the broker cannot prove it has everything since the moment
// asked for, the client is told to reload instead.
func (c *conn) replay(ctx context.Context, ch *channel, r *protocol.ReplayConfig) {
	var res HistoryResult
	complete := false
	if r != nil {
		limit := c.h.o.replayLimit
		if r.Limit > 0 && r.Limit < limit {
			limit = r.Limit
		}
		var err error
		q := HistoryQuery{Since: time.UnixMilli(r.Since), Limit: limit}
		mode := "since"
		if r.Epoch != "" {
			q = HistoryQuery{Epoch: r.Epoch, After: r.After, Limit: limit}
			mode = "offset"
		}
		sctx, span := c.h.met.tracer.Start(ctx, spanReplay, trace.WithAttributes(
			semconv.MessagingSystemKey.String(messagingSystem), semconv.MessagingDestinationName(ch.name),
			attribute.String("wedsync.realtime.replay.mode", mode), attribute.Int("wedsync.realtime.replay.limit", limit)))
		// Bounded: a stuck database must not hold this socket's reader.
		hctx, cancel := context.WithTimeout(sctx, historyTimeout)
		res, err = c.h.broker.History(hctx, ch.name, q)
		cancel()
		outcome := outcomeComplete
		switch {
		case err != nil:
			outcome = outcomeError
			c.h.o.logger.Warn("realtime: history read failed", "topic", ch.name, "err", err)
			ch.sendReplayIncomplete("the history could not be read")
		case !res.Complete:
			outcome = outcomeIncomplete
			ch.sendReplayIncomplete("the history no longer reaches back to since")
		default:
			complete = true
			span.SetAttributes(attrCount.Int(len(res.Publications)))
		}
		count(c.h.met.replays, attrOutcome.String(outcome))
		span.SetAttributes(attrOutcome.String(outcome))
		endSpan(span, err)
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.closed {
		return
	}
	if complete {
		for _, p := range res.Publications {
			ch.sendLocked(p, outFrame{}, true)
		}
		if res.Epoch != "" && ch.epoch == "" {
			ch.epoch, ch.last = res.Epoch, res.Latest
		}
		ch.conn.sendText(protocol.Message{JoinRef: ch.joinRef, Topic: ch.wire, Event: protocol.EventSystem, Payload: systemJSON(protocol.SystemPayload{
			Extension: "broadcast", Status: "ok", Code: protocol.CodeReplayComplete, Channel: ch.name,
			Message: fmt.Sprintf("replayed %d broadcasts", len(res.Publications))})})
	}
	for _, p := range ch.pending {
		ch.sendLocked(p, encodePublication(c.vsn, p, false), false)
	}
	ch.pending = nil
	ch.syncing = false
}

// historyTimeout bounds the history read of a join's replay.
const historyTimeout = 10 * time.Second

// maxPresenceMeta caps one presence payload, as the client sent it and as
// the hub sends it (marshalPresence): it is sent to every socket on the
// topic, and in every joiner's presence_state.
const maxPresenceMeta = 4 << 10

// marshalPresence encodes a presence payload (a diff, a state, a meta) as
// it goes to sockets. encoding/json's HTML escaping is off: with it, a
// meta of "<" grew sixfold (each one became \u003c), past the bound that
// maxPresenceMeta sets on the fan-out. Even so a meta may grow (a key of
// U+2028 is re-encoded as the 6-byte \u2028, invalid UTF-8 as U+FFFD), so
// the cap is checked on this encoding too.
func marshalPresence(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// maxPresenceKey caps a presence key, which travels with every meta: a
// longer subject is hashed, a longer client key (WithClientPresenceKeys)
// refused.
const maxPresenceKey = 200

// presenceKey is the key a channel of principal p is tracked under: the
// token's subject, as Phoenix presence keys a user; a hash of it when it
// is longer than maxPresenceKey; a hash of the token when there is no
// subject (so that sockets of one token still share a key).
func presenceKey(p *Principal, token string) string {
	if p.Subject != "" && len(p.Subject) <= maxPresenceKey {
		return p.Subject
	}
	what, prefix := token, "token-"
	if p.Subject != "" {
		what, prefix = p.Subject, "subject-"
	}
	sum := sha256.Sum256([]byte(what))
	return prefix + hex.EncodeToString(sum[:12])
}

// checkBindings validates postgres_changes bindings and numbers them.
func checkBindings(in []protocol.PostgresChangeFilter) ([]protocol.PostgresChangeFilter, error) {
	out := make([]protocol.PostgresChangeFilter, 0, len(in))
	for i, b := range in {
		switch strings.ToUpper(b.Event) {
		case "*", "INSERT", "UPDATE", "DELETE":
			// Echoed as sent: realtime-js checks the reply's bindings
			// against its own, letter for letter.
		default:
			return nil, fmt.Errorf("postgres_changes[%d].event %q must be *, INSERT, UPDATE or DELETE", i, b.Event)
		}
		if b.Schema == "" {
			return nil, fmt.Errorf("postgres_changes[%d].schema is required", i)
		}
		if b.Filter != "" {
			if _, _, _, err := parseFilter(b.Filter); err != nil {
				return nil, fmt.Errorf("postgres_changes[%d].filter: %w", i, err)
			}
		}
		b.ID = int64(i + 1)
		out = append(out, b)
	}
	return out, nil
}

// presence handles track and untrack. A track is refused (an error reply,
// and nothing fanned out) over the socket's presence rate
// (WithPresenceRate) or, when the channel is not tracked yet, when the
// topic holds WithMaxPresencePerTopic metas already.
func (c *conn) presence(ch *channel, m protocol.Message) {
	var push protocol.PresencePush
	if err := json.Unmarshal(m.Payload, &push); err != nil {
		count(c.h.met.presenceRefused, attrReason.String(reasonInvalid))
		c.replyError(m, "presence: payload must be {type, event, payload}")
		return
	}
	t := ch.topic
	switch push.Event {
	case "track":
		if !c.presenceLimit.AllowN(c.h.o.clock.Now(), 1) {
			count(c.h.met.presenceRefused, attrReason.String(reasonRateLimited))
			c.replyError(m, fmt.Sprintf("presence rate limit exceeded: at most %g tracks a second, in bursts of %d", float64(c.h.o.presenceRate), c.h.o.presenceBurst))
			return
		}
		if len(push.Payload) > maxPresenceMeta {
			count(c.h.met.presenceRefused, attrReason.String(reasonTooLarge))
			c.replyError(m, fmt.Sprintf("presence: payload.payload is %d bytes, the limit is %d", len(push.Payload), maxPresenceMeta))
			return
		}
		meta := protocol.PresenceMeta{}
		if len(push.Payload) > 0 && string(push.Payload) != "null" {
			if err := json.Unmarshal(push.Payload, &meta); err != nil {
				count(c.h.met.presenceRefused, attrReason.String(reasonInvalid))
				c.replyError(m, "presence: payload.payload must be a JSON object")
				return
			}
		}
		if sent, err := marshalPresence(meta); err != nil || len(sent) > maxPresenceMeta {
			count(c.h.met.presenceRefused, attrReason.String(reasonTooLarge))
			c.replyError(m, fmt.Sprintf("presence: payload.payload is %d bytes as the hub sends it, the limit is %d", len(sent), maxPresenceMeta))
			return
		}
		ref, _ := json.Marshal(rand.Text()[:12])
		meta["phx_ref"] = ref
		if c.h.shared != nil {
			c.trackShared(ch, m, meta)
			return
		}
		t.mu.Lock()
		if _, member := t.chans[ch]; !member {
			// The channel left (or was closed) meanwhile: nothing to track.
			t.mu.Unlock()
			count(c.h.met.presenceRefused, attrReason.String(reasonClosed))
			c.replyError(m, "presence: the channel is closed")
			return
		}
		if _, tracked := t.presence[ch.presKey][ch.origin]; !tracked && t.metas >= c.h.o.maxPresence {
			t.mu.Unlock()
			count(c.h.met.presenceRefused, attrReason.String(reasonTopicFull))
			c.replyError(m, fmt.Sprintf("presence is full: this topic tracks %d already, the limit", c.h.o.maxPresence))
			return
		}
		leaves := t.untrackLocked(ch)
		if t.presence[ch.presKey] == nil {
			t.presence[ch.presKey] = map[string]protocol.PresenceMeta{}
		}
		t.presence[ch.presKey][ch.origin] = meta
		t.metas++
		t.mu.Unlock()
		c.replyOK(m, struct{}{})
		c.h.sendPresenceDiff(t, protocol.PresenceState{ch.presKey: {Metas: []protocol.PresenceMeta{meta}}}, leaves)
	case "untrack":
		if c.h.shared != nil {
			c.untrackShared(ch, m)
			return
		}
		t.mu.Lock()
		leaves := t.untrackLocked(ch)
		t.mu.Unlock()
		c.replyOK(m, struct{}{})
		if leaves != nil {
			c.h.sendPresenceDiff(t, nil, leaves)
		}
	default:
		count(c.h.met.presenceRefused, attrReason.String(reasonInvalid))
		c.replyError(m, fmt.Sprintf("presence: event %q must be track or untrack", push.Event))
	}
}

// untrackLocked removes ch's presence and returns it as leaves; t.mu is held.
func (t *hubTopic) untrackLocked(ch *channel) protocol.PresenceState {
	metas := t.presence[ch.presKey]
	meta, ok := metas[ch.origin]
	if !ok {
		return nil
	}
	delete(metas, ch.origin)
	t.metas--
	if len(metas) == 0 {
		delete(t.presence, ch.presKey)
	}
	return protocol.PresenceState{ch.presKey: {Metas: []protocol.PresenceMeta{meta}}}
}

func (t *hubTopic) presenceJSON() json.RawMessage {
	t.mu.Lock()
	defer t.mu.Unlock()
	state := protocol.PresenceState{}
	for key, metas := range t.presence {
		e := protocol.PresenceEntry{}
		for _, m := range metas {
			e.Metas = append(e.Metas, m)
		}
		state[key] = e
	}
	b, _ := marshalPresence(state)
	return b
}

// sendPresenceDiff sends a presence_diff to every channel of t, encoded
// once per serializer.
func (h *Hub) sendPresenceDiff(t *hubTopic, joins, leaves protocol.PresenceState) {
	if joins == nil {
		joins = protocol.PresenceState{}
	}
	if leaves == nil {
		leaves = protocol.PresenceState{}
	}
	body, _ := marshalPresence(protocol.PresenceDiff{Joins: joins, Leaves: leaves})
	t.mu.Lock()
	chans := make([]*channel, 0, len(t.chans))
	for ch := range t.chans {
		chans = append(chans, ch)
	}
	t.mu.Unlock()
	var frames [2][]byte // vsn 1.0.0, vsn 2.0.0
	for _, ch := range chans {
		i := 0
		if ch.conn.vsn == protocol.VSN2 {
			i = 1
		}
		if frames[i] == nil {
			frames[i] = protocol.EncodeText(ch.conn.vsn, protocol.Message{Topic: ch.wire, Event: protocol.EventPresenceDiff, Payload: body})
		}
		ch.conn.sendPresence(frames[i])
	}
}
