package main

import (
	"testing"
	"time"
)

// hookWatch collects what one of run's test hooks reports (config.onAttempt,
// onNotify, onWedMe), for a test to wait on.
type hookWatch[T any] struct {
	t  *testing.T
	ch chan T
}

func newHookWatch[T any](t *testing.T) *hookWatch[T] {
	return &hookWatch[T]{t: t, ch: make(chan T, 1024)}
}

// report is the hook: it never blocks run (a full watch drops the report).
func (w *hookWatch[T]) report(v T) {
	select {
	case w.ch <- v:
	default:
	}
}

// wait waits, for at most 30 s, for a report for which ok holds, and
// returns it; it fails the test, saying what it waited for, otherwise.
func (w *hookWatch[T]) wait(what string, ok func(T) bool) T {
	w.t.Helper()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case v := <-w.ch:
			if ok(v) {
				return v
			}
		case <-timeout.C:
			w.t.Fatalf("waited 30 s for %s", what)
		}
	}
}
