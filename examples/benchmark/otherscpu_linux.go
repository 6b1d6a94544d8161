//go:build linux

package main

import (
	"os"
	"strconv"

	"github.com/wedsync/integrations/internal/procstat"
)

// othersCPU returns the CPU time, in clock ticks (USER_HZ, 100 a second
// on Linux), that user processes other than this one have used: utime,
// stime and their reaped children's cutime and cstime, from /proc/*/stat.
// Kernel threads (ksoftirqd, which may carry this process's loopback
// traffic) are left out. ok is false when /proc cannot be read.
func othersCPU() (ticks int64, ok bool) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		st, err := procstat.Read(pid)
		if err != nil || st.KernelThread {
			continue
		}
		ticks += int64((st.CPU() + st.ChildUser + st.ChildSystem) / procstat.ClockTick)
	}
	return ticks, true
}
