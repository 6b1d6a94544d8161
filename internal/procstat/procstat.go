package procstat

import (
	"errors"
	"time"
)

// ErrUnsupported is returned where the platform offers no such reading.
var ErrUnsupported = errors.New("procstat: not available on this platform")

// Stat is what /proc/<pid>/stat says of a process's CPU use.
type Stat struct {
	// User and System are the CPU time the process used.
	User, System time.Duration
	// ChildUser and ChildSystem are its reaped children's.
	ChildUser, ChildSystem time.Duration
	// KernelThread is set for kernel threads (ksoftirqd and the like).
	KernelThread bool
}

// CPU is User plus System.
func (s Stat) CPU() time.Duration { return s.User + s.System }
