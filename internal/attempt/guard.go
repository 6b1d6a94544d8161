package attempt

import (
	"errors"
	"math"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"

	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/validate"
)

// BreakerConfig tunes each target's circuit breaker.
type BreakerConfig struct {
	// MinRequests is how many attempts in Window the breaker needs before
	// it may open.
	MinRequests uint32
	// FailureRatio opens the breaker when at least this share of the
	// attempts in Window failed.
	FailureRatio float64
	// Window is the period over which attempts are counted.
	Window time.Duration
	// OpenFor is how long an open breaker refuses attempts before it lets
	// one probe through.
	OpenFor time.Duration
}

// DefaultBreaker is Convoy's breaker: open when at least 70% of at least 10
// attempts in 5 minutes failed, for 30 seconds.
var DefaultBreaker = BreakerConfig{MinRequests: 10, FailureRatio: 0.7, Window: 5 * time.Minute, OpenFor: 30 * time.Second}

// Validate reports a bad field as a validation error of pkg, named after
// the option that sets it.
func (c BreakerConfig) Validate(pkg, option string) error {
	if !(c.FailureRatio > 0 && c.FailureRatio <= 1) || c.Window <= 0 || c.OpenFor <= 0 {
		return validate.New(pkg, option, "failure ratio must be in (0, 1] and window and open time positive, got %g, %s, %s",
			c.FailureRatio, c.Window, c.OpenFor)
	}
	return nil
}

// MinRate is the lowest rate limit a target may have: one attempt a
// minute. A slower one would hold its work for hours between attempts and
// look like a target that never receives anything.
const MinRate = 1.0 / 60

// ValidateRate checks a per-target rate limit in attempts per second: 0
// (no limit) or at least MinRate, and finite.
func ValidateRate(pkg, field string, r float64) error {
	if r == 0 {
		return nil
	}
	if math.IsNaN(r) || math.IsInf(r, 0) || r < MinRate {
		return validate.New(pkg, field, "must be 0 (no limit) or a finite number of at least %.4f per second (one a minute), got %g", MinRate, r)
	}
	return nil
}

// Guards holds a breaker and a rate limiter per target (an endpoint, a
// provider account). It is safe for concurrent use.
type Guards struct {
	cfg    BreakerConfig
	clock  clockwork.Clock
	onOpen func(target string, until time.Time)

	mu     sync.Mutex
	guards map[string]*guard
}

type guard struct {
	breaker   *gobreaker.TwoStepCircuitBreaker[struct{}]
	limiter   *rate.Limiter
	limit     float64
	openUntil time.Time // guarded by Guards.mu
}

// NewGuards returns an empty set of guards. onOpen, when not nil, is told
// each time a target's breaker opens (for a log line); it must not call
// back into the Guards.
func NewGuards(cfg BreakerConfig, clk clockwork.Clock, onOpen func(target string, until time.Time)) *Guards {
	return &Guards{cfg: cfg, clock: clk, onOpen: onOpen, guards: map[string]*guard{}}
}

// errNotAttempted tells the breaker an attempt it allowed was not made.
var errNotAttempted = errors.New("not attempted")

var errFailed = errors.New("attempt failed")

// Permit allows one attempt; report its outcome with Done, or NotAttempted.
type Permit struct {
	done func(error)
}

// Done reports the attempt's outcome to the target's breaker.
func (p *Permit) Done(ok bool) {
	if ok {
		p.done(nil)
	} else {
		p.done(errFailed)
	}
}

// NotAttempted returns the permit unused: the breaker does not count it.
func (p *Permit) NotAttempted() { p.done(errNotAttempted) }

// Reason says why Acquire gave no permit.
type Reason string

// Reasons for waiting.
const (
	// BreakerOpen: the target's breaker is open, or its one probe is out.
	BreakerOpen Reason = "breaker_open"
	// RateLimited: the target's rate limit is spent.
	RateLimited Reason = "rate_limited"
)

