package backoff_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/wedsync/integrations/internal/backoff"
)

func ExampleSchedule_Next() {
	s := backoff.DefaultSchedule()
	rnd := backoff.Seeded(1) // tests seed; production passes nil
	for attempt := 0; ; attempt++ {
		d, ok := s.Next(attempt, rnd)
		if !ok {
			fmt.Println("give up after", attempt, "attempts")
			break
		}
		base, _ := s.Delay(attempt)
		fmt.Printf("attempt %d: %v ±20%% -> within bounds %v\n", attempt, base,
			d >= base*8/10 && d <= base*12/10)
	}
	// Output:
	// attempt 0: 0s ±20% -> within bounds true
	// attempt 1: 5s ±20% -> within bounds true
	// attempt 2: 5m0s ±20% -> within bounds true
	// attempt 3: 30m0s ±20% -> within bounds true
	// attempt 4: 2h0m0s ±20% -> within bounds true
	// attempt 5: 5h0m0s ±20% -> within bounds true
	// attempt 6: 10h0m0s ±20% -> within bounds true
	// attempt 7: 10h0m0s ±20% -> within bounds true
	// give up after 8 attempts
}

func ExampleExponential_FullJitter() {
	e := backoff.Exponential{Base: 100 * time.Millisecond, Max: 10 * time.Second}
	for _, attempt := range []int{0, 3, 10, 1 << 40} {
		d := e.FullJitter(attempt)
		fmt.Printf("attempt %d: ceiling %v, in range %v\n", attempt, e.Ceiling(attempt), d >= 0 && d <= e.Ceiling(attempt))
	}
	// Output:
	// attempt 0: ceiling 100ms, in range true
	// attempt 3: ceiling 800ms, in range true
	// attempt 10: ceiling 10s, in range true
	// attempt 1099511627776: ceiling 10s, in range true
}

func ExampleParseRetryAfter() {
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	for _, h := range []string{"120", now.Add(90 * time.Second).Format(http.TimeFormat), "soon"} {
		d, ok := backoff.ParseRetryAfter(h, now)
		fmt.Println(d, ok)
	}
	// A server's wish, bounded to what we are willing to wait.
	d, _ := backoff.ParseRetryAfter("86400", now)
	fmt.Println(backoff.Clamp(d, time.Second, time.Hour))
	// Output:
	// 2m0s true
	// 1m30s true
	// 0s false
	// 1h0m0s
}
