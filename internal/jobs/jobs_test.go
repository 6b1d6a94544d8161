package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/jobs"
	"github.com/wedsync/integrations/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

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
	fake := clockwork.NewFakeClockAt(time.Date(2026, 6, 6, 12, 0, 0, 0, time.UTC))
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
	fake := clockwork.NewFakeClockAt(time.Date(2026, 6, 6, 12, 0, 0, 0, time.UTC))
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
		fake.Advance(next.Sub(fake.Now()))
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
	require.ErrorIs(t, q.InsertTx(ctx, fakeTx{}, jobs.InsertParams{Args: echoArgs{N: 1}}), jobs.ErrNoDatabase)
	require.NoError(t, q.InsertTx(ctx, nil, jobs.InsertParams{Args: echoArgs{N: 8}, RunAt: time.Now().Add(time.Hour)}), "a nil tx is a plain insert")
	w, _ = q.Len()
	require.Equal(t, 2, w)
	st, err := q.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, jobs.Stats{Due: 1, Scheduled: 1}, st)
	require.ErrorIs(t, q.Insert(ctx, jobs.InsertParams{Args: otherArgs{}}), jobs.ErrUnknownKind)
}

// fakeTx stands for a host transaction memory mode cannot join.
type fakeTx struct{ pgx.Tx }

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
	st, err := q.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, jobs.Stats{Due: 3}, st)

	require.NoError(t, q.Start(ctx))
	rec.wait(t, 2)
	require.NoError(t, q.WaitIdle(ctx))
	require.NoError(t, q.Stop(ctx))
	st, err = q.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, jobs.Stats{Scheduled: 1}, st, "the snoozed job waits a minute")
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

// The memory queue on the wall clock: one job due in an hour must leave the
// dispatcher asleep, not spinning, and Stop must return within its context
// even when a handler ignores its own.

// idleWindow is how long the idle test watches the dispatcher. Idleness can
// only be observed over real time; nothing here waits for an event.
const idleWindow = 300 * time.Millisecond

func TestMemoryIdleOnTheRealClockDoesNotSpin(t *testing.T) {
	ctx := context.Background()
	ws := jobs.NewWorkers()
	rec := newRecorder()
	jobs.Register(ws, rec.handler(map[int]int{2: 1}))
	q := jobs.NewMemory(ws, jobs.MemoryConfig{})
	require.NoError(t, q.Start(ctx))
	defer func() { require.NoError(t, q.Stop(ctx)) }()
	// One job an hour away, one that snoozes for a minute after its first run.
	require.NoError(t, q.Insert(ctx,
		jobs.InsertParams{Args: echoArgs{N: 1}, RunAt: time.Now().Add(time.Hour)},
		jobs.InsertParams{Args: echoArgs{N: 2, Mode: "snooze"}}))
	require.NoError(t, q.WaitIdle(ctx))
	before := q.Wakeups()
	<-time.After(idleWindow)
	turns := q.Wakeups() - before
	t.Logf("dispatcher turns in %s with two jobs waiting: %d", idleWindow, turns)
	require.LessOrEqual(t, turns, int64(2), "the dispatcher must sleep until the next job is due")
	waiting, running := q.Len()
	require.Equal(t, 2, waiting)
	require.Zero(t, running)
}

// stuckQueue starts a memory queue whose handler ignores its context until
// release is closed, inserts ps, and returns once the first job runs.
func stuckQueue(t *testing.T, ps ...jobs.InsertParams) (q *jobs.MemoryQueue, release chan struct{}) {
	t.Helper()
	ctx := context.Background()
	ws := jobs.NewWorkers()
	started, release := make(chan struct{}), make(chan struct{})
	jobs.Register(ws, func(context.Context, *jobs.Job[echoArgs]) error {
		close(started)
		<-release // ignores its context on purpose
		return nil
	})
	q = jobs.NewMemory(ws, jobs.MemoryConfig{})
	require.NoError(t, q.Start(ctx))
	require.NoError(t, q.Insert(ctx, ps...))
	<-started
	return q, release
}

func TestMemoryStopReturnsWithinItsContext(t *testing.T) {
	ctx := context.Background()
	q, release := stuckQueue(t,
		jobs.InsertParams{Args: echoArgs{N: 1}},
		jobs.InsertParams{Args: echoArgs{N: 2}, RunAt: time.Now().Add(time.Hour)})

	stopCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- q.Stop(stopCtx) }()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(time.Minute):
		t.Fatal("Stop did not return after its context ended")
	}
	require.ErrorContains(t, q.Start(ctx), "still stopping", "Start waits for the stuck handler")

	close(release)
	require.NoError(t, q.Stop(ctx), "a second Stop waits for what the first left running")
	require.NoError(t, q.Start(ctx), "and then the queue can start again")
	require.NoError(t, q.Stop(ctx))
	waiting, _ := q.Len()
	require.Equal(t, 1, waiting, "the job due in an hour is kept")
}

