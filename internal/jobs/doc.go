// Package jobs is the durable job layer every package builds on.
//
// There are two implementations of one interface. In Postgres mode (NewRiver)
// jobs are River jobs (github.com/riverqueue/river with riverpgxv5): inserted
// in the host's pgx.Tx so that a rolled-back business write enqueues nothing,
// claimed with FOR UPDATE SKIP LOCKED by any number of host instances, and
// rescued after a crash. In memory mode (NewMemory) an in-process scheduler
// runs the same handlers with the same ordering rules (priority, then due
// time, then insertion order) and loses everything on exit.
//
// Open is the one switch between the modes: a package hands it the host's
// pool, or nil, and gets a Queue. InTx runs a function in a transaction of
// the queue's database (with a nil transaction in memory mode) and InsertTx
// with a nil transaction is a plain insert, so that a package's stores and
// its job inserts are written once for both modes. Stats counts the queue's
// jobs and WaitIdle waits until nothing is due, for gauges and tests.
//
// A handler returns nil when the job is done, Snooze(d) to run it again
// later without counting a failure (a breaker is open, a rate limit is
// full), Cancel(err) to give up for good, or any other error to be retried
// with River's backoff.
package jobs
