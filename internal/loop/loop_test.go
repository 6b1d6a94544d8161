package loop_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/loop"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEveryRunsOnTheClockAndStopsWithItsContext(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Date(2026, 6, 6, 0, 0, 0, 0, time.UTC))
	ctx, cancel := context.WithCancel(context.Background())
	runs := make(chan time.Time, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		loop.Every(ctx, clk, 0, time.Hour, func(context.Context) { runs <- clk.Now() })
	}()
	first := <-runs
	for i := 1; i <= 3; i++ {
		require.NoError(t, clk.BlockUntilContext(ctx, 1))
		clk.Advance(time.Hour)
		require.Equal(t, first.Add(time.Duration(i)*time.Hour), <-runs)
	}
	cancel()
	<-done
	require.Panics(t, func() { loop.Every(ctx, clk, 0, 0, func(context.Context) {}) })
}

func TestSleepHonoursItsContextOnTheRealClock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, loop.Sleep(ctx, clockwork.NewRealClock(), time.Hour), context.DeadlineExceeded)
	require.NoError(t, loop.Sleep(context.Background(), clockwork.NewRealClock(), 0))
}

func TestRetryBacksOffUntilSuccessOrContext(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Date(2026, 6, 6, 0, 0, 0, 0, time.UTC))
	ctx := context.Background()
	b := backoff.Exponential{Base: time.Second, Max: 4 * time.Second, Rand: func() float64 { return 0.999999 }}
	var waits []time.Duration
	calls := 0
	errc := make(chan error, 1)
	go func() {
		errc <- loop.Retry(ctx, clk, b, func(context.Context) error {
			calls++
			if calls < 5 {
				return errors.New("down")
			}
			return nil
		}, func(_ error, _ int, wait time.Duration) { waits = append(waits, wait) })
	}()
	for range 4 {
		require.NoError(t, clk.BlockUntilContext(ctx, 1))
		clk.Advance(4 * time.Second)
	}
	require.NoError(t, <-errc)
	require.Equal(t, 5, calls)
	require.Len(t, waits, 4)
	for i, ceiling := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		require.InDelta(t, float64(ceiling), float64(waits[i]), float64(time.Millisecond), "doubling, capped: full jitter drawn at its top")
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err := loop.Retry(cctx, clk, b, func(context.Context) error { return errors.New("down") }, nil)
	require.ErrorIs(t, err, context.Canceled)
}
