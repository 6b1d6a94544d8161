package realtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrHubBusy is returned, wrapping the context's error, by a Broadcast
// whose context ended while it waited for the hub to catch up: most of the
// topic's sockets on this instance still had a backlog of frames to write
// (see Hub.Broadcast). Nothing was published; the caller may try again, or
// slow down.
var ErrHubBusy = errors.New("realtime: hub busy: most of the topic's sockets are behind on their writes")

// admission holds Broadcast back while the hub is behind on a topic.
//
// A socket is behind while its frames queued and not yet written reach an
// eighth of its send buffer (WithSendBuffer: frames or bytes). When most of
// a topic's sockets are behind at once, the readers are not all slow: the
// hub is (its writers have more frames than they can write), and cutting
// them as slow consumers would punish readers that keep up. So Broadcast
// waits until at most half of the topic's sockets are behind. A socket
// that lags while the others keep up never holds Broadcast back: its send
// buffer fills and it is cut (close 1008) as before.
type admission struct {
	// behind counts the sockets that are behind; recovered counts the
	// times a socket stopped being behind (caught up, or closed). A
	// waiting Broadcast rescans its topic only once recovered has moved by
	// as many sockets as must recover, so a storm costs it one scan per
	// many recoveries, not one per recovery.
	behind    atomic.Int64
	recovered atomic.Int64
	waiters   atomic.Int64

	mu   sync.Mutex
	wake chan struct{} // closed (and replaced) when a socket recovers while someone waits
}

func (a *admission) init() { a.wake = make(chan struct{}) }

// recover records a socket that stopped being behind and wakes the waiting
// Broadcasts. The counter is raised before waiters is read, and a waiter
// registers before it reads the counter, so no wake-up is lost.
func (a *admission) recover() {
	a.behind.Add(-1)
	a.recovered.Add(1)
	if a.waiters.Load() == 0 {
		return
	}
	a.mu.Lock()
	close(a.wake)
	a.wake = make(chan struct{})
	a.mu.Unlock()
}

// lagMarks are the backlog, in frames and bytes, at which a socket is
// behind: an eighth of its send buffer, at least one frame or byte.
func (h *Hub) lagMarks() (frames, bytes int) {
	return max(1, h.o.sendQueue/8), max(1, h.o.sendQueueBytes/8)
}

// setPendingLocked sets the socket's count of frames and bytes not yet
// written, and whether it is behind; c.qmu is held.
func (c *conn) setPendingLocked(n, b int) {
	c.pendN, c.pendB = n, b
	mf, mb := c.h.lagMarks()
	behind := n >= mf || b >= mb
	if behind == c.behind.Load() {
		return
	}
	c.behind.Store(behind)
	if behind {
		c.h.admit.behind.Add(1)
	} else {
		c.h.admit.recover()
	}
}

// laggingChannels counts the channels of topic on this instance, and those
// whose socket is behind. A socket joined twice to the topic (under two
// wire names) counts twice.
func (h *Hub) laggingChannels(topic string) (behind, total int) {
	t := h.lookupTopic(topic)
	if t == nil {
		return 0, 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for ch := range t.chans {
		total++
		if ch.conn.behind.Load() {
			behind++
		}
	}
	return behind, total
}

// waitAdmission returns once at most half of topic's channels on this
// instance are behind (at once, when no socket of the hub is behind), or
// with ErrHubBusy when ctx ends first, or ErrHubClosed when the hub
// closes. A topic with a single channel never waits: one socket behind
// alone is a slow reader, not a busy hub.
func (h *Hub) waitAdmission(ctx context.Context, topic string) error {
	a := &h.admit
	for {
		if a.behind.Load() == 0 {
			return nil
		}
		seen := a.recovered.Load()
		behind, total := h.laggingChannels(topic)
		if total < 2 || behind*2 <= total {
			return nil
		}
		target := seen + int64(behind-total/2)
		if err := a.waitRecovered(ctx, h.ctx, target); err != nil {
			if h.ctx.Err() != nil && ctx.Err() == nil {
				return ErrHubClosed
			}
			return fmt.Errorf("%w: %d of the %d sockets on topic %q have not caught up: %w", ErrHubBusy, behind, total, topic, err)
		}
	}
}

// waitRecovered waits until recovered reaches target, or ctx or hubCtx
// ends.
func (a *admission) waitRecovered(ctx, hubCtx context.Context, target int64) error {
	a.waiters.Add(1)
	defer a.waiters.Add(-1)
	for {
		a.mu.Lock()
		wake := a.wake
		a.mu.Unlock()
		if a.recovered.Load() >= target {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-hubCtx.Done():
			return hubCtx.Err()
		}
	}
}

// overLocked reports whether queueing a frame of n bytes makes the socket
// a slow consumer; c.qmu is held. A queue past the send buffer is the
// reader's fault when the socket's write has been blocked for the hub's
// blockedWrite (it does not read fast enough); otherwise the hub's writers
// are behind (a storm, or the writer waiting for a CPU) and the queue may
// grow to overflow times the buffer, while Broadcast holds publishers back
// (waitAdmission). Both are WithSlowConsumer's.
func (c *conn) overLocked(n int) bool {
	frames, bytes := len(c.queue)+1, c.qbytes+n
	o := &c.h.o
	if frames <= o.sendQueue && bytes <= o.sendQueueBytes {
		return false
	}
	if frames > o.overflow*o.sendQueue || bytes > o.overflow*o.sendQueueBytes {
		return true
	}
	since := c.writeSince.Load()
	return since != 0 && time.Since(time.Unix(0, since)) >= o.blockedWrite
}
