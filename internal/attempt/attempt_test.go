package attempt_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wedsync/integrations/internal/attempt"
	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/jobs"
	"github.com/wedsync/integrations/internal/validate"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 6, 6, 9, 0, 0, 0, time.UTC)

func TestPolicyNext(t *testing.T) {
	p := attempt.Policy{
		Schedule:      []time.Duration{0, 5 * time.Second, time.Hour},
		MinSlowRetry:  time.Minute,
		MaxRetryAfter: 2 * time.Hour,
	}
	d, ok := p.Next(1, attempt.Outcome{Status: 500})
	require.True(t, ok)
	require.Equal(t, 5*time.Second, d, "no jitter configured")
	d, _ = p.Next(1, attempt.Outcome{Status: http.StatusTooManyRequests})
	require.Equal(t, time.Minute, d, "a 429 waits at least MinSlowRetry")
	d, _ = p.Next(1, attempt.Outcome{Timeout: true})
	require.Equal(t, time.Minute, d, "so does a timeout")
	d, _ = p.Next(1, attempt.Outcome{Status: 503, RetryAfter: 10 * time.Minute, HasRetryAfter: true})
	require.Equal(t, 10*time.Minute, d, "Retry-After is honoured")
	d, _ = p.Next(2, attempt.Outcome{Status: 503, RetryAfter: 48 * time.Hour, HasRetryAfter: true})
	require.Equal(t, 2*time.Hour, d, "up to MaxRetryAfter")
	_, ok = p.Next(3, attempt.Outcome{Status: 500})
	require.False(t, ok, "the schedule is spent")
	_, ok = p.Next(0, attempt.Outcome{})
	require.False(t, ok)

	p.Jitter, p.Rand = 0.2, backoff.Seeded(1)
	for range 100 {
		d, _ := p.Next(2, attempt.Outcome{Status: 500})
		require.InDelta(t, float64(time.Hour), float64(d), 0.2*float64(time.Hour))
	}

	resp := &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {"120"}}}
	o := attempt.OutcomeOf(resp, t0)
	require.Equal(t, attempt.Outcome{Status: 503, RetryAfter: 2 * time.Minute, HasRetryAfter: true}, o)
}

func TestPolicyValidate(t *testing.T) {
	require.NoError(t, attempt.Policy{Schedule: []time.Duration{0}}.Validate("x"))
	err := attempt.Policy{Jitter: 1.5}.Validate("notify")
	require.ErrorIs(t, err, validate.ErrInvalid)
	require.ErrorContains(t, err, "notify: WithRetrySchedule: needs at least one delay")
	require.ErrorContains(t, err, "notify: WithRetryJitter: must be in [0, 1), got 1.5")
	require.ErrorContains(t, attempt.Policy{Schedule: []time.Duration{0, -time.Second}}.Validate("x"), "delay 1 is -1s")
}

func TestValidateRate(t *testing.T) {
	require.NoError(t, attempt.ValidateRate("x", "rate_limit", 0))
	require.NoError(t, attempt.ValidateRate("x", "rate_limit", attempt.MinRate))
	require.NoError(t, attempt.ValidateRate("x", "rate_limit", 1000))
	for _, r := range []float64{-1, 1e-300, 0.001} {
		err := attempt.ValidateRate("x", "rate_limit", r)
		require.ErrorIs(t, err, validate.ErrInvalid, "%g", r)
		var ve *validate.Error
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "rate_limit", ve.Field)
	}
}

func TestGuardsBreakerOpensOnItsClockAndProbes(t *testing.T) {
	clk := clockwork.NewFakeClockAt(t0)
	var mu sync.Mutex
	var opened []string
	gs := attempt.NewGuards(attempt.BreakerConfig{MinRequests: 4, FailureRatio: 0.5, Window: time.Minute, OpenFor: 30 * time.Second}, clk,
		func(target string, until time.Time) {
			mu.Lock()
			opened = append(opened, target)
			mu.Unlock()
			require.Equal(t, t0.Add(30*time.Second), until)
		})
	for range 4 {
		p, wait, _ := gs.Acquire("ep_dead", 0)
		require.NotNil(t, p)
		require.Zero(t, wait)
		p.Done(false)
	}
	require.Equal(t, []string{"ep_dead"}, opened)
	p, wait, why := gs.Acquire("ep_dead", 0)
	require.Nil(t, p, "open: no attempt")
	require.Equal(t, attempt.BreakerOpen, why)
	require.GreaterOrEqual(t, wait, 30*time.Second)
	require.LessOrEqual(t, wait, 32*time.Second, "until it may probe, plus up to 2 s of jitter")

	other, _, _ := gs.Acquire("ep_fine", 0)
	require.NotNil(t, other, "one dead target does not hold up another")
	other.Done(true)

	clk.Advance(30 * time.Second)
	probe, _, _ := gs.Acquire("ep_dead", 0)
	require.NotNil(t, probe, "after OpenFor one probe goes through")
	second, wait, _ := gs.Acquire("ep_dead", 0)
	require.Nil(t, second, "only one probe at a time")
	require.Positive(t, wait)
	probe.Done(true)
	p, _, _ = gs.Acquire("ep_dead", 0)
	require.NotNil(t, p, "a good probe closes the breaker")
	p.NotAttempted()

	gs.Reset("ep_dead")
	gs.Forget(func(string) bool { return false })
}

