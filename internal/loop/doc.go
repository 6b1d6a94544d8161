// Package loop holds the timer loops every long-running component of the
// SDK needs, written once so that each of them waits on its clock, stops
// when its context ends, and costs nothing while idle:
//
//   - Sleep waits on a clock or until a context ends;
//   - Every runs a function periodically (a prune, a sweep, a trim);
//   - Retry calls a function until it succeeds, with exponential backoff
//     and full jitter between failures (a lost LISTEN connection).
//
// All three take a clockwork.Clock, so tests drive them with a fake clock,
// and none of them polls: between runs a goroutine blocks on one timer.
package loop
