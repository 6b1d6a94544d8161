package attempt

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jonboulle/clockwork"

	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/jobs"
	"github.com/wedsync/integrations/internal/loop"
)

// AlreadyDone is a chain's crash check. A job that runs for the first time
// (attempt 1) has done nothing yet. A job that runs again (its process
// died, or the record of its completion was lost) asks recorded whether its
// first run logged its attempt: if so that run also queued what follows, and
// the job must not attempt again. recorded should look for the attempt by
// the job's id, stored with the attempt row: the job's creation time comes
// from the database's clock and the attempt's time from the host's, so
// comparing them breaks when the host's clock runs behind.
func AlreadyDone(ctx context.Context, attempt int, recorded func(ctx context.Context) (bool, error)) (bool, error) {
	if attempt <= 1 {
		return false, nil
	}
	return recorded(ctx)
}

// Entry is one attempt's bookkeeping.
type Entry struct {
	// Write writes the attempt's row in tx (nil in memory mode). It may run
	// more than once, so it must not depend on state a failed run left.
	Write func(ctx context.Context, tx pgx.Tx) error
	// WriteFinal, when not nil, replaces Write when Next is nil: a store's
	// own one-round-trip write of a row nothing follows. Defaults to nil.
	WriteFinal func(ctx context.Context) error
	// OnRetry, when not nil, is told about each failed try of the
	// bookkeeping and the wait before the next (for a warning that names
	// the attempt).
	OnRetry func(err error, try int, wait time.Duration)
	// Next is the job of the next attempt, nil when the chain ends here.
	// Make it Unique, so that a crashed attempt that runs twice cannot
	// fork the chain.
	Next *jobs.InsertParams
}

// Recorder writes attempts and the jobs that follow them.
type Recorder struct {
	// Queue inserts the next attempt, in the attempt row's transaction.
	Queue jobs.Queue
	// Clock times the retries of a failed write. Defaults to the wall
	// clock, which a package should keep: Timeout is wall time, and a
	// host's fake clock must not hold an attempt's record.
	Clock clockwork.Clock
	// Timeout bounds the bookkeeping of one attempt, retries included.
	// Defaults to 15 seconds.
	Timeout time.Duration
	// Backoff spaces the retries of a failed write. Defaults to 100 ms
	// doubling to 2 s, with full jitter.
	Backoff backoff.Exponential
}

// Record writes e's row and, when e.Next is set, inserts the next job in
// the same transaction: either both exist or neither does. The attempt has
// been made, so a shutdown must not cut its bookkeeping: Record ignores
// ctx's cancellation (not its values), bounds itself with Timeout instead,
// and retries a failed write with backoff within it (a database that blips
// should cost a retry of the bookkeeping, not a repeat of the attempt). It
// returns the last error when no try succeeded; the job then fails, runs
// again, finds no record (AlreadyDone) and attempts again: at least once.
func (r *Recorder) Record(ctx context.Context, e Entry) error {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	b := r.Backoff
	if b.Base <= 0 {
		b = backoff.Exponential{Base: 100 * time.Millisecond, Max: 2 * time.Second}
	}
	clk := r.Clock
	if clk == nil {
		clk = clockwork.NewRealClock()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	var last error
	err := loop.Retry(ctx, clk, b, func(ctx context.Context) error {
		last = r.write(ctx, e)
		return last
	}, e.OnRetry)
	if err != nil && last != nil {
		return last
	}
	return err
}

func (r *Recorder) write(ctx context.Context, e Entry) error {
	if e.Next == nil && e.WriteFinal != nil {
		return e.WriteFinal(ctx)
	}
	return r.Queue.InTx(ctx, func(tx pgx.Tx) error {
		if err := e.Write(ctx, tx); err != nil {
			return err
		}
		if e.Next == nil {
			return nil
		}
		return r.Queue.InsertTx(ctx, tx, *e.Next)
	})
}
