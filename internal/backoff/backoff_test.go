package backoff_test

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/backoff"
)

const maxDuration = time.Duration(math.MaxInt64)

func constRand(f float64) backoff.Rand { return func() float64 { return f } }

func TestDefaultSchedule(t *testing.T) {
	t.Parallel()
	s := backoff.DefaultSchedule()
	require.Equal(t, backoff.Schedule{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute,
		2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}, s)

	s[1] = time.Hour
	require.Equal(t, 5*time.Second, backoff.DefaultSchedule()[1], "each call returns a fresh slice")

	for i, want := range backoff.DefaultSchedule() {
		d, ok := s.Delay(i)
		require.True(t, ok)
		if i != 1 {
			require.Equal(t, want, d)
		}
	}
	for _, attempt := range []int{-1, 8, 100, math.MaxInt, math.MinInt} {
		d, ok := s.Delay(attempt)
		require.False(t, ok, attempt)
		require.Zero(t, d)
		d, ok = s.Next(attempt, nil)
		require.False(t, ok, attempt)
		require.Zero(t, d)
	}
	var empty backoff.Schedule
	_, ok := empty.Delay(0)
	require.False(t, ok)
	d, ok := backoff.Schedule{-time.Second}.Delay(0)
	require.True(t, ok)
	require.Zero(t, d, "negative entries count as 0")
}

func TestScheduleNextJitter(t *testing.T) {
	t.Parallel()
	s := backoff.DefaultSchedule()
	rnd := backoff.Seeded(1)
	for range 1000 {
		d, ok := s.Next(0, rnd)
		require.True(t, ok)
		require.Zero(t, d, "the immediate first attempt stays immediate")
		for i := 1; i < len(s); i++ {
			d, ok := s.Next(i, rnd)
			require.True(t, ok)
			require.GreaterOrEqual(t, d, time.Duration(float64(s[i])*0.8))
			require.LessOrEqual(t, d, time.Duration(float64(s[i])*1.2))
		}
	}
}

func TestJitterBoundsAndSpread(t *testing.T) {
	t.Parallel()
	const samples = 20000
	for _, d := range []time.Duration{1, 7, time.Millisecond, 5 * time.Second, 10 * time.Hour} {
		for _, fraction := range []float64{0.05, backoff.DefaultJitter, 0.5, 1} {
			rnd := backoff.Seeded(42)
			lo := time.Duration(math.Floor(float64(d) * (1 - fraction)))
			hi := time.Duration(math.Ceil(float64(d) * (1 + fraction)))
			minSeen, maxSeen := maxDuration, time.Duration(-1)
			var sum float64
			for range samples {
				j := backoff.Jitter(d, fraction, rnd)
				if j < lo || j > hi {
					t.Fatalf("Jitter(%v, %v) = %v, want in [%v, %v]", d, fraction, j, lo, hi)
				}
				minSeen, maxSeen = min(minSeen, j), max(maxSeen, j)
				sum += float64(j)
			}
			if d < time.Millisecond {
				continue // too coarse for spread checks
			}
			width := float64(d) * 2 * fraction
			require.Less(t, float64(minSeen-lo), width*0.01, "reaches near the bottom: d=%v f=%v", d, fraction)
			require.Less(t, float64(hi-maxSeen), width*0.01, "reaches near the top: d=%v f=%v", d, fraction)
			require.InDelta(t, float64(d), sum/samples, width*0.02, "centred on d")
		}
	}
}

func TestJitterEdges(t *testing.T) {
	t.Parallel()
	const d = 10 * time.Second
	require.Zero(t, backoff.Jitter(0, 0.2, nil), "jitter on 0 stays 0")
	require.Zero(t, backoff.Jitter(-time.Second, 0.2, nil))
	require.Equal(t, d, backoff.Jitter(d, 0, nil))
	require.Equal(t, d, backoff.Jitter(d, -0.5, nil))
	require.Equal(t, d, backoff.Jitter(d, math.NaN(), nil))

	// Extreme and invalid Rand values stay within bounds.
	for _, f := range []float64{0, math.Nextafter(1, 0), 1, 2, -1, math.Inf(1), math.Inf(-1), math.NaN()} {
		j := backoff.Jitter(d, 0.2, constRand(f))
		require.GreaterOrEqual(t, j, 8*time.Second, "rand=%v", f)
		require.LessOrEqual(t, j, 12*time.Second, "rand=%v", f)
	}
	require.Equal(t, 8*time.Second, backoff.Jitter(d, 0.2, constRand(0)))
	require.Equal(t, d, backoff.Jitter(d, 0.2, constRand(0.5)))
	require.Equal(t, d, backoff.Jitter(d, 0.2, constRand(math.NaN())))

	// fraction above 1 is clamped to 1: [0, 2d].
	require.Zero(t, backoff.Jitter(d, 5, constRand(0)))
	require.InDelta(t, float64(2*d), float64(backoff.Jitter(d, 5, constRand(math.Nextafter(1, 0)))), 1e3)
}

