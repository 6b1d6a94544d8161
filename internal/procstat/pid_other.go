//go:build !linux

package procstat

// Read is not available on this platform: it needs Linux's /proc.
func Read(int) (Stat, error) { return Stat{}, ErrUnsupported }
