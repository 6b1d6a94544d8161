package realtime_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/realtime"
)

// gapClient records what one dashboard saw.
type gapClient struct {
	progress *gapProgress
	mu       sync.Mutex
	segments [][]uint64 // offsets received, split where the hub said reload
	reloads  int
	replayed int
	done     chan struct{}
	closed   bool
}

func (g *gapClient) onBroadcast(total uint64) func(realtime.BroadcastMessage) {
	return func(m realtime.BroadcastMessage) {
		g.mu.Lock()
		defer g.mu.Unlock()
		last := len(g.segments) - 1
		g.segments[last] = append(g.segments[last], m.Meta.Offset)
		if m.Meta.Replayed {
			g.replayed++
		}
		g.progress.set(g, m.Meta.Offset)
		if m.Meta.Offset == total && !g.closed {
			g.closed = true
			close(g.done)
		}
	}
}

func (g *gapClient) onReload(string) {
	g.mu.Lock()
	g.reloads++
	g.segments = append(g.segments, nil) // the host reloads its state here
	g.mu.Unlock()
}

// gapProgress lets the broadcaster wait for the slowest dashboard, so the
// test measures recovery from disconnects, not from overload.
type gapProgress struct {
	mu      sync.Mutex
	cond    *sync.Cond
	last    map[*gapClient]uint64
	expired bool
}

func newGapProgress() *gapProgress {
	p := &gapProgress{last: map[*gapClient]uint64{}}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *gapProgress) set(g *gapClient, offset uint64) {
	p.mu.Lock()
	p.last[g] = offset
	p.mu.Unlock()
	p.cond.Broadcast()
}

// waitAll waits until every client has offset >= min; false on timeout.
func (p *gapProgress) waitAll(clients []*gapClient, min uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for !p.expired {
		slowest := ^uint64(0)
		for _, g := range clients {
			slowest = minU(slowest, p.last[g])
		}
		if slowest >= min {
			return true
		}
		p.cond.Wait()
	}
	return false
}

func minU(a, b uint64) uint64 {
	if a < b {
		return a
	}
	return b
}

// TestGapFreeAcrossRandomDisconnects cuts 1,000 dashboard connections at
// random moments (a TCP proxy drops them, like Wi-Fi) across 50,000
// broadcasts. Every client must end with every broadcast exactly once and
// in order, except where the hub told it to reload.
func TestGapFreeAcrossRandomDisconnects(t *testing.T) {
	const (
		clients     = 10
		broadcasts  = 50_000
		disconnects = 1_000
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 0))

	b, err := realtime.NewMemoryBroker(realtime.WithHistorySize(20_000))
	require.NoError(t, err)
	defer b.Close()
	env := newHubEnv(t, realtime.WithBroker(b), realtime.WithJoinRate(1000, 1000), realtime.WithReplayLimit(20_000))
	proxy := newDropProxy(t, env.srv.Listener.Addr().String())
	url := "ws://" + proxy.addr() + "/realtime/v1/websocket"

	progress := newGapProgress()
	watchdog := time.AfterFunc(3*time.Minute, func() {
		progress.mu.Lock()
		progress.expired = true
		progress.mu.Unlock()
		progress.cond.Broadcast()
	})
	defer watchdog.Stop()
	gcs := make([]*gapClient, clients)
	for i := range clients {
		g := &gapClient{progress: progress, segments: [][]uint64{nil}, done: make(chan struct{})}
		gcs[i] = g
		vsn := realtime.VSN1
		if i%2 == 1 {
			vsn = realtime.VSN2
		}
		c := newTestClient(t, url, "sup:1", realtime.WithVSN(vsn))
		ch := c.Channel("supplier:1", realtime.ChannelConfig{Replay: true})
		ch.OnBroadcast("*", g.onBroadcast(broadcasts))
		ch.OnReload(g.onReload)
		require.NoError(t, ch.Subscribe(waitCtx(t)))
	}

	every := broadcasts / disconnects
	dropped := 0
	for i := 1; i <= broadcasts; i++ {
		_, err := env.hub.Broadcast(ctxBG, "supplier:1", "kpi.updated", map[string]int{"i": i})
		require.NoError(t, err)
		// One disconnect per `every` broadcasts; when every client is
		// still reconnecting, the disconnect waits for the next broadcast.
		if dropped < i/every && proxy.dropOne(rnd.IntN(clients)) {
			dropped++
		}
		// Back-pressure: at most 500 broadcasts ahead of the slowest.
		if i%100 == 0 && i > 500 {
			require.True(t, progress.waitAll(gcs, uint64(i-500)), "dashboards stopped making progress at broadcast %d", i)
		}
	}
	for i, g := range gcs {
		select {
		case <-g.done:
		case <-time.After(2 * time.Minute):
			g.mu.Lock()
			t.Fatalf("client %d did not receive the last broadcast; segments %d", i, len(g.segments))
		}
	}

	var received, reloads, replayed int
	for i, g := range gcs {
		g.mu.Lock()
		for s, seg := range g.segments {
			for j := 1; j < len(seg); j++ {
				require.Equal(t, seg[j-1]+1, seg[j], "client %d segment %d: offset %d follows %d", i, s, seg[j], seg[j-1])
			}
			received += len(seg)
		}
		if len(g.segments[0]) > 0 {
			require.Equal(t, uint64(1), g.segments[0][0], "client %d missed the start", i)
		}
		if g.reloads == 0 {
			require.Len(t, g.segments[0], broadcasts, "client %d", i)
		}
		reloads += g.reloads
		replayed += g.replayed
		g.mu.Unlock()
	}
	require.Equal(t, disconnects, dropped)
	msg := fmt.Sprintf("%d clients, %d broadcasts, %d disconnects: %d received (each exactly once, in order), %d of them replayed, %d reloads",
		clients, broadcasts, dropped, received, replayed, reloads)
	t.Log(msg)
	_ = context.Background
}
