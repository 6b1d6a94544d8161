package procstat_test

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wedsync/integrations/internal/procstat"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSelfAndReadSeeCPUUse(t *testing.T) {
	self, err := procstat.Self()
	if err != nil {
		t.Skip(err)
	}
	before, err := procstat.Read(os.Getpid())
	if err != nil {
		t.Skip(err)
	}
	// Spin until getrusage counts 150 ms of this process's CPU, or 10 s
	// pass: a fixed wall-clock spin got less than half its time on a loaded
	// machine (every package's tests at once on two CPUs). A getrusage
	// that counts nothing fails below after the 10 s; /proc is checked on
	// its own.
	deadline := time.Now().Add(10 * time.Second)
	var spun time.Duration
	for spun < 150*time.Millisecond && time.Now().Before(deadline) {
		t0 := time.Now()
		for time.Since(t0) < time.Millisecond {
		}
		if now, err := procstat.Self(); err == nil {
			spun = now - self
		}
	}
	after, err := procstat.Read(os.Getpid())
	require.NoError(t, err)
	require.GreaterOrEqual(t, after.CPU()-before.CPU(), 100*time.Millisecond, "a busy loop shows in /proc")
	now, err := procstat.Self()
	require.NoError(t, err)
	require.GreaterOrEqual(t, now-self, 100*time.Millisecond, "and in getrusage")
	require.False(t, after.KernelThread)

	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Skipf("no sleep command: %v", err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
	s, err := procstat.Read(sleeper.Process.Pid)
	require.NoError(t, err)
	require.Less(t, s.CPU(), 100*time.Millisecond, "a sleeping process")
	_, err = procstat.Read(1 << 30)
	require.Error(t, err, "no such process")
}
