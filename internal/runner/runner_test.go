package runner

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wedsync/integrations/internal/jobs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type slowArgs struct{}

func (slowArgs) Kind() string { return "runner_test_slow" }

func TestLifeCycle(t *testing.T) {
	ctx := context.Background()
	release := make(chan struct{})
	running := make(chan struct{}, 1)
	ws := jobs.NewWorkers()
	jobs.Register(ws, func(ctx context.Context, _ *jobs.Job[slowArgs]) error {
		running <- struct{}{}
		<-release
		return nil
	})
	q := jobs.NewMemory(ws, jobs.MemoryConfig{})
	var observing atomic.Bool
	bgRan := make(chan struct{}, 2)
	stopped := 0
	r := &Runner{Queue: q, Observing: &observing, What: "test: runner", Work: "jobs",
		Background: func(ctx context.Context) { bgRan <- struct{}{}; <-ctx.Done() },
		AfterStop:  func() { stopped++ }}

	require.NoError(t, r.Stop(ctx), "stopping what never started is fine")
	require.NoError(t, r.Start(ctx))
	<-bgRan
	require.True(t, observing.Load())
	require.ErrorContains(t, r.Start(ctx), "test: runner already started")

	require.NoError(t, q.Insert(ctx, jobs.InsertParams{Args: slowArgs{}}))
	<-running
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, r.Stop(short), context.DeadlineExceeded, "Stop returns within its context")
	require.False(t, observing.Load())
	require.ErrorContains(t, r.Start(ctx), "still stopping: call Stop again to wait for running jobs")
	require.Zero(t, stopped)

	close(release)
	require.NoError(t, r.Stop(ctx), "a later Stop waits for the rest")
	require.Equal(t, 1, stopped)
	require.NoError(t, r.Start(ctx), "and then it may start again")
	require.NoError(t, r.Stop(ctx))
}
