package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/loop"
	"github.com/wedsync/integrations/realtime/protocol"
)

// Shared presence: with a PresenceBroker, a topic's presence lives in the
// broker, for every instance. Each hub instance keeps a mirror of it in
// hubTopic.presence for the topics its sockets need it for (a join with
// presence enabled, or a track), loaded on first need with one read of
// the topic's members and kept in step by the broker's hints: a hint names
// members that may have changed, the topic's sync goroutine reads them
// back and sends the difference to the topic's channels as presence_diff.
// Reads happen one after the other, each seeing the store as it is then,
// so the mirror only moves forward, and every channel gets the diffs in
// the order they were made. Tracks and untracks of this instance take the
// same path: written to the broker, shown when the hint comes back.

// presenceTimeout bounds one presence call to the broker (a track, an
// untrack, a read) and a join's wait for its topic's first read.
const presenceTimeout = 10 * time.Second

// maxDirtyPresence caps the members a topic remembers to read back; past
// it, the next read is of the whole topic.
const maxDirtyPresence = 10000

// sharedPresence is a topic's presence mirror state; hubTopic.mu guards it.
type sharedPresence struct {
	ready   chan struct{} // closed once the first read of the whole topic is in
	loaded  bool
	all     bool                // the whole topic is to be read again
	dirty   map[string]struct{} // members to read again
	syncing bool                // the topic's sync goroutine runs
	keyOf   map[string]string   // member id -> its key in hubTopic.presence
}

// presenceReady starts t's shared presence when nothing needed it yet and
// waits, within ctx, for its first read: what a joiner's presence_state
// and the per-topic cap count. When ctx ends first (the broker is away)
// the caller goes on with what the mirror has; the read carries on, and
// what it brings reaches the channels as a diff.
func (h *Hub) presenceReady(ctx context.Context, t *hubTopic) {
	t.mu.Lock()
	if t.dead {
		t.mu.Unlock()
		return
	}
	sp := t.shared
	if sp == nil {
		sp = &sharedPresence{ready: make(chan struct{}), all: true, dirty: map[string]struct{}{}, keyOf: map[string]string{}}
		t.shared = sp
		h.startPresenceSyncLocked(t)
	}
	t.mu.Unlock()
	select {
	case <-sp.ready:
	case <-ctx.Done():
	}
}

// onPresence is the broker's hint that members of topic (any, when ids is
// empty) may have changed. Topics whose presence nobody here needs are
// not read.
func (h *Hub) onPresence(topic string, ids []string) {
	t := h.lookupTopic(topic)
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	h.markPresenceLocked(t, ids)
}

// markPresenceLocked notes that members ids of t (all, when empty) are to
// be read again, and starts the sync; t.mu is held.
func (h *Hub) markPresenceLocked(t *hubTopic, ids []string) {
	sp := t.shared
	if sp == nil || t.dead {
		return
	}
	if len(ids) == 0 || len(sp.dirty)+len(ids) > maxDirtyPresence {
		sp.all = true
		clear(sp.dirty)
	} else if !sp.all {
		for _, id := range ids {
			sp.dirty[id] = struct{}{}
		}
	}
	h.startPresenceSyncLocked(t)
}

// resyncPresence reads the whole presence of every topic that has it
// again: the broker's hints may have been missed.
func (h *Hub) resyncPresence() {
	for _, t := range h.topicList() {
		t.mu.Lock()
		h.markPresenceLocked(t, nil)
		t.mu.Unlock()
	}
}

// topicList returns the topics with sockets on this instance.
func (h *Hub) topicList() []*hubTopic {
	h.mu.Lock()
	defer h.mu.Unlock()
	topics := make([]*hubTopic, 0, len(h.topics))
	for _, t := range h.topics {
		topics = append(topics, t)
	}
	return topics
}

// startPresenceSyncLocked starts t's sync goroutine unless it runs; t.mu
// is held.
func (h *Hub) startPresenceSyncLocked(t *hubTopic) {
	if t.shared.syncing || t.dead {
		return
	}
	// bgMu orders this Add before Close's Wait, as in startResyncLocked.
	h.bgMu.Lock()
	defer h.bgMu.Unlock()
	if h.bgClosed {
		return
	}
	t.shared.syncing = true
	h.wg.Add(1)
	go h.syncPresence(t)
}