// Acquire asks to make one attempt to target now, at most limit attempts a
// second (0: no limit; a change of limit applies at once). It returns a
// Permit, or nil, how long to wait and why: the target's breaker is open
// (until it may probe, with up to a second of jitter), its probe is out
// (about 5 s), or its rate limit is spent (until the next token). A wait is
// a snooze, not a failure.
func (gs *Guards) Acquire(target string, limit float64) (*Permit, time.Duration, Reason) {
	g := gs.get(target, limit)
	now := gs.clock.Now()
	if until := gs.openUntil(g); now.Before(until) {
		return nil, until.Sub(now) + backoff.Jitter(time.Second, 1, nil), BreakerOpen
	}
	if r := g.limiter.ReserveN(now, 1); r.DelayFrom(now) > 0 {
		d := r.DelayFrom(now)
		r.CancelAt(now)
		return nil, d, RateLimited
	}
	done, err := g.breaker.Allow()
	if err != nil {
		if errors.Is(err, gobreaker.ErrTooManyRequests) {
			// Half-open and its one probe is out: wait for its verdict.
			return nil, backoff.Jitter(5*time.Second, 0.5, nil), BreakerOpen
		}
		return nil, gs.cfg.OpenFor, BreakerOpen
	}
	// Another attempt's probe may have failed and reopened the breaker
	// between the check above and Allow: look again.
	now = gs.clock.Now()
	if until := gs.openUntil(g); now.Before(until) {
		done(errNotAttempted)
		return nil, until.Sub(now) + backoff.Jitter(time.Second, 1, nil), BreakerOpen
	}
	return &Permit{done: done}, 0, ""
}

// Reset forgets target's breaker and limiter (after an operator resumed
// it, say): its next attempt starts with a closed breaker.
func (gs *Guards) Reset(target string) {
	gs.mu.Lock()
	delete(gs.guards, target)
	gs.mu.Unlock()
}

// Forget drops the guards of targets for which keep returns false, so that
// the map does not grow with targets that are gone.
func (gs *Guards) Forget(keep func(target string) bool) {
	gs.mu.Lock()
	for t := range gs.guards {
		if !keep(t) {
			delete(gs.guards, t)
		}
	}
	gs.mu.Unlock()
}

func (gs *Guards) openUntil(g *guard) time.Time {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	return g.openUntil
}

func burst(limit float64) int { return max(1, int(math.Ceil(limit))) }

// get returns target's guard, made once, with its limiter set to limit.
func (gs *Guards) get(target string, limit float64) *guard {
	lim := rate.Inf
	if limit > 0 {
		lim = rate.Limit(limit)
	}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	g := gs.guards[target]
	if g == nil {
		g = &guard{limit: limit, limiter: rate.NewLimiter(lim, burst(limit))}
		g.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        target,
			MaxRequests: 1,
			Interval:    gs.cfg.Window,
			// gobreaker measures its open period on the wall clock; the
			// guard keeps its own on its clock (openUntil), so gobreaker
			// may go half-open at once.
			Timeout: time.Nanosecond,
			ReadyToTrip: func(c gobreaker.Counts) bool {
				return c.Requests >= gs.cfg.MinRequests && float64(c.TotalFailures) >= gs.cfg.FailureRatio*float64(c.Requests)
			},
			IsExcluded: func(err error) bool { return errors.Is(err, errNotAttempted) },
			OnStateChange: func(_ string, _, to gobreaker.State) {
				if to != gobreaker.StateOpen {
					return
				}
				// Called with gobreaker's lock held, never with gs.mu.
				until := gs.clock.Now().Add(gs.cfg.OpenFor)
				gs.mu.Lock()
				g.openUntil = until
				gs.mu.Unlock()
				if gs.onOpen != nil {
					gs.onOpen(target, until)
				}
			},
		})
		gs.guards[target] = g
		return g
	}
	if g.limit != limit {
		now := gs.clock.Now()
		g.limit = limit
		g.limiter.SetLimitAt(now, lim)
		g.limiter.SetBurstAt(now, burst(limit))
	}
	return g
}
