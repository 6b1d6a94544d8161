//go:build unix

package procstat

import (
	"syscall"
	"time"
)

// Self returns the CPU time (user and system, all threads) this process
// has used.
func Self() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
