//go:build linux

package main

import (
	"bytes"
	"os"
	"strconv"
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
	self := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		name := e.Name()
		if name == self || name[0] < '0' || name[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue
		}
		// The fields after the command, which is in parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		// f[0] is field 3 (state); utime..cstime are fields 14..17,
		// flags is field 9.
		if len(f) < 15 {
			continue
		}
		flags, _ := strconv.ParseUint(string(f[6]), 10, 64)
		if flags&0x00200000 != 0 { // PF_KTHREAD
			continue
		}
		for _, v := range f[11:15] {
			n, _ := strconv.ParseInt(string(v), 10, 64)
			ticks += n
		}
	}
	return ticks, true
}
