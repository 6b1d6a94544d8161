//go:build !linux

package main

func othersCPU() (ticks int64, ok bool) { return 0, false }
