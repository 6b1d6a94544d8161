// Package crashtest is the SIGKILL crash test every durable package runs:
// the test binary re-executes itself as a worker process, which is killed
// with SIGKILL at random points of its work and restarted, and the test then
// checks that nothing was lost. webhook/delivery and notify use it; calendar
// and wedmesync will.
package crashtest

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"
)

// Config describes one crash test.
type Config struct {
	// Env is added to the worker's environment; the package's TestMain
	// recognises it and runs the worker instead of the tests.
	Env []string
	// Total is how many items the work has.
	Total int
	// Kills is how many times the worker is killed.
	Kills int
	// Wait blocks until at least n items have arrived, or ctx ends.
	Wait func(ctx context.Context, n int) error
	// Count is how many items have arrived (duplicates included).
	Count func() int
	// Done reports whether every item has arrived at least once.
	Done func() bool
}

// Run kills the worker after each of Kills random arrival counts (in the
// first nine tenths of Total), restarting it each time, then lets a last
// worker run until Done or four minutes pass, and stops it with SIGTERM.
// The caller checks what arrived. The kill points' seed is logged.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	var child *exec.Cmd
	start := func() {
		child = exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), cfg.Env...)
		child.Stderr = os.Stderr
		if err := child.Start(); err != nil {
			t.Fatalf("start worker: %v", err)
		}
	}
	t.Cleanup(func() {
		if child != nil && child.ProcessState == nil {
			_ = child.Process.Kill()
			_ = child.Wait()
		}
	})

	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 7))
	points := make([]int, cfg.Kills)
	for i := range points {
		points[i] = 1 + rng.IntN(cfg.Total*9/10)
	}
	slices.Sort(points)
	t.Logf("seed %d; kills after these arrival counts: %v", seed, points)

	for _, p := range points {
		start()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		err := cfg.Wait(ctx, p)
		cancel()
		if err != nil {
			t.Fatalf("work resumes after a restart: reached %d of %d: %v", cfg.Count(), p, err)
		}
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("kill worker: %v", err)
		}
		_ = child.Wait()
	}

	start()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for !cfg.Done() {
		// Wait for the next arrival rather than poll.
		if cfg.Wait(ctx, cfg.Count()+1) != nil {
			break
		}
	}
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("stop worker: %v", err)
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("the worker did not stop cleanly on SIGTERM: %v", err)
	}
}
