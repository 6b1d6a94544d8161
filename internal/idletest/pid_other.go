//go:build !linux

package idletest

import (
	"errors"
	"time"
)

func pidCPU(int) (time.Duration, error) {
	return 0, errors.New("reading another process's CPU time needs Linux's /proc")
}
