package attempt_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/attempt"
)

// A call alone flushes at once; calls that arrive during a flush go
// together into the next ones, at most Max at a time, each getting its own
// result, or its batch's error.
func TestBatcherGroupsCallsThatArriveDuringAFlush(t *testing.T) {
	ctx := context.Background()
	release, started := make(chan struct{}), make(chan struct{})
	queued := make(chan int, 100)
	var mu sync.Mutex
	var sizes []int
	b := &attempt.Batcher[int, int]{
		Max:    4,
		Queued: func(n int) { queued <- n },
		Flush: func(_ context.Context, items []int) ([]int, error) {
			mu.Lock()
			first, third := len(sizes) == 0, len(sizes) == 2
			sizes = append(sizes, len(items))
			mu.Unlock()
			if first {
				close(started)
				<-release
			}
			if third {
				return nil, errors.New("the third batch fails")
			}
			out := make([]int, len(items))
			for i, v := range items {
				out[i] = v * 10
			}
			return out, nil
		},
	}
	type result struct {
		in, out int
		err     error
	}
	results := make(chan result, 10)
	do := func(v int) {
		out, err := b.Do(ctx, v)
		results <- result{v, out, err}
	}
	go do(0)
	<-started
	for v := 1; v <= 9; v++ {
		go do(v)
	}
	for w := 0; w < 9; {
		w = max(w, <-queued)
	}
	close(release)

	got := map[int]result{}
	for range 10 {
		r := <-results
		got[r.in] = r
	}
	require.Equal(t, []int{1, 4, 4, 1}, sizes, "one alone, then the nine queued, four at a time")
	failed := 0
	for v := range 10 {
		if got[v].err != nil {
			require.ErrorContains(t, got[v].err, "third batch")
			failed++
			continue
		}
		require.Equal(t, v*10, got[v].out)
	}
	require.Equal(t, 4, failed, "the third batch failed as one, the others did not")

	out, err := b.Do(ctx, 3)
	require.NoError(t, err)
	require.Equal(t, 30, out, "a call after the run starts a new one")
}
