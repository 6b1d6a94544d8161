package attempt

import (
	"math"
	"net/http"
	"time"

	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/validate"
)

// Policy decides when a failed attempt is tried again.
type Policy struct {
	// Schedule is the delay before each attempt, the first included
	// (usually 0: at once); when it runs out the chain gives up.
	Schedule []time.Duration
	// Jitter spreads each delay by up to ±Jitter of it (0.2 is ±20%), so
	// that targets that failed together are not retried together.
	Jitter float64
	// MinSlowRetry is the least wait after a timeout or a 429 Too Many
	// Requests: the target is overloaded, and an early retry adds to it.
	MinSlowRetry time.Duration
	// MaxRetryAfter caps how long a Retry-After header may delay a retry.
	MaxRetryAfter time.Duration
	// Rand is the jitter's random source; nil is math/rand/v2's.
	Rand backoff.Rand
}

// Outcome is what an attempt produced, as the Policy needs it.
type Outcome struct {
	// Status is the target's HTTP status, 0 when none came.
	Status int
	// Timeout says the attempt timed out.
	Timeout bool
	// RetryAfter is the target's Retry-After, when HasRetryAfter.
	RetryAfter    time.Duration
	HasRetryAfter bool
}

// OutcomeOf reads an HTTP response's status and Retry-After header.
func OutcomeOf(resp *http.Response, now time.Time) Outcome {
	o := Outcome{Status: resp.StatusCode}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		o.RetryAfter, o.HasRetryAfter = backoff.ParseRetryAfter(ra, now)
	}
	return o
}

// Attempts is how many attempts the schedule allows.
func (p Policy) Attempts() int { return len(p.Schedule) }

// First is the delay before the first attempt.
func (p Policy) First() time.Duration { return max(p.Schedule[0], 0) }

// Next returns the wait before attempt number+1 after attempt number (from
// 1) ended with o, or false when the schedule is spent.
func (p Policy) Next(number int, o Outcome) (time.Duration, bool) {
	if number < 1 || number >= len(p.Schedule) {
		return 0, false
	}
	d := backoff.Jitter(p.Schedule[number], p.Jitter, p.Rand)
	if o.Timeout || o.Status == http.StatusTooManyRequests {
		d = max(d, p.MinSlowRetry)
	}
	if o.HasRetryAfter {
		d = max(d, min(o.RetryAfter, p.MaxRetryAfter))
	}
	return d, true
}

// Validate reports the first bad field as a validation error of pkg, named
// after the options that set it (WithRetrySchedule, WithRetryJitter).
func (p Policy) Validate(pkg string) error {
	c := validate.NewChecker(pkg)
	c.Check(len(p.Schedule) > 0, "WithRetrySchedule", "needs at least one delay (the first attempt's, usually 0)")
	for i, d := range p.Schedule {
		c.Check(d >= 0, "WithRetrySchedule", "delay %d is %s: delays must not be negative", i, d)
	}
	c.Check(p.Jitter >= 0 && p.Jitter < 1 && !math.IsNaN(p.Jitter), "WithRetryJitter", "must be in [0, 1), got %g", p.Jitter)
	c.Check(p.MinSlowRetry >= 0, "min slow retry", "must not be negative")
	c.Check(p.MaxRetryAfter >= 0, "max Retry-After", "must not be negative")
	return c.Err()
}
