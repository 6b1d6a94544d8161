package idletest

import (
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
	before, err := procstat.Self()
	if err != nil {
		t.Skipf("idletest: cannot read process CPU time here: %v", err)
	}
	<-time.After(window)
	after, err := procstat.Self()
	if err != nil {
		t.Fatalf("idletest: %v", err)
	}
	return after - before
}

// RequireIdle fails t if the process used more than MaxShare of a Window
// of CPU while what describes waits.
func RequireIdle(t testing.TB, what string) {
	t.Helper()
	used := CPU(t, Window)
	t.Logf("CPU used in %s while %s: %s", Window, what, used)
	if limit := time.Duration(float64(Window) * MaxShare); used > limit {
		t.Fatalf("%s: the process used %s of CPU in %s (limit %s): something spins", what, used, Window, limit)
	}
}

// ProcessCPU returns the CPU time (user and system) process pid has used
// so far, for a test that watches a child process (the demo, a worker).
func ProcessCPU(pid int) (time.Duration, error) {
	s, err := procstat.Read(pid)
	return s.CPU(), err
}

// RequireProcessIdle fails t if process pid used more than MaxShare of a
// Window of CPU while what describes waits.
func RequireProcessIdle(t testing.TB, pid int, what string) {
	t.Helper()
	before, err := ProcessCPU(pid)
	if err != nil {
		t.Skipf("idletest: cannot read the CPU time of process %d here: %v", pid, err)
	}
	<-time.After(Window)
	after, err := ProcessCPU(pid)
	if err != nil {
		t.Fatalf("idletest: %v", err)
	}
	used := after - before
	t.Logf("CPU used by process %d in %s while %s: %s", pid, Window, what, used)
	if limit := time.Duration(float64(Window) * MaxShare); used > limit {
		t.Fatalf("%s: process %d used %s of CPU in %s (limit %s): something spins", what, pid, used, Window, limit)
	}
}