// syncPresence reads back what t's hints named, round after round, until
// no hint is pending, and sends each round's difference to t's channels.
// A failed read is retried with backoff: the mirror stays as it was.
func (h *Hub) syncPresence(t *hubTopic) {
	defer h.wg.Done()
	retry := backoff.Exponential{Base: 100 * time.Millisecond, Max: 10 * time.Second}
	failures := 0
	stop := func() {
		t.mu.Lock()
		t.shared.syncing = false
		t.mu.Unlock()
	}
	for {
		t.mu.Lock()
		sp := t.shared
		if t.dead || (!sp.all && len(sp.dirty) == 0) {
			sp.syncing = false
			t.mu.Unlock()
			return
		}
		all := sp.all
		var ids []string
		if !all {
			ids = make([]string, 0, len(sp.dirty))
			for id := range sp.dirty {
				ids = append(ids, id)
			}
		}
		sp.all = false
		clear(sp.dirty)
		t.mu.Unlock()

		ctx, cancel := context.WithTimeout(h.ctx, presenceTimeout)
		members, err := h.shared.Presence(ctx, t.name, ids...)
		cancel()
		if err != nil {
			if h.ctx.Err() != nil {
				stop()
				return
			}
			t.mu.Lock()
			h.markPresenceLocked(t, ids) // read them again (syncing: no new goroutine)
			t.mu.Unlock()
			wait := retry.FullJitter(failures)
			failures++
			h.o.logger.Warn("realtime: reading presence from the broker failed; retrying", "topic", t.name, "err", err, "in", wait)
			if loop.Sleep(h.ctx, h.o.clock, wait) != nil {
				stop()
				return
			}
			continue
		}
		failures = 0
		t.mu.Lock()
		joins, leaves := t.applyPresenceLocked(h, members, all, ids)
		if all && !sp.loaded {
			sp.loaded = true
			close(sp.ready)
		}
		t.mu.Unlock()
		if len(joins) > 0 || len(leaves) > 0 {
			h.sendPresenceDiff(t, joins, leaves)
		}
	}
}

// applyPresenceLocked brings the mirror in line with members, what the
// broker holds now of the whole topic (all) or of ids, and returns the
// difference; t.mu is held.
func (t *hubTopic) applyPresenceLocked(h *Hub, members []PresenceMember, all bool, ids []string) (joins, leaves protocol.PresenceState) {
	sp := t.shared
	joins, leaves = protocol.PresenceState{}, protocol.PresenceState{}
	seen := make(map[string]struct{}, len(members))
	add := func(s protocol.PresenceState, key string, meta protocol.PresenceMeta) {
		e := s[key]
		e.Metas = append(e.Metas, meta)
		s[key] = e
	}
	remove := func(id string) {
		key, ok := sp.keyOf[id]
		if !ok {
			return
		}
		metas := t.presence[key]
		add(leaves, key, metas[id])
		delete(metas, id)
		if len(metas) == 0 {
			delete(t.presence, key)
		}
		delete(sp.keyOf, id)
		t.metas--
	}
	for _, m := range members {
		if m.Topic != "" && m.Topic != t.name {
			continue
		}
		var meta protocol.PresenceMeta
		if err := json.Unmarshal(m.Meta, &meta); err != nil || meta == nil || len(m.Key) > maxPresenceKey {
			h.o.logger.Warn("realtime: ignoring a presence member the broker holds: its meta is not a JSON object or its key is too long", "topic", t.name)
			continue
		}
		seen[m.ID] = struct{}{}
		if key, ok := sp.keyOf[m.ID]; ok {
			if key == m.Key && sameMeta(t.presence[key][m.ID], meta) {
				continue
			}
			remove(m.ID)
		}
		if t.presence[m.Key] == nil {
			t.presence[m.Key] = map[string]protocol.PresenceMeta{}
		}
		t.presence[m.Key][m.ID] = meta
		sp.keyOf[m.ID] = m.Key
		t.metas++
		add(joins, m.Key, meta)
	}
	if all {
		for id := range sp.keyOf { // remove deletes as the range goes: allowed
			if _, ok := seen[id]; !ok {
				remove(id)
			}
		}
	} else {
		for _, id := range ids {
			if _, ok := seen[id]; !ok {
				remove(id)
			}
		}
	}
	return joins, leaves
}

