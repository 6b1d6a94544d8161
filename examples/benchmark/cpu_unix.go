//go:build unix

package main

import (
	"bytes"
	"os"
	"strconv"
	"time"

	"github.com/wedsync/integrations/internal/procstat"
)

// processCPU returns the user+system CPU time this process has used.
func processCPU() time.Duration {
	d, _ := procstat.Self()
	return d
}

// machineBusy returns the busy and total time of all CPUs from
// /proc/stat (Linux), in clock ticks; ok is false elsewhere.
func machineBusy() (busy, total int64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 5 || string(f[0]) != "cpu" {
		return 0, 0, false
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, true
}
