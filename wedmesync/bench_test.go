package wedmesync_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/wedmesync"
)

// BenchmarkInDatabase200PerSecond measures, with both platforms on one
// Postgres (two schemas) and the in-database transport, how soon a change
// committed on the WedMe side is applied on the supplier side, at 200
// changes a second: p50 and p99. b.N changes are recorded.
func BenchmarkInDatabase200PerSecond(b *testing.B) {
	ctx := context.Background()
	wedme, sup, applied := benchNodes(b)
	t, err := wedmesync.NewDBTransport(ctx, wedme, wedmesync.SideSupplier)
	require.NoError(b, err)
	defer func() { require.NoError(b, t.Close(ctx)) }()
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); sup.NewPeer("wedme", t).Run(rctx, time.Second) }()
	defer func() { stop(); <-done }()

	rnd := rand.New(rand.NewPCG(3, 4))
	recorded := map[string]time.Time{}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		<-tick.C
		c, err := wedme.Record(ctx, randomEdit(rnd, wedmesync.SideWedMe))
		if err != nil {
			b.Fatal(err)
		}
		recorded[c.ID] = time.Now()
	}
	lat := applied.wait(b, recorded)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkInDatabaseThroughput records b.N changes on WedMe as fast as
// one writer can, and measures until the supplier side has applied them
// all: changes/s end to end.
func BenchmarkInDatabaseThroughput(b *testing.B) {
	ctx := context.Background()
	wedme, sup, applied := benchNodes(b)
	t, err := wedmesync.NewDBTransport(ctx, wedme, wedmesync.SideSupplier)
	require.NoError(b, err)
	defer func() { require.NoError(b, t.Close(ctx)) }()
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); sup.NewPeer("wedme", t).Run(rctx, time.Second) }()
	defer func() { stop(); <-done }()
	rnd := rand.New(rand.NewPCG(5, 6))
	recorded := map[string]time.Time{}
	start := time.Now()
	b.ResetTimer()
	for b.Loop() {
		c, err := wedme.Record(ctx, randomEdit(rnd, wedmesync.SideWedMe))
		if err != nil {
			b.Fatal(err)
		}
		recorded[c.ID] = time.Now()
	}
	applied.wait(b, recorded)
	b.StopTimer()
	b.ReportMetric(float64(len(recorded))/time.Since(start).Seconds(), "changes/s")
}

type appliedTimes struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (a *appliedTimes) handler() wedmesync.NodeOption {
	return wedmesync.WithAppliedHandler(func(_ context.Context, ap wedmesync.Applied) {
		id, _, _ := strings.Cut(ap.Change.ID, "~") // WedMe's id, before the supplier suffix
		a.mu.Lock()
		a.at[id] = time.Now()
		a.mu.Unlock()
	})
}

// wait returns each recorded change's latency once all are applied.
func (a *appliedTimes) wait(b *testing.B, recorded map[string]time.Time) []time.Duration {
	deadline := time.Now().Add(60 * time.Second)
	for {
		a.mu.Lock()
		n := 0
		for id := range recorded {
			if _, ok := a.at[id]; ok {
				n++
			}
		}
		if n == len(recorded) {
			out := make([]time.Duration, 0, n)
			for id, t := range recorded {
				out = append(out, a.at[id].Sub(t))
			}
			a.mu.Unlock()
			return out
		}
		a.mu.Unlock()
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d changes applied after 60s", n, len(recorded))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func benchNodes(b *testing.B) (*wedmesync.Node, *wedmesync.Node, *appliedTimes) {
	ctx := context.Background()
	da := pgtest.New(b, "wedmesync_wedme")
	db := pgtest.New(b, "wedmesync_supplier")
	require.NoError(b, wedmesync.Migrate(ctx, da.Pool, wedmesync.WithSchema(da.Schema)))
	require.NoError(b, wedmesync.Migrate(ctx, db.Pool, wedmesync.WithSchema(db.Schema)))
	at := &appliedTimes{at: map[string]time.Time{}}
	wedme, err := wedmesync.NewNode(wedmesync.SideWedMe, "wedme1", wedmesync.WithAuthorizer(auth()), wedmesync.WithSharing(everything),
		wedmesync.WithPostgres(da.Pool), wedmesync.WithSchema(da.Schema))
	require.NoError(b, err)
	sup, err := wedmesync.NewNode(wedmesync.SideSupplier, "supplier1", wedmesync.WithAuthorizer(auth()), wedmesync.WithSharing(everything),
		wedmesync.WithPostgres(db.Pool), wedmesync.WithSchema(db.Schema), at.handler())
	require.NoError(b, err)
	return wedme, sup, at
}

// BenchmarkHTTP200PerSecond measures, with the platforms apart (each node
// behind its own HTTP server on loopback, Postgres mode on both), how soon
// a change committed on the WedMe side is applied on the supplier side at
// 200 changes a second: WedMe's peer pushes each change as it is recorded.
func BenchmarkHTTP200PerSecond(b *testing.B) {
	ctx := context.Background()
	wedme, sup, applied := benchNodes(b)
	secret := newSecret(b)
	srv := serve(b, sup, secret, wedmesync.WithRateLimit(rate.Inf, 0))
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		wedme.NewPeer("supplier-platform", dial(b, srv.URL, secret)).Run(rctx, time.Hour)
	}()
	defer func() { stop(); <-done }()

	rnd := rand.New(rand.NewPCG(7, 8))
	recorded := map[string]time.Time{}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for b.Loop() {
		<-tick.C
		c, err := wedme.Record(ctx, randomEdit(rnd, wedmesync.SideWedMe))
		if err != nil {
			b.Fatal(err)
		}
		recorded[c.ID] = time.Now()
	}
	lat := applied.wait(b, recorded)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