// sameMeta reports whether two metas are the same, field for field.
func sameMeta(a, b protocol.PresenceMeta) bool {
	return maps.EqualFunc(a, b, func(x, y json.RawMessage) bool { return bytes.Equal(x, y) })
}

// trackShared handles a track with a PresenceBroker: the cap is checked
// against the topic's members on every instance (as last read), the member
// is written to the broker, and the diff reaches the channels (this one
// included) when the broker's hint comes back.
func (c *conn) trackShared(ch *channel, m protocol.Message, meta protocol.PresenceMeta) {
	t := ch.topic
	ctx, cancel := context.WithTimeout(c.ctx, presenceTimeout)
	defer cancel()
	c.h.presenceReady(ctx, t)
	ch.presMu.Lock()
	defer ch.presMu.Unlock()
	if ch.isClosed() {
		count(c.h.met.presenceRefused, attrReason.String(reasonClosed))
		c.replyError(m, "presence: the channel is closed")
		return
	}
	t.mu.Lock()
	full := !ch.tracked && t.metas >= c.h.o.maxPresence
	t.mu.Unlock()
	if full {
		count(c.h.met.presenceRefused, attrReason.String(reasonTopicFull))
		c.replyError(m, fmt.Sprintf("presence is full: this topic tracks %d already, the limit", c.h.o.maxPresence))
		return
	}
	raw, _ := marshalPresence(meta) // checked by the caller
	ch.maybeTracked.Store(true)
	err := c.h.shared.Track(ctx, PresenceMember{Topic: ch.name, Key: ch.presKey, ID: ch.origin, Meta: raw})
	if err != nil {
		count(c.h.met.presenceRefused, attrReason.String(reasonUnavailable))
		c.h.o.logger.Warn("realtime: storing a presence track in the broker failed", "topic", ch.name, "err", err)
		c.replyError(m, "presence: the track could not be shared with the other instances; try again")
		return
	}
	ch.tracked = true
	c.replyOK(m, struct{}{})
}

// untrackShared handles an untrack with a PresenceBroker. A failed
// untrack is still answered ok: the broker has forgotten the member and
// removes it when it can (see PresenceBroker), and it is logged.
func (c *conn) untrackShared(ch *channel, m protocol.Message) {
	ch.presMu.Lock()
	defer ch.presMu.Unlock()
	c.h.untrackSharedLocked(c.ctx, ch, "realtime: removing a presence member from the broker failed")
	c.replyOK(m, struct{}{})
}

// untrackSharedLocked removes ch's member from the broker, if it is
// there, within presenceTimeout of parent; a failure is logged with msg.
// ch.presMu is held.
func (h *Hub) untrackSharedLocked(parent context.Context, ch *channel, msg string) {
	if !ch.tracked {
		return
	}
	ctx, cancel := context.WithTimeout(parent, presenceTimeout)
	err := h.shared.Untrack(ctx, ch.name, ch.origin)
	cancel()
	if err != nil {
		h.o.logger.Warn(msg, "topic", ch.name, "err", err)
	}
	ch.tracked = false
}

// untrackSharedLater removes a leaving channel's member from the broker,
// on a goroutine of the hub: a channel may leave from the sweep (its token
// expired), which must not wait on the broker. presMu orders it after a
// track in flight. A hub shutting down still untracks (the leaves reach
// the other instances) unless Shutdown's context ends first.
func (h *Hub) untrackSharedLater(ch *channel) {
	if !ch.maybeTracked.Load() {
		return
	}
	h.bgMu.Lock()
	defer h.bgMu.Unlock()
	if h.bgClosed {
		return // the broker's TTL, or its Close, removes the member
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		ch.presMu.Lock()
		defer ch.presMu.Unlock()
		h.untrackSharedLocked(h.untrackCtx, ch, "realtime: removing a leaving channel's presence from the broker failed")
	}()
}
