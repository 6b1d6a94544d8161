//go:build !unix

package procstat

import "time"

// Self is not available on this platform.
func Self() (time.Duration, error) { return 0, ErrUnsupported }
