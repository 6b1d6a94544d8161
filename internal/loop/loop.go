package loop

import (
	"context"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/wedsync/integrations/internal/backoff"
)

// Sleep waits for d on clk, or until ctx ends and then returns ctx.Err().
// A d of zero or less returns at once (ctx.Err() if ctx has ended).
func Sleep(ctx context.Context, clk clockwork.Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.Chan():
		return nil
	}
}

// Every calls fn first after first (zero: at once), then every interval
// after the previous call returned, until ctx ends. Calls never overlap.
// It returns when ctx ends; run it on a goroutine of its own. An interval of
// zero or less panics: it is a programming error, and would spin.
func Every(ctx context.Context, clk clockwork.Clock, first, interval time.Duration, fn func(ctx context.Context)) {
	if interval <= 0 {
		panic("loop: Every needs a positive interval")
	}
	wait := first
	for {
		if Sleep(ctx, clk, wait) != nil {
			return
		}
		if ctx.Err() != nil {
			return
		}
		fn(ctx)
		wait = interval
	}
}

// Retry calls fn until it returns nil, and returns nil then; or until ctx
// ends, and returns ctx.Err(). After the n-th failure in a row (from 0) it
// waits b.FullJitter(n) on clk: a random delay up to b.Base*2^n, capped at
// b.Max, so that many instances retrying the same database do not retry in
// step. onFailure, when not nil, is told about each failure and the wait
// before the next try (for a log line).
func Retry(ctx context.Context, clk clockwork.Clock, b backoff.Exponential, fn func(ctx context.Context) error,
	onFailure func(err error, attempt int, wait time.Duration)) error {
	for attempt := 0; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := b.FullJitter(attempt)
		if onFailure != nil {
			onFailure(err, attempt, wait)
		}
		if err := Sleep(ctx, clk, wait); err != nil {
			return err
		}
	}
}
