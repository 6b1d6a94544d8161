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
	used := idletest.CPU(t, 100*time.Millisecond)
	cancel()
	<-done
	require.Greater(t, used, 50*time.Millisecond, "a busy loop uses about the whole window")
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
