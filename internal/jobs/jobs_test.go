package jobs_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wedsync/integrations/internal/clock"
	"github.com/wedsync/integrations/internal/jobs"
	"github.com/wedsync/integrations/internal/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type echoArgs struct {
	N    int    `json:"n"`
	Mode string `json:"mode"`
}

func (echoArgs) Kind() string { return "test_echo" }

// recorder collects handled jobs and lets the test wait for a count.
type recorder struct {
	mu   sync.Mutex
	seen []echoArgs
	att  map[int]int
	ch   chan struct{}
}

func newRecorder() *recorder { return &recorder{att: map[int]int{}, ch: make(chan struct{}, 1<<16)} }

func (r *recorder) handler(fail map[int]int) jobs.Handler[echoArgs] {
	return func(ctx context.Context, j *jobs.Job[echoArgs]) error {
		r.mu.Lock()
		r.att[j.Args.N] = j.Attempt
		snoozes := fail[j.Args.N]
		if snoozes > 0 {
			fail[j.Args.N]--
		}
		if snoozes == 0 {
			r.seen = append(r.seen, j.Args)
		}
		r.mu.Unlock()
		if snoozes > 0 {
			if j.Args.Mode == "snooze" {
				return jobs.Snooze(time.Minute)
			}
			return errors.New("boom")
		}
		r.ch <- struct{}{}
		return nil
	}
}

func (r *recorder) wait(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range n {
		select {
		case <-r.ch:
		case <-ctx.Done():
			t.Fatalf("waited for %d jobs: %v", n, ctx.Err())
		}
	}
}

func TestMemoryOrderPriorityThenTime(t *testing.T) {
	ctx := context.Background()
	fake := clock.NewFake(time.Date(2026, 6, 6, 12, 0, 0, 0, time.UTC))
	rec := newRecorder()
	ws := jobs.NewWorkers()
	jobs.Register(ws, rec.handler(nil))
	q := jobs.NewMemory(ws, jobs.MemoryConfig{Workers: 1, Clock: fake})
	// Inserted before Start so that order is decided by the heap alone.
	require.NoError(t, q.Insert(ctx,
		jobs.InsertParams{Args: echoArgs{N: 1}, Priority: 4},
		jobs.InsertParams{Args: echoArgs{N: 2}},
		jobs.InsertParams{Args: echoArgs{N: 3}, RunAt: fake.Now().Add(time.Hour)},
		jobs.InsertParams{Args: echoArgs{N: 4}, Priority: 2},
		jobs.InsertParams{Args: echoArgs{N: 5}},
	))
	require.NoError(t, q.Start(ctx))
	defer func() { require.NoError(t, q.Stop(ctx)) }()
	rec.wait(t, 4)
	require.NoError(t, q.WaitIdle(ctx))
	fake.Advance(time.Hour)
	rec.wait(t, 1)
	var got []int
	for _, a := range rec.seen {
		got = append(got, a.N)
	}
	require.Equal(t, []int{2, 5, 4, 1, 3}, got)
}

func TestMemorySnoozeAndRetryOnFakeClock(t *testing.T) {
	ctx := context.Background()
	fake := clock.NewFake(time.Date(2026, 6, 6, 12, 0, 0, 0, time.UTC))
	rec := newRecorder()
	ws := jobs.NewWorkers()
	jobs.Register(ws, rec.handler(map[int]int{1: 2, 2: 2}))
	q := jobs.NewMemory(ws, jobs.MemoryConfig{Clock: fake})
	require.NoError(t, q.Start(ctx))
	defer func() { require.NoError(t, q.Stop(ctx)) }()
	require.NoError(t, q.Insert(ctx, jobs.InsertParams{Args: echoArgs{N: 1, Mode: "snooze"}}, jobs.InsertParams{Args: echoArgs{N: 2, Mode: "error"}}))
	require.NoError(t, q.WaitIdle(ctx))
	// Job 1 snoozes a minute twice; job 2 fails and retries after 1^4 s, 2^4 s.
	for range 4 {
		next, ok := q.NextRunAt()
		require.True(t, ok)
		fake.Set(next)
		require.NoError(t, q.WaitIdle(ctx))
	}
	rec.wait(t, 2)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Equal(t, 1, rec.att[1], "snoozes are not attempts")
	require.Equal(t, 3, rec.att[2], "errors are attempts")
	w, r := q.Len()
	require.Zero(t, w+r)
}

func TestMemoryUniqueAndNoTx(t *testing.T) {
	ctx := context.Background()
	ws := jobs.NewWorkers()
	rec := newRecorder()
	jobs.Register(ws, rec.handler(nil))
	q := jobs.NewMemory(ws, jobs.MemoryConfig{})
	require.NoError(t, q.Insert(ctx, jobs.InsertParams{Args: echoArgs{N: 7}, Unique: true}, jobs.InsertParams{Args: echoArgs{N: 7}, Unique: true}))
	w, _ := q.Len()
	require.Equal(t, 1, w)
	require.ErrorIs(t, q.InsertTx(ctx, nil, jobs.InsertParams{Args: echoArgs{N: 1}}), jobs.ErrNoDatabase)
	require.ErrorIs(t, q.Insert(ctx, jobs.InsertParams{Args: otherArgs{}}), jobs.ErrUnknownKind)
}

type otherArgs struct{}

func (otherArgs) Kind() string { return "test_other" }

func TestRiverInsertTxCommitAndRollback(t *testing.T) {
	db := pgtest.New(t, "jobs")
	ctx := context.Background()
	require.NoError(t, jobs.Migrate(ctx, db.Pool, db.Schema))
	rec := newRecorder()
	ws := jobs.NewWorkers()
	jobs.Register(ws, rec.handler(map[int]int{3: 1}))
	q, err := jobs.NewRiver(db.Pool, ws, jobs.RiverConfig{Schema: db.Schema})
	require.NoError(t, err)

	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, q.InsertTx(ctx, tx, jobs.InsertParams{Args: echoArgs{N: 1}}))
	require.NoError(t, tx.Rollback(ctx))

	tx, err = db.Pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, q.InsertTx(ctx, tx, jobs.InsertParams{Args: echoArgs{N: 2}}))
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, q.Insert(ctx, jobs.InsertParams{Args: echoArgs{N: 3, Mode: "snooze"}}))
	require.NoError(t, q.Insert(ctx, jobs.InsertParams{Args: echoArgs{N: 4}, Unique: true}, jobs.InsertParams{Args: echoArgs{N: 4}, Unique: true}))

	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM river_job").Scan(&n))
	require.Equal(t, 3, n, "rolled-back insert and duplicate unique insert leave no row")

	require.NoError(t, q.Start(ctx))
	rec.wait(t, 2)
	require.NoError(t, q.Stop(ctx))
	// Job 3 snoozed for a minute; it must be scheduled, not failed.
	var state string
	var attempt int
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT state, attempt FROM river_job WHERE args->>'n' = '3'").Scan(&state, &attempt))
	require.Equal(t, "scheduled", state)
	require.Equal(t, 0, attempt, "a snooze does not count an attempt")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.ElementsMatch(t, []int{2, 4}, []int{rec.seen[0].N, rec.seen[1].N})
}