// Stops called together all wait for the one stop, each within its own
// context, and Start refuses until it is complete.
func TestMemoryConcurrentStopsWaitForTheSameStop(t *testing.T) {
	ctx := context.Background()
	q, release := stuckQueue(t, jobs.InsertParams{Args: echoArgs{N: 1}})

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	patient := make(chan error, 1)
	go func() { patient <- q.Stop(ctx) }()
	require.ErrorIs(t, q.Stop(short), context.DeadlineExceeded)
	select {
	case err := <-patient:
		t.Fatalf("a Stop returned (%v) while a handler still runs", err)
	default:
	}
	require.ErrorContains(t, q.Start(ctx), "still stopping")
	close(release)
	require.NoError(t, <-patient)
	require.NoError(t, q.Stop(ctx))
	require.NoError(t, q.Start(ctx))
	require.NoError(t, q.Stop(ctx))
}

// The River client runs until Stop, whatever happens to the context Start
// was given, as the memory queue does.
func TestRiverStartContextOnlyBoundsTheStart(t *testing.T) {
	db := pgtest.New(t, "jobs")
	ctx := context.Background()
	require.NoError(t, jobs.Migrate(ctx, db.Pool, db.Schema))
	rec := newRecorder()
	ws := jobs.NewWorkers()
	jobs.Register(ws, rec.handler(nil))
	q, err := jobs.NewRiver(db.Pool, ws, jobs.RiverConfig{Schema: db.Schema})
	require.NoError(t, err)
	startCtx, cancel := context.WithCancel(ctx)
	require.NoError(t, q.Start(startCtx))
	cancel()
	require.NoError(t, q.Insert(ctx, jobs.InsertParams{Args: echoArgs{N: 1}}))
	rec.wait(t, 1)

	// Two Stops at once: both return once the client has stopped.
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- q.Stop(ctx) }()
	}
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
}

// jumpyClock is a fake clock that a test advances just as the dispatcher
// arms its timer, the race the dispatcher must catch.
type jumpyClock struct {
	*clockwork.FakeClock
	mu    sync.Mutex
	jumps int
}

func (c *jumpyClock) NewTimer(d time.Duration) clockwork.Timer {
	c.mu.Lock()
	jump := c.jumps > 0
	c.jumps--
	c.mu.Unlock()
	if jump {
		c.Advance(time.Second)
	}
	return c.FakeClock.NewTimer(d)
}

func TestMemoryDispatcherCatchesAClockThatMovesWhileItArmsItsTimer(t *testing.T) {
	ctx := context.Background()
	clk := &jumpyClock{FakeClock: clockwork.NewFakeClockAt(time.Date(2026, 6, 6, 12, 0, 0, 0, time.UTC)), jumps: 2}
	rec := newRecorder()
	ws := jobs.NewWorkers()
	jobs.Register(ws, rec.handler(nil))
	q := jobs.NewMemory(ws, jobs.MemoryConfig{Clock: clk})
	require.NoError(t, q.Insert(ctx, jobs.InsertParams{Args: echoArgs{N: 1}, RunAt: clk.Now().Add(2 * time.Second)}))
	require.NoError(t, q.Start(ctx))
	defer func() { require.NoError(t, q.Stop(ctx)) }()
	rec.wait(t, 1) // due once the two jumps have happened, with no Advance from the test
}

// dueArgs carries the time its job is due, so that its handler can check
// that it did not run early.
type dueArgs struct {
	Name  string    `json:"name"`
	RunAt time.Time `json:"run_at"`
}

func (dueArgs) Kind() string { return "test_due" }

// ran is one run of a dueArgs job: when it started.
type ran struct {
	args dueArgs
	at   time.Time
}

// dueWorkers registers a dueArgs handler that reports each run on the
// returned channel.
func dueWorkers() (*jobs.Workers, chan ran) {
	runs := make(chan ran, 64)
	ws := jobs.NewWorkers()
	jobs.Register(ws, func(_ context.Context, j *jobs.Job[dueArgs]) error {
		runs <- ran{args: j.Args, at: time.Now()}
		return nil
	})
	return ws, runs
}

