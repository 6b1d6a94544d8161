package idletest_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wedsync/integrations/internal/idletest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCPUSeesASpinningGoroutine(t *testing.T) {
	idletest.RequireIdle(t, "nothing runs")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
		}
	}()
	const window = 100 * time.Millisecond
	used := idletest.CPU(t, window)
	cancel()
	<-done
	// Alone it uses about the whole window; on a loaded CI machine (every
	// package's tests at once on two CPUs) less. What matters is that
	// RequireIdle would catch it: more than MaxShare of the window.
	require.Greater(t, used, time.Duration(idletest.MaxShare*float64(window)), "a busy loop is seen")
}

// A sleeping child is idle; reading this process's own CPU is procstat's
// test.
func TestRequireProcessIdleOnASleepingChild(t *testing.T) {
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Skipf("no sleep command: %v", err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
	idletest.RequireProcessIdle(t, sleeper.Process.Pid, "sleep(1) sleeps")
}