func TestGuardsRateLimitSnoozesAndFollowsChanges(t *testing.T) {
	clk := clockwork.NewFakeClockAt(t0)
	gs := attempt.NewGuards(attempt.DefaultBreaker, clk, nil)
	p, _, _ := gs.Acquire("ep", 1)
	require.NotNil(t, p)
	p.Done(true)
	p, wait, why := gs.Acquire("ep", 1)
	require.Nil(t, p, "one a second: the second must wait")
	require.Equal(t, time.Second, wait)
	require.Equal(t, attempt.RateLimited, why)
	p, _, _ = gs.Acquire("ep", 0)
	require.NotNil(t, p, "lifting the limit applies at once")
	p.Done(true)
	for range 100 {
		p, _, _ := gs.Acquire("ep", 0)
		require.NotNil(t, p)
		p.Done(true)
	}
}

type stepArgs struct {
	N int `json:"n"`
}

func (stepArgs) Kind() string { return "attempt_test_step" }

// flakyStore fails its first writes, as a database that blips.
type flakyStore struct {
	mu     sync.Mutex
	fails  int
	rows   []int
	finals []int
}

func (s *flakyStore) write(n int, final bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fails > 0 {
		s.fails--
		return errors.New("connection refused")
	}
	if final {
		s.finals = append(s.finals, n)
	} else {
		s.rows = append(s.rows, n)
	}
	return nil
}

func TestRecorderRetriesTheBookkeepingAndQueuesTheNextStep(t *testing.T) {
	ctx := context.Background()
	ran := make(chan int, 10)
	ws := jobs.NewWorkers()
	jobs.Register(ws, func(_ context.Context, j *jobs.Job[stepArgs]) error { ran <- j.Args.N; return nil })
	q, err := jobs.Open(ws, jobs.Config{})
	require.NoError(t, err)
	require.NoError(t, q.Start(ctx))
	defer func() { require.NoError(t, q.Stop(ctx)) }()

	store := &flakyStore{fails: 2}
	var retries []int
	rec := attempt.Recorder{Queue: q, Backoff: backoff.Exponential{Base: time.Millisecond, Max: time.Millisecond}}
	cancelled, cancel := context.WithCancel(ctx)
	cancel() // a shutdown does not cut the bookkeeping of an attempt made
	err = rec.Record(cancelled, attempt.Entry{
		Write: func(_ context.Context, tx pgx.Tx) error {
			require.Nil(t, tx, "memory mode has no transaction")
			return store.write(1, false)
		},
		Next:    &jobs.InsertParams{Args: stepArgs{N: 2}, Unique: true},
		OnRetry: func(_ error, try int, _ time.Duration) { retries = append(retries, try) },
	})
	require.NoError(t, err)
	require.Equal(t, []int{0, 1}, retries)
	require.Equal(t, 2, <-ran, "the next step was queued with the row")

	err = rec.Record(ctx, attempt.Entry{
		Write:      func(context.Context, pgx.Tx) error { return errors.New("unused") },
		WriteFinal: func(context.Context) error { return store.write(3, true) },
	})
	require.NoError(t, err)
	require.Equal(t, []int{1}, store.rows)
	require.Equal(t, []int{3}, store.finals, "a chain's last row takes the store's fast path")

	rec.Timeout = 20 * time.Millisecond
	err = rec.Record(ctx, attempt.Entry{Write: func(context.Context, pgx.Tx) error { return errors.New("database is gone") }})
	require.ErrorContains(t, err, "database is gone", "the last write error, not just a timeout")
}

func TestAlreadyDone(t *testing.T) {
	ctx := context.Background()
	calls := 0
	recorded := func(context.Context) (bool, error) {
		calls++
		return true, nil
	}
	done, err := attempt.AlreadyDone(ctx, 1, recorded)
	require.NoError(t, err)
	require.False(t, done)
	require.Zero(t, calls, "a first run asks nothing")
	done, err = attempt.AlreadyDone(ctx, 2, recorded)
	require.NoError(t, err)
	require.True(t, done)
}