func TestJitterOverflow(t *testing.T) {
	t.Parallel()
	top := constRand(math.Nextafter(1, 0))
	for _, d := range []time.Duration{maxDuration, maxDuration - 1, maxDuration / 2, maxDuration/2 + 1} {
		j := backoff.Jitter(d, 1, top)
		require.Positive(t, j, "d=%d", d)
		require.GreaterOrEqual(t, j, d, "d=%d", d)
	}
	require.Equal(t, maxDuration, backoff.Jitter(maxDuration, 0.2, top))
	require.Equal(t, maxDuration, backoff.Jitter(maxDuration, 0.2, constRand(0.5)))
	require.Positive(t, backoff.Jitter(maxDuration, 1, constRand(0.3)))
}

func TestSeededIsRepeatable(t *testing.T) {
	t.Parallel()
	a, b, c := backoff.Seeded(7), backoff.Seeded(7), backoff.Seeded(8)
	same, differ := true, false
	for range 100 {
		x, y, z := a(), b(), c()
		same = same && x == y
		differ = differ || x != z
		require.GreaterOrEqual(t, x, 0.0)
		require.Less(t, x, 1.0)
	}
	require.True(t, same)
	require.True(t, differ)
}

func TestExponentialCeiling(t *testing.T) {
	t.Parallel()
	e := backoff.Exponential{Base: 100 * time.Millisecond, Max: 30 * time.Second}
	cases := []struct {
		attempt int
		want    time.Duration
	}{
		{-5, 100 * time.Millisecond},
		{0, 100 * time.Millisecond},
		{1, 200 * time.Millisecond},
		{2, 400 * time.Millisecond},
		{8, 25600 * time.Millisecond},
		{9, 30 * time.Second},
		{62, 30 * time.Second},
		{63, 30 * time.Second},
		{64, 30 * time.Second},
		{1000, 30 * time.Second},
		{math.MaxInt, 30 * time.Second},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, e.Ceiling(tc.attempt), "attempt %d", tc.attempt)
	}

	require.Zero(t, backoff.Exponential{}.Ceiling(10))
	require.Zero(t, backoff.Exponential{Base: -time.Second, Max: time.Hour}.Ceiling(3))
	require.Equal(t, time.Minute, backoff.Exponential{Base: time.Hour, Max: time.Minute}.Ceiling(0), "Base above Max")
}

func TestExponentialOverflowSafe(t *testing.T) {
	t.Parallel()
	for _, base := range []time.Duration{1, 3, time.Nanosecond * 1000003, time.Second, time.Hour, maxDuration / 3, maxDuration} {
		for _, maxD := range []time.Duration{0, -1, time.Hour, maxDuration, maxDuration - 1} {
			e := backoff.Exponential{Base: base, Max: maxD}
			limit := maxD
			if limit <= 0 {
				limit = maxDuration
			}
			prev := time.Duration(0)
			for attempt := range 200 {
				c := e.Ceiling(attempt)
				require.Positive(t, c, "base=%d max=%d attempt=%d", base, maxD, attempt)
				require.LessOrEqual(t, c, limit)
				require.GreaterOrEqual(t, c, prev, "monotonic: base=%d max=%d attempt=%d", base, maxD, attempt)
				prev = c
				j := e.FullJitter(attempt)
				require.GreaterOrEqual(t, j, time.Duration(0))
				require.LessOrEqual(t, j, c)
			}
			require.Equal(t, limit, e.Ceiling(math.MaxInt))
		}
	}
	// With no Max the ceiling is the largest Duration, never a wrapped value.
	e := backoff.Exponential{Base: time.Second}
	require.Equal(t, maxDuration, e.Ceiling(40))
	require.Equal(t, maxDuration, backoff.Exponential{Base: time.Second, Rand: constRand(1)}.Ceiling(100))
	require.LessOrEqual(t, backoff.Exponential{Base: time.Second, Rand: constRand(1)}.FullJitter(100), maxDuration)
	require.Positive(t, backoff.Exponential{Base: time.Second, Rand: constRand(1)}.FullJitter(100))
}

