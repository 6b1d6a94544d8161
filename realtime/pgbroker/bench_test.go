package pgbroker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/pgbroker"
)

// BenchmarkPublishOneTopic publishes to a single topic from 1 and from 64
// goroutines, the case the topic row's lock serialises, and reports
// publishes/s, the latency of one Publish (p50, p99), and delivered/s: the
// rate at which the broker's own LISTEN side handed them to its handler,
// from the first publish to the last delivery. Run it with
// -benchtime=5000x or so: each publish is a commit, and a fixed count
// keeps runs comparable.
func BenchmarkPublishOneTopic(b *testing.B) {
	db := pgtest.New(b, "pgbroker")
	ctx := context.Background()
	br := newBroker(b, db, pgbroker.WithChannel(db.Schema))
	counter := &countingHandler{}
	require.NoError(b, br.Attach(counter))
	payload := json.RawMessage(`{"supplier":"s_123","kpi":"bookings","value":42}`)
	for _, publishers := range []int{1, 64} {
		b.Run(fmt.Sprintf("publishers=%d", publishers), func(b *testing.B) {
			topic := fmt.Sprintf("kpi-%d-%d", publishers, b.N) // a fresh topic per run
			all := counter.expect(topic, b.N)
			var (
				next    atomic.Int64
				mu      sync.Mutex
				latency []time.Duration
				wg      sync.WaitGroup
			)
			b.ResetTimer()
			start := time.Now()
			for range publishers {
				wg.Go(func() {
					var mine []time.Duration
					for next.Add(1) <= int64(b.N) {
						t0 := time.Now()
						if _, err := br.Publish(ctx, topic, "kpi.updated", payload, ""); err != nil {
							b.Error(err)
							return
						}
						mine = append(mine, time.Since(t0))
					}
					mu.Lock()
					latency = append(latency, mine...)
					mu.Unlock()
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			if len(latency) < b.N {
				return
			}
			select {
			case <-all:
			case <-time.After(time.Minute):
				b.Fatalf("not every publication was delivered within a minute")
			}
			delivered := time.Since(start)
			b.StopTimer()
			slices.Sort(latency)
			q := func(p float64) float64 {
				return float64(latency[int(p*float64(len(latency)-1))].Microseconds()) / 1000
			}
			b.ReportMetric(float64(len(latency))/elapsed.Seconds(), "publishes/s")
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(float64(b.N)/delivered.Seconds(), "delivered/s")
		})
	}
}

// countingHandler counts the publications of one topic at a time and
// closes a channel when the expected number has arrived.
type countingHandler struct {
	mu    sync.Mutex
	topic string
	left  int
	done  chan struct{}
}

func (c *countingHandler) expect(topic string, n int) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.topic, c.left, c.done = topic, n, make(chan struct{})
	return c.done
}

func (c *countingHandler) OnPublication(p realtime.Publication) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.Topic != c.topic || c.left == 0 {
		return
	}
	if c.left--; c.left == 0 {
		close(c.done)
	}
}

func (c *countingHandler) OnResync() {}
