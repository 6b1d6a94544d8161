//go:build unix

package main

import (
	"fmt"
	"syscall"
)

// raiseFileLimit raises the soft RLIMIT_NOFILE to at least want (up to the
// hard limit): every subscriber costs two descriptors, one per end.
func raiseFileLimit(want uint64) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if l.Cur >= want {
		return nil
	}
	if l.Max < want {
		return fmt.Errorf("RLIMIT_NOFILE hard limit is %d, %d needed: raise it (ulimit -Hn) or use fewer subscribers", l.Max, want)
	}
	l.Cur = want
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("setrlimit: %w", err)
	}
	return nil
}
