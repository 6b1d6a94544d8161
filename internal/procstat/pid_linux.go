package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// ClockTick is the unit of /proc/<pid>/stat's times: USER_HZ, which is 100
// on every Linux architecture Go supports.
const ClockTick = 10 * time.Millisecond

// pfKthread is the flags bit of a kernel thread (PF_KTHREAD).
const pfKthread = 0x00200000

// Read returns process pid's CPU use from /proc/<pid>/stat.
func Read(pid int) (Stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Stat{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count the fields after its closing one. f[0] is field 3 (state),
	// flags is field 9, utime, stime, cutime and cstime are 14 to 17.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, fmt.Errorf("procstat: /proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 15 {
		return Stat{}, fmt.Errorf("procstat: /proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks [4]int64
	for j := range ticks {
		if ticks[j], err = strconv.ParseInt(string(f[11+j]), 10, 64); err != nil {
			return Stat{}, fmt.Errorf("procstat: /proc/%d/stat: field %d: %w", pid, 14+j, err)
		}
	}
	flags, _ := strconv.ParseUint(string(f[6]), 10, 64)
	return Stat{
		User: time.Duration(ticks[0]) * ClockTick, System: time.Duration(ticks[1]) * ClockTick,
		ChildUser: time.Duration(ticks[2]) * ClockTick, ChildSystem: time.Duration(ticks[3]) * ClockTick,
		KernelThread: flags&pfKthread != 0,
	}, nil
}
