package idletest

import (
	"fmt"
	"testing"
	"time"

	"github.com/wedsync/integrations/internal/procstat"
)

// Window is how long CPU is watched. Idleness can only be observed over
// real time: nothing here waits for an event.
const Window = 300 * time.Millisecond

// MaxShare is the most CPU, as a share of the window, an idle process may
// use (the runtime, the race detector's bookkeeping and the test's own
// timers account for a little). A spinning goroutine uses 100%.
const MaxShare = 0.2

// CPU returns the CPU time (user and system, all threads) the process
// used during window.
func CPU(t testing.TB, window time.Duration) time.Duration {
	t.Helper()
	return watch(t, window, "this process", procstat.Self)
}

// RequireIdle fails t if the process used more than MaxShare of a Window
// of CPU while what describes waits.
func RequireIdle(t testing.TB, what string) {
	t.Helper()
	require(t, "the process", what, CPU(t, Window))
}

// RequireProcessIdle fails t if process pid (a child the test started:
// the demo, a worker) used more than MaxShare of a Window of CPU while
// what describes waits. It needs Linux's /proc, and skips elsewhere.
func RequireProcessIdle(t testing.TB, pid int, what string) {
	t.Helper()
	used := watch(t, Window, fmt.Sprintf("process %d", pid), func() (time.Duration, error) {
		s, err := procstat.Read(pid)
		return s.CPU(), err
	})
	require(t, fmt.Sprintf("process %d", pid), what, used)
}

// watch returns how much read's CPU time grew over window; it skips t when
// the first reading fails (the platform cannot tell).
func watch(t testing.TB, window time.Duration, who string, read func() (time.Duration, error)) time.Duration {
	t.Helper()
	before, err := read()
	if err != nil {
		t.Skipf("idletest: cannot read the CPU time of %s here: %v", who, err)
	}
	<-time.After(window)
	after, err := read()
	if err != nil {
		t.Fatalf("idletest: %v", err)
	}
	return after - before
}

func require(t testing.TB, who, what string, used time.Duration) {
	t.Helper()
	t.Logf("CPU used by %s in %s while %s: %s", who, Window, what, used)
	if limit := time.Duration(float64(Window) * MaxShare); used > limit {
		t.Fatalf("%s: %s used %s of CPU in %s (limit %s): something spins", what, who, used, Window, limit)
	}
}
