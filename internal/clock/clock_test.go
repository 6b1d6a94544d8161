package clock_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wedsync/integrations/internal/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFakeFiresTimersInOrderOnlyWhenAdvanced(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := clock.NewFake(start)
	late := f.NewTimer(2 * time.Second)
	early := f.NewTimer(time.Second)
	stopped := f.NewTimer(time.Second)
	require.True(t, stopped.Stop())
	require.False(t, stopped.Stop())
	require.Equal(t, 2, f.Waiters())
	next, ok := f.NextDeadline()
	require.True(t, ok)
	require.Equal(t, start.Add(time.Second), next)

	select {
	case <-early.C():
		t.Fatal("fired before the clock moved")
	default:
	}
	f.Advance(time.Second)
	require.Equal(t, start.Add(time.Second), <-early.C())
	select {
	case <-late.C():
		t.Fatal("late timer fired early")
	default:
	}
	f.Set(start) // never backwards
	require.Equal(t, start.Add(time.Second), f.Now())
	f.Set(start.Add(time.Hour))
	require.Equal(t, start.Add(time.Hour), <-late.C())
	require.Zero(t, f.Waiters())
	require.Equal(t, time.Hour, clock.Since(f, start))

	zero := f.NewTimer(0)
	require.Equal(t, f.Now(), <-zero.C(), "a zero timer fires at once")
}

func TestFakeBlockUntilAndSleep(t *testing.T) {
	f := clock.NewFake(time.Unix(0, 0))
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- clock.Sleep(ctx, f, time.Minute) }()
	require.NoError(t, f.BlockUntil(ctx, 1))
	f.Advance(time.Minute)
	require.NoError(t, <-done)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, clock.Sleep(cctx, f, time.Minute), context.Canceled)
	require.ErrorIs(t, f.BlockUntil(cctx, 5), context.Canceled)
	require.Zero(t, f.Waiters(), "a cancelled sleep stops its timer")
}

func TestRealClock(t *testing.T) {
	var c clock.Clock = clock.Real{}
	before := time.Now()
	require.False(t, c.Now().Before(before))
	tm := c.NewTimer(time.Hour)
	require.True(t, tm.Stop())
	require.NoError(t, clock.Sleep(context.Background(), c, time.Microsecond))
}