func TestFullJitterBoundsAndSpread(t *testing.T) {
	t.Parallel()
	e := backoff.Exponential{Base: time.Second, Max: time.Minute, Rand: backoff.Seeded(3)}
	const samples = 20000
	for _, attempt := range []int{0, 1, 3, 10} {
		c := e.Ceiling(attempt)
		minSeen, maxSeen := maxDuration, time.Duration(-1)
		var sum float64
		for range samples {
			j := e.FullJitter(attempt)
			if j < 0 || j > c {
				t.Fatalf("FullJitter(%d) = %v, want in [0, %v]", attempt, j, c)
			}
			minSeen, maxSeen = min(minSeen, j), max(maxSeen, j)
			sum += float64(j)
		}
		require.Less(t, float64(minSeen), float64(c)*0.01, "attempt %d reaches near 0", attempt)
		require.Greater(t, float64(maxSeen), float64(c)*0.99, "attempt %d reaches near the ceiling", attempt)
		require.InDelta(t, float64(c)/2, sum/samples, float64(c)*0.02, "mean is half the ceiling")
	}
	require.Equal(t, time.Duration(0), backoff.Exponential{Base: time.Second, Rand: constRand(0)}.FullJitter(2))
	require.Equal(t, 4*time.Second, backoff.Exponential{Base: time.Second, Rand: constRand(1)}.FullJitter(2))
}

// TestDefaultSourceConcurrent is meaningful under -race: the nil Rand must
// be safe to share.
func TestDefaultSourceConcurrent(t *testing.T) {
	t.Parallel()
	s := backoff.DefaultSchedule()
	e := backoff.Exponential{Base: time.Millisecond, Max: time.Second}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 1000 {
				d, _ := s.Next(i%len(s), nil)
				if d < 0 {
					panic("negative delay")
				}
				_ = backoff.Jitter(time.Second, 0.2, nil)
				if j := e.FullJitter(i % 20); j < 0 || j > time.Second {
					panic("out of range")
				}
			}
		})
	}
	wg.Wait()
}

func TestClamp(t *testing.T) {
	t.Parallel()
	cases := []struct{ d, lo, hi, want time.Duration }{
		{5 * time.Second, time.Second, time.Minute, 5 * time.Second},
		{0, time.Second, time.Minute, time.Second},
		{-time.Hour, 0, time.Minute, 0},
		{time.Hour, time.Second, time.Minute, time.Minute},
		{time.Second, time.Second, time.Second, time.Second},
		{maxDuration, 0, time.Hour, time.Hour},
		{time.Second, time.Minute, time.Second, time.Second}, // hi < lo: hi wins
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, backoff.Clamp(tc.d, tc.lo, tc.hi), "%+v", tc)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"120", 2 * time.Minute, true},
		{"0", 0, true},
		{"  30\t", 30 * time.Second, true},
		{"007", 7 * time.Second, true},
		{"-5", 0, true},
		{"-0", 0, true},
		{"9223372036", 9223372036 * time.Second, true},
		{"9223372037", maxDuration, true},
		{"99999999999999999999999999", maxDuration, true},

		// IMF-fixdate, RFC 850 and asctime forms.
		{"Sat, 14 Mar 2026 12:01:30 GMT", 90 * time.Second, true},
		{"Saturday, 14-Mar-26 12:00:10 GMT", 10 * time.Second, true},
		{"Sat Mar 14 13:00:00 2026", time.Hour, true},
		{"Sat, 14 Mar 2026 11:00:00 GMT", 0, true}, // in the past
		{"Thu, 01 Jan 1970 00:00:00 GMT", 0, true},

		{"", 0, false},
		{"   ", 0, false},
		{"abc", 0, false},
		{"1.5", 0, false},
		{"+5", 0, false},
		{"5s", 0, false},
		{"-", 0, false},
		{"--5", 0, false},
		{"12 34", 0, false},
		{"0x10", 0, false},
		{"Sat, 14 Mar 2026 12:01:30", 0, false}, // no zone
		{"2026-03-14T12:01:30Z", 0, false},      // RFC 3339 is not an HTTP-date
	}
	for _, tc := range cases {
		d, ok := backoff.ParseRetryAfter(tc.in, now)
		require.Equal(t, tc.ok, ok, "%q", tc.in)
		require.Equal(t, tc.want, d, "%q", tc.in)
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{
		"120", "0", "-5", "", " 1 ", "1.5", "99999999999999999999999",
		"Sat, 14 Mar 2026 12:01:30 GMT", "Saturday, 14-Mar-26 12:00:10 GMT",
		"Sat Mar 14 13:00:00 2026", "garbage", "-", "\x00",
	} {
		f.Add(s, int64(1773489600))
	}
	f.Fuzz(func(t *testing.T, header string, nowUnix int64) {
		now := time.Unix(nowUnix, 0)
		d, ok := backoff.ParseRetryAfter(header, now)
		if d < 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v: negative", header, d)
		}
		if !ok && d != 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v, false: want 0 when not ok", header, d)
		}
		d2, ok2 := backoff.ParseRetryAfter(header, now)
		if d != d2 || ok != ok2 {
			t.Fatalf("ParseRetryAfter(%q) is not deterministic", header)
		}
	})
}
