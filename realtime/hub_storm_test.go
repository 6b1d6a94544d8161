package realtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/protocol"
)

// stormOpts lift the per-principal and per-IP socket caps, so that one
// test can open hundreds of sockets, and keep the send buffer small, so
// that a hub that cut readers for its own backlog would do so within a
// few hundred broadcasts.
func stormOpts(extra ...realtime.Option) []realtime.Option {
	return append([]realtime.Option{realtime.WithMaxConnectionsPerPrincipal(0), realtime.WithMaxConnectionsPerIP(0),
		realtime.WithSendBuffer(64, 1<<20)}, extra...)
}

// readUntil reads broadcasts until one with event end, checking that their
// offsets run 1, 2, 3... without a gap; it returns how many it read before
// end. It reports problems as errors: it runs on its own goroutine.
func (p *peer) readUntil(end string) (int, error) {
	var want uint64 = 1
	for {
		m, err := p.tryRead(2 * time.Minute)
		if err != nil {
			return int(want - 1), fmt.Errorf("after offset %d: %w", want-1, err)
		}
		if m.Event != protocol.EventBroadcast {
			continue
		}
		var b protocol.BroadcastPayload
		if err := json.Unmarshal(m.Payload, &b); err != nil {
			return int(want - 1), err
		}
		if b.Meta == nil || b.Meta.Offset != want {
			return int(want - 1), fmt.Errorf("got %+v, want offset %d", b.Meta, want)
		}
		if b.Event == end {
			return int(want - 1), nil
		}
		want++
	}
}

// A publisher in a tight loop to a topic of 200 readers that read: the hub
// cannot write as fast as Broadcast queues, so Broadcast waits for it, and
// no reader is cut; every reader gets every broadcast, in order.
//
// The readers run in this process, so a machine short of CPU (a parallel
// race-enabled run) can starve them for a second while their sockets are
// full: they do not keep up then, and the default one-second blocked write
// would rightly cut them. A minute takes that rule out of play here, so
// what keeps the readers connected is Broadcast waiting: without it, the
// queues pass four times the 64-frame buffer within the 300 broadcasts.
func TestHubStormReadersThatKeepUpAreNotCut(t *testing.T) {
	env := newHubEnv(t, stormOpts(realtime.WithSlowConsumer(time.Minute, 4))...)
	const readers, n = 200, 300
	peers := make([]*peer, readers)
	for i := range peers {
		peers[i] = dialPeer(t, env.url, "sup:1", protocol.VSN1)
		peers[i].mustJoin("supplier:1", joinPayload)
	}
	results := make(chan error, readers)
	for _, p := range peers {
		go func() {
			got, err := p.readUntil("end")
			if err == nil && got != n {
				err = fmt.Errorf("read %d broadcasts before the end, want %d", got, n)
			}
			results <- err
		}()
	}
	ctx, cancel := context.WithTimeout(ctxBG, 2*time.Minute)
	defer cancel()
	payload := json.RawMessage(`{"note":"` + strings.Repeat("x", 200) + `"}`)
	for i := range n {
		_, err := env.hub.Broadcast(ctx, "supplier:1", "storm", payload)
		require.NoError(t, err, "broadcast %d", i)
	}
	_, err := env.hub.Broadcast(ctx, "supplier:1", "end", nil)
	require.NoError(t, err)
	for range readers {
		require.NoError(t, <-results)
	}
	require.Zero(t, env.hub.Stats().SlowConsumers, "no reader that keeps up is cut")
}

// Among readers that read, one that stops reading is cut (close 1008, or
// dropped when its pipe stays full), and only it: Broadcast does not wait
// for a minority that lags.
//
// As in the test above, the one-second blocked-write rule is out of play
// (TestSlowConsumerFollowsItsOption covers it): beside other packages'
// tests, it cut a reader that reads but was starved of CPU, 3 runs in 4.
// The reader that stops is cut at four times its send buffer.
func TestHubStormCutsOnlyTheReaderThatStops(t *testing.T) {
	env := newHubEnv(t, stormOpts(realtime.WithSlowConsumer(time.Minute, 4))...)
	const readers = 20
	stuck := dialPeer(t, env.url, "sup:1", protocol.VSN1)
	stuck.mustJoin("supplier:1", joinPayload)
	type result struct {
		n   int
		err error
	}
	results := make(chan result, readers)
	for range readers {
		p := dialPeer(t, env.url, "sup:1", protocol.VSN1)
		p.mustJoin("supplier:1", joinPayload)
		go func() {
			n, err := p.readUntil("end")
			results <- result{n, err}
		}()
	}
	// 16 KiB a broadcast: the stuck socket's kernel buffers fill, then its
	// send buffer of 1 MiB.
	payload := json.RawMessage(`{"blob":"` + strings.Repeat("x", 16<<10) + `"}`)
	ctx, cancel := context.WithTimeout(ctxBG, 2*time.Minute)
	defer cancel()
	sent := 0
	for env.hub.Stats().SlowConsumers == 0 {
		require.Less(t, sent, 20000, "the reader that stopped was not cut after %d broadcasts", sent)
		_, err := env.hub.Broadcast(ctx, "supplier:1", "blob", payload)
		require.NoError(t, err, "broadcast %d", sent)
		sent++
	}
	for range 10 { // the others still get what follows
		_, err := env.hub.Broadcast(ctx, "supplier:1", "blob", payload)
		require.NoError(t, err)
		sent++
	}
	_, err := env.hub.Broadcast(ctx, "supplier:1", "end", nil)
	require.NoError(t, err)
	for range readers {
		r := <-results
		require.NoError(t, r.err)
		require.Equal(t, sent, r.n)
	}
	require.Equal(t, int64(1), env.hub.Stats().SlowConsumers, "only the reader that stopped is cut")
	for err == nil {
		_, err = stuck.tryRead(time.Minute)
	}
	require.NotErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, []websocket.StatusCode{websocket.StatusPolicyViolation, -1}, closeStatus(err), "%v", err)
}

// When most of a topic's sockets are behind and stay behind (here: none
// of them reads), Broadcast waits, and returns ErrHubBusy, wrapping the
// context's error, when its context ends; nothing is published then, and
// no socket was cut for the hub's backlog.
func TestHubBroadcastBusyWhenTheFanOutStalls(t *testing.T) {
	// Send buffers of 64 MiB: a socket is behind at 8 MiB, well before it
	// could be cut, whatever its kernel buffers hold.
	env := newHubEnv(t, stormOpts(realtime.WithSendBuffer(1024, 64<<20))...)
	for range 2 {
		p := dialPeer(t, env.url, "sup:1", protocol.VSN1)
		p.mustJoin("supplier:1", joinPayload)
	}
	payload := json.RawMessage(`{"blob":"` + strings.Repeat("x", 64<<10) + `"}`)
	var err error
	published := 0
	for err == nil {
		require.Less(t, published, 1024, "Broadcast never waited")
		ctx, cancel := context.WithTimeout(ctxBG, 100*time.Millisecond)
		_, err = env.hub.Broadcast(ctx, "supplier:1", "blob", payload)
		cancel()
		if err == nil {
			published++
		}
	}
	require.ErrorIs(t, err, realtime.ErrHubBusy)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), `2 of the 2 sockets on topic "supplier:1"`)
	require.Equal(t, int64(published), env.hub.Stats().Published, "the refused broadcast was not published")
	require.Zero(t, env.hub.Stats().SlowConsumers)
	require.False(t, errors.Is(err, realtime.ErrHubClosed))
}