// A job due a second from now is inserted `available` with its future
// scheduled_at, whichever insert path writes it (a plain insert, one in
// the host's transaction, the COPY path of a batch, a unique insert), so
// that the producer's poll runs it at its time instead of River's
// scheduler, which makes scheduled jobs available every 5 s. A job due in
// an hour stays `scheduled`. No job runs before its time.
func TestRiverJobDueSoonIsAvailableAtInsertAndRunsAtItsTime(t *testing.T) {
	db := pgtest.New(t, "jobs")
	ctx := context.Background()
	require.NoError(t, jobs.Migrate(ctx, db.Pool, db.Schema))
	ws, runs := dueWorkers()
	q, err := jobs.NewRiver(db.Pool, ws, jobs.RiverConfig{Schema: db.Schema})
	require.NoError(t, err)

	// Postgres keeps microseconds: a RunAt with nanoseconds could be
	// stored (and fetched) up to half a microsecond before itself.
	soon := time.Now().Add(time.Second).Truncate(time.Microsecond)
	later := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	due := func(name string, at time.Time, unique bool) jobs.InsertParams {
		return jobs.InsertParams{Args: dueArgs{Name: name, RunAt: at}, RunAt: at, Unique: unique}
	}
	require.NoError(t, q.Insert(ctx, due("plain", soon, false)))
	require.NoError(t, q.InTx(ctx, func(tx pgx.Tx) error {
		return q.InsertTx(ctx, tx, due("tx", soon, false))
	}))
	require.NoError(t, q.InTx(ctx, func(tx pgx.Tx) error {
		return q.InsertTx(ctx, tx, due("copy-1", soon, false), due("copy-2", soon, false), due("hour", later, false))
	}))
	require.NoError(t, q.InTx(ctx, func(tx pgx.Tx) error {
		return q.InsertTx(ctx, tx, due("unique", soon, true), due("unique-2", soon, true))
	}))
	require.NoError(t, q.Insert(ctx, jobs.InsertParams{Args: dueArgs{Name: "now"}}))

	type row struct {
		state  string
		future bool
	}
	rows, err := db.Pool.Query(ctx, "SELECT args->>'name', state, scheduled_at > now() FROM river_job")
	require.NoError(t, err)
	got := map[string]row{}
	for rows.Next() {
		var name string
		var r row
		require.NoError(t, rows.Scan(&name, &r.state, &r.future))
		got[name] = r
	}
	require.NoError(t, rows.Err())
	avail := row{"available", true}
	require.Equal(t, map[string]row{
		"plain": avail, "tx": avail, "copy-1": avail, "copy-2": avail, "unique": avail, "unique-2": avail,
		"hour": {"scheduled", true}, "now": {"available", false},
	}, got, "a job due within River's scheduler interval is available at once, with its own time")
	st, err := q.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, jobs.Stats{Due: 1, Scheduled: 7}, st, "an available job that is not due yet counts as scheduled")

	require.NoError(t, q.Start(ctx))
	defer func() { require.NoError(t, q.Stop(ctx)) }()
	timeout := time.After(time.Minute)
	for range 7 {
		select {
		case r := <-runs:
			if r.args.RunAt.IsZero() {
				continue
			}
			require.False(t, r.at.Before(r.args.RunAt), "%s ran at %s, before its time %s", r.args.Name, r.at, r.args.RunAt)
			t.Logf("%-8s ran %s after its time", r.args.Name, r.at.Sub(r.args.RunAt).Round(time.Millisecond))
		case <-timeout:
			t.Fatal("the jobs due in a second did not all run within a minute")
		}
	}
	require.NoError(t, q.WaitIdle(ctx))
	st, err = q.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, jobs.Stats{Scheduled: 1}, st, "the job due in an hour waits")
}

// The memory queue runs a job at its RunAt on the wall clock, not before.
func TestMemoryRunsAJobAtItsTime(t *testing.T) {
	ctx := context.Background()
	ws, runs := dueWorkers()
	q := jobs.NewMemory(ws, jobs.MemoryConfig{})
	require.NoError(t, q.Start(ctx))
	defer func() { require.NoError(t, q.Stop(ctx)) }()
	at := time.Now().Add(50 * time.Millisecond)
	require.NoError(t, q.Insert(ctx, jobs.InsertParams{Args: dueArgs{Name: "soon", RunAt: at}, RunAt: at}))
	select {
	case r := <-runs:
		require.False(t, r.at.Before(at), "ran at %s, before its time %s", r.at, at)
		t.Logf("ran %s after its time", r.at.Sub(at).Round(time.Microsecond))
	case <-time.After(time.Minute):
		t.Fatal("the job did not run within a minute")
	}
}

// BenchmarkRunAtLateness measures how long after its RunAt a job due in a
// second starts, in each mode (late-ms). Before River's Postgres-mode jobs
// due within its scheduler interval were inserted available, a job could
// start up to 5 s late; it now waits at most about one FetchPollInterval
// (250 ms). Each iteration takes a second: run with -benchtime=10x.
func BenchmarkRunAtLateness(b *testing.B) {
	run := func(b *testing.B, q jobs.Queue, runs chan ran) {
		ctx := context.Background()
		require.NoError(b, q.Start(ctx))
		defer func() { require.NoError(b, q.Stop(ctx)) }()
		var late time.Duration
		for i := 0; b.Loop(); i++ {
			at := time.Now().Add(time.Second).Truncate(time.Microsecond)
			require.NoError(b, q.Insert(ctx, jobs.InsertParams{Args: dueArgs{Name: fmt.Sprint(i), RunAt: at}, RunAt: at}))
			r := <-runs
			late += r.at.Sub(at)
		}
		b.ReportMetric(float64(late.Microseconds())/1000/float64(b.N), "late-ms")
	}
	b.Run("memory", func(b *testing.B) {
		ws, runs := dueWorkers()
		run(b, jobs.NewMemory(ws, jobs.MemoryConfig{}), runs)
	})
	b.Run("river", func(b *testing.B) {
		db := pgtest.New(b, "jobs")
		require.NoError(b, jobs.Migrate(context.Background(), db.Pool, db.Schema))
		ws, runs := dueWorkers()
		q, err := jobs.NewRiver(db.Pool, ws, jobs.RiverConfig{Schema: db.Schema})
		require.NoError(b, err)
		run(b, q, runs)
	})
}
