//go:build !unix

package idletest

import (
	"errors"
	"time"
)

func processCPU() (time.Duration, error) {
	return 0, errors.New("getrusage is not available on this platform")
}
