package realtime_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/client"
	"github.com/wedsync/integrations/realtime/protocol"
)

// gapClient records what one dashboard saw.
type gapClient struct {
	progress *gapProgress
	total    uint64
	mu       sync.Mutex
	segments [][]uint64 // offsets received, split where the hub said reload
	reloads  int
	replayed int
	done     chan struct{}
	closed   bool
}

func (g *gapClient) onBroadcast(total uint64) func(client.BroadcastMessage) {
	return func(m client.BroadcastMessage) {
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
	// A reloaded dashboard holds everything published so far; after the
	// last broadcast it has nothing more to wait for.
	published := g.progress.published.Load()
	g.progress.set(g, published)
	g.mu.Lock()
	if published == g.total && !g.closed {
		g.closed = true
		close(g.done)
	}
	g.mu.Unlock()
}

// gapProgress lets the broadcaster wait for the slowest dashboard, so the
// test measures recovery from disconnects, not from overload.
type gapProgress struct {
	mu      sync.Mutex
	cond    *sync.Cond
	last    map[*gapClient]uint64
	expired bool
	// published is the newest offset broadcast.
	published atomic.Uint64
}

func newGapProgress() *gapProgress {
	p := &gapProgress{last: map[*gapClient]uint64{}}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *gapProgress) set(g *gapClient, offset uint64) {
	p.mu.Lock()
	p.last[g] = max(p.last[g], offset)
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

func (p *gapProgress) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for g, last := range p.last {
		g.mu.Lock()
		fmt.Fprintf(&b, "[last %d reloads %d] ", last, g.reloads)
		g.mu.Unlock()
	}
	return b.String()
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
	res := runGap(t, gapConfig{broadcasts: 50_000, disconnects: 1_000, history: 20_000})
	t.Log(res)
}

// TestGapFreeWhenHistoryRunsOut keeps only 100 broadcasts of history and,
// on top of random disconnects (short: replayed), holds a dashboard offline
// for 150 broadcasts ten times: those clients must be told to reload, and
// nothing else may go missing or come twice.
func TestGapFreeWhenHistoryRunsOut(t *testing.T) {
	res := runGap(t, gapConfig{broadcasts: 10_000, disconnects: 200, history: 100, outages: 10})
	require.GreaterOrEqual(t, res.reloads, 10, "every long outage ends in a reload")
	require.Positive(t, res.replayed, "short disconnects are replayed")
	t.Log(res)
}

type gapConfig struct {
	broadcasts, disconnects, history int
	// outages hold one dashboard offline for 150 broadcasts, this many
	// times, spread over the run.
	outages int
}

type gapResult struct {
	clients, broadcasts, dropped, received, replayed, reloads int
}

func (r gapResult) String() string {
	return fmt.Sprintf("%d clients, %d broadcasts, %d disconnects: %d received (each exactly once, in order), %d of them replayed, %d reloads",
		r.clients, r.broadcasts, r.dropped, r.received, r.replayed, r.reloads)
}

func runGap(t *testing.T, cfg gapConfig) gapResult {
	const clients = 10
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 0))

	b, err := realtime.NewMemoryBroker(realtime.WithHistorySize(cfg.history))
	require.NoError(t, err)
	defer b.Close()
	env := newHubEnv(t, realtime.WithBroker(b), realtime.WithJoinRate(1000, 1000), realtime.WithReplayLimit(cfg.history))
	proxy := newDropProxy(t, env.srv.Listener.Addr().String())
	url := "ws://" + proxy.addr() + "/realtime/v1/websocket"

	progress := newGapProgress()
	watchdog := time.AfterFunc(8*time.Minute, func() { // a hang guard, not a speed target: a loaded machine under -race needed more than 3
		progress.mu.Lock()
		progress.expired = true
		progress.mu.Unlock()
		progress.cond.Broadcast()
	})
	defer watchdog.Stop()
	gcs := make([]*gapClient, clients)
	for i := range clients {
		g := &gapClient{progress: progress, total: uint64(cfg.broadcasts), segments: [][]uint64{nil}, done: make(chan struct{})}
		gcs[i] = g
		vsn := protocol.VSN1
		if i%2 == 1 {
			vsn = protocol.VSN2
		}
		c := newTestClient(t, url, "sup:1", client.WithVSN(vsn))
		ch := c.Channel("supplier:1", client.ChannelConfig{Replay: true})
		ch.OnBroadcast("*", g.onBroadcast(uint64(cfg.broadcasts)))
		ch.OnReload(g.onReload)
		require.NoError(t, ch.Subscribe(waitCtx(t)))
	}

	every := cfg.broadcasts / cfg.disconnects
	outageEvery := 0
	if cfg.outages > 0 {
		outageEvery = cfg.broadcasts / (cfg.outages + 1)
	}
	dropped, offlineUntil := 0, 0
	window := min(500, cfg.history/2)
	for i := 1; i <= cfg.broadcasts; i++ {
		if outageEvery > 0 && i%outageEvery == 0 && i+150 < cfg.broadcasts {
			// Everyone caught up, then one dashboard goes away and cannot
			// come back for 150 broadcasts: more than the history holds.
			require.True(t, progress.waitAll(gcs, uint64(i-1)), "dashboards stopped making progress at broadcast %d", i)
			proxy.setRefusing(true)
			if proxy.dropOne(rnd.IntN(clients)) {
				dropped++
			}
			offlineUntil = i + 150
		}
		if i == offlineUntil {
			proxy.setRefusing(false)
		}
		// Counted before it is sent: a dashboard that reloads from here on
		// holds it (it reloads from the database, which has it).
		progress.published.Store(uint64(i))
		_, err := env.hub.Broadcast(ctxBG, "supplier:1", "kpi.updated", map[string]int{"i": i})
		require.NoError(t, err)
		// One disconnect per `every` broadcasts; when every client is
		// still reconnecting, the disconnect waits for the next broadcast.
		if dropped < i/every && proxy.dropOne(rnd.IntN(clients)) {
			dropped++
		}
		// Back-pressure: at most `window` broadcasts ahead of the slowest
		// dashboard, so that a short disconnect stays within the history.
		if i%(window/5) == 0 && i > window && i > offlineUntil {
			require.True(t, progress.waitAll(gcs, uint64(i-window)), "dashboards stopped making progress at broadcast %d: %s; hub %+v", i, progress, env.hub.Stats())
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

	res := gapResult{clients: clients, broadcasts: cfg.broadcasts, dropped: dropped}
	for i, g := range gcs {
		g.mu.Lock()
		for s, seg := range g.segments {
			for j := 1; j < len(seg); j++ {
				require.Equal(t, seg[j-1]+1, seg[j], "client %d segment %d: offset %d follows %d", i, s, seg[j], seg[j-1])
			}
			res.received += len(seg)
		}
		if len(g.segments[0]) > 0 {
			require.Equal(t, uint64(1), g.segments[0][0], "client %d missed the start", i)
		}
		if g.reloads == 0 {
			require.Len(t, g.segments[0], cfg.broadcasts, "client %d", i)
		}
		res.reloads += g.reloads
		res.replayed += g.replayed
		g.mu.Unlock()
	}
	require.GreaterOrEqual(t, dropped, cfg.disconnects)
	return res
}
