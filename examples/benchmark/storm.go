package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// stormPublishTimeout bounds one Broadcast of the storm: a hub that holds
// publishers back (realtime.ErrHubBusy) answers within it.
const stormPublishTimeout = time.Second

// stormResult is one storm run: a publisher in a tight loop for the
// window, open-loop (it never waits for a delivery), to n subscribers.
type stormResult struct {
	n         int
	window    time.Duration
	accepted  int64 // Broadcast returned nil
	refused   int64 // Broadcast's context ended (the hub held it back)
	failed    int64 // any other error
	inWindow  int64 // deliveries read by clients during the window
	delivered int64 // deliveries read by clients once they stopped coming
	drain     time.Duration
	cuts      int64 // sockets cut as slow consumers
}

// stormBench runs the publish storm: for each -subscribers count, a hub,
// n clients that read every frame, and one publisher calling Broadcast as
// fast as it returns for the window (-duration, 5 s by default).
func stormBench(ctx context.Context, rc rtConfig, window time.Duration) error {
	if err := raiseFileLimit(uint64(2*slices.Max(rc.subscribers) + 1024)); err != nil {
		return err
	}
	fmt.Printf("publish storm: subscribers %v, one publisher in a tight loop for %s, payload %d B, vsn %s, %d run(s)\n",
		rc.subscribers, window, rc.payloadSize, rc.vsns[0], rc.repeat)
	fmt.Println("clients are in this process and share its CPUs with the hub and the publisher")
	fmt.Println()
	fmt.Printf("%-5s %-12s %12s %10s %14s %14s %10s %6s %s\n", "run", "subscribers", "accepted/s", "refused", "deliveries/s", "delivered", "drain", "cuts", "every live reader got every broadcast")
	var all []stormResult
	for r := 1; r <= rc.repeat; r++ {
		for _, n := range rc.subscribers {
			res, err := stormRun(ctx, rc, n, window)
			if err != nil {
				return fmt.Errorf("storm, %d subscribers: %w", n, err)
			}
			all = append(all, res)
			complete := res.delivered == res.accepted*int64(n-int(res.cuts))
			fmt.Printf("%-5d %-12d %12.0f %10d %14.0f %14d %10s %6d %v\n", r, n, float64(res.accepted)/window.Seconds(), res.refused,
				float64(res.inWindow)/window.Seconds(), res.delivered, res.drain.Round(time.Millisecond), res.cuts, complete)
			if res.failed > 0 {
				fmt.Printf("      %d broadcasts failed otherwise\n", res.failed)
			}
		}
	}
	if rc.repeat > 1 {
		fmt.Println()
		fmt.Println("medians:")
		for _, n := range rc.subscribers {
			var acc, del, cuts []float64
			for _, r := range all {
				if r.n == n {
					acc = append(acc, float64(r.accepted)/r.window.Seconds())
					del = append(del, float64(r.inWindow)/r.window.Seconds())
					cuts = append(cuts, float64(r.cuts))
				}
			}
			fmt.Printf("  %d subscribers: accepted %.0f publishes/s, %.0f deliveries/s, %.0f cuts\n", n, medianFloat(acc), medianFloat(del), medianFloat(cuts))
		}
	}
	return nil
}

func medianFloat(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

func stormRun(ctx context.Context, rc rtConfig, n int, window time.Duration) (stormResult, error) {
	res := stormResult{n: n, window: window}
	settle()
	vsn := rc.vsns[0]
	srv, err := newHubServer(vsn, rc.payloadSize)
	if err != nil {
		return res, err
	}
	defer srv.close()
	clients, got, err := dialCounters(ctx, srv, vsn, n)
	defer closeClients(clients)
	if err != nil {
		return res, err
	}
	end := time.Now().Add(window)
	for seq := 0; time.Now().Before(end); seq++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		bctx, cancel := context.WithTimeout(ctx, stormPublishTimeout)
		err := srv.send(bctx, seq)
		cancel()
		switch {
		case err == nil:
			res.accepted++
		case errors.Is(err, context.DeadlineExceeded):
			res.refused++
		default:
			res.failed++
		}
	}
	res.inWindow = got.Load()
	// Drain: until the clients stop receiving for a second (bounded).
	start, last, lastAt := time.Now(), got.Load(), time.Now()
	_ = waitEvery(ctx, time.Minute, 50*time.Millisecond, func() bool {
		if v := got.Load(); v != last {
			last, lastAt = v, time.Now()
		}
		return time.Since(lastAt) >= time.Second
	})
	res.drain = lastAt.Sub(start)
	res.delivered = got.Load()
	res.cuts = srv.slow()
	return res, nil
}
