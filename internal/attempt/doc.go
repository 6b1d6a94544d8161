// Package attempt is the attempt chain every durable sender of the SDK
// shares: webhook deliveries today, notifications, calendar writes and
// WedMe pushes next. It is the skeleton a new package builds on instead of
// copying webhook/delivery.
//
// The chain is one durable job per attempt (internal/jobs). A job:
//
//  1. checks, when it runs again after a crash (job.Attempt > 1), whether
//     its first run already recorded the attempt: then the work is done and
//     nothing is sent twice (AlreadyDone);
//  2. asks the target's Guard for a Permit: a circuit breaker (opens when a
//     share of recent attempts failed) and a rate limiter per target, both
//     answered with a snooze, never a failed attempt, so one dead target
//     cannot slow the others (Guards);
//  3. makes the attempt, and reports its outcome to the Permit;
//  4. asks the Policy when to try again: a schedule of delays with jitter,
//     at least a minute after a timeout or a 429, Retry-After honoured up to
//     a cap (Policy.Next);
//  5. writes the attempt's row and the next attempt's job in one
//     transaction (Recorder.Record), so that a crash can neither lose the
//     retry nor fork the chain: the next job is unique by its arguments.
//
// In memory mode the same steps run with a nil transaction.
package attempt
