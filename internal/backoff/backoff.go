package backoff

import (
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxDuration is the largest time.Duration; results saturate there instead of
// overflowing.
const maxDuration = time.Duration(math.MaxInt64)

// DefaultJitter is the fraction Schedule.Next spreads a delay by: ±20%.
const DefaultJitter = 0.2

// Rand returns a pseudo-random float64, uniformly distributed in [0, 1). A
// nil Rand means rand.Float64 from math/rand/v2, which is safe for concurrent
// use. Values outside [0, 1) are clamped into it, and NaN counts as 0.5.
type Rand func() float64

// Seeded returns a Rand with a fixed sequence for seed, for tests. Unlike
// the nil Rand it is NOT safe for concurrent use.
func Seeded(seed uint64) Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)).Float64
}

// float draws from rnd (or the default source) and clamps into [0, 1).
func (rnd Rand) float() float64 {
	var f float64
	if rnd == nil {
		f = rand.Float64()
	} else {
		f = rnd()
	}
	switch {
	case math.IsNaN(f):
		return 0.5
	case f < 0:
		return 0
	case f >= 1:
		return math.Nextafter(1, 0)
	}
	return f
}

// fromFloat converts a non-negative float64 number of nanoseconds to a
// Duration, saturating at the largest Duration.
func fromFloat(ns float64) time.Duration {
	switch {
	case !(ns > 0): // also NaN
		return 0
	case ns >= float64(math.MaxInt64): // 2^63: not representable
		return maxDuration
	}
	return time.Duration(ns)
}

// Jitter returns d moved by a uniformly random amount of up to ±fraction of
// d, that is a value in [d*(1-fraction), d*(1+fraction)], drawn from rnd (nil
// means the concurrency-safe default). fraction is clamped to [0, 1]; NaN
// counts as 0. A zero or negative d gives 0: an immediate retry stays
// immediate. The result saturates at the largest Duration.
func Jitter(d time.Duration, fraction float64, rnd Rand) time.Duration {
	if d <= 0 {
		return 0
	}
	switch {
	case !(fraction > 0): // also NaN
		return d
	case fraction > 1:
		fraction = 1
	}
	factor := 1 + fraction*(2*rnd.float()-1)
	return fromFloat(float64(d) * factor)
}

// Schedule is a fixed list of delays: element i is how long to wait before
// attempt i (counting from 0, the first attempt). When the list runs out,
// the caller gives up.
type Schedule []time.Duration

// DefaultSchedule returns the webhook retry schedule Svix uses: the first
// attempt immediately, then retries after 5s, 5m, 30m, 2h, 5h, 10h and 10h,
// eight attempts over about a day. Each call returns a fresh slice.
func DefaultSchedule() Schedule {
	return Schedule{
		0,
		5 * time.Second,
		5 * time.Minute,
		30 * time.Minute,
		2 * time.Hour,
		5 * time.Hour,
		10 * time.Hour,
		10 * time.Hour,
	}
}

// Delay returns the unjittered delay before attempt (0-based) and true, or
// 0 and false when attempt is negative or past the end of s.
func (s Schedule) Delay(attempt int) (time.Duration, bool) {
	if attempt < 0 || attempt >= len(s) {
		return 0, false
	}
	return max(s[attempt], 0), true
}

// Next returns the delay before attempt with DefaultJitter applied, drawing
// from rnd (nil means the concurrency-safe default), and false when the
// schedule is exhausted.
func (s Schedule) Next(attempt int, rnd Rand) (time.Duration, bool) {
	d, ok := s.Delay(attempt)
	if !ok {
		return 0, false
	}
	return Jitter(d, DefaultJitter, rnd), true
}

// Exponential is exponential backoff with full jitter. The zero value gives
// 0 for every attempt.
type Exponential struct {
	// Base is the ceiling for attempt 0; it doubles with each attempt.
	// Defaults to 0 (no delay).
	Base time.Duration
	// Max caps the ceiling. Defaults to 0, which means no cap other than
	// the largest Duration.
	Max time.Duration
	// Rand is the random source for FullJitter. Defaults to nil, the
	// concurrency-safe math/rand/v2 source.
	Rand Rand
}

// Ceiling returns min(Max, Base*2^attempt), computed without overflow for
// any attempt; a negative attempt counts as 0.
func (e Exponential) Ceiling(attempt int) time.Duration {
	limit := e.Max
	if limit <= 0 {
		limit = maxDuration
	}
	switch {
	case e.Base <= 0:
		return 0
	case e.Base >= limit:
		return limit
	}
	attempt = max(attempt, 0)
	if attempt >= 63 || e.Base > limit>>uint(attempt) {
		return limit
	}
	return e.Base << uint(attempt)
}

// FullJitter returns a delay drawn uniformly from [0, Ceiling(attempt)].
func (e Exponential) FullJitter(attempt int) time.Duration {
	c := e.Ceiling(attempt)
	if c <= 0 {
		return 0
	}
	// floor(r*(c+1)) maps [0, 1) onto the integers 0..c evenly; the float
	// rounding for huge c is absorbed by the min.
	return min(fromFloat(e.Rand.float()*(float64(c)+1)), c)
}

// Clamp returns d bounded to [lo, hi]. If hi < lo, hi wins.
func Clamp(d, lo, hi time.Duration) time.Duration {
	return min(max(d, lo), hi)
}

// ParseRetryAfter reads a Retry-After header value (RFC 9110, section
// 10.2.3) and returns how long the server asked to wait, measured from now.
// It accepts delta-seconds ("120") and an HTTP-date in any of the three
// formats http.ParseTime knows. Surrounding whitespace is ignored. A date in
// the past or a negative number gives 0 and true; a number too large for a
// Duration saturates at the largest Duration (bound it with Clamp). Anything
// else, including an empty value and fractional seconds, gives 0 and false.
func ParseRetryAfter(header string, now time.Time) (time.Duration, bool) {
	h := strings.TrimSpace(header)
	if h == "" {
		return 0, false
	}
	if digits, neg := strings.CutPrefix(h, "-"); isDigits(digits) {
		if neg {
			return 0, true
		}
		n, err := strconv.ParseInt(digits, 10, 64)
		if err != nil || n > int64(maxDuration/time.Second) {
			return maxDuration, true // only ErrRange is possible here
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(h)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
