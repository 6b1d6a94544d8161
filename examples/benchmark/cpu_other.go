//go:build !unix

package main

import "time"

// processCPU is not measured on this platform.
func processCPU() time.Duration { return 0 }

// machineBusy is not measured on this platform.
func machineBusy() (busy, total int64, ok bool) { return 0, 0, false }
