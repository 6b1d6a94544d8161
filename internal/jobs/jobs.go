package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Args is a job's payload. Kind names the handler; the value is stored as
// JSON, so its fields must be exported and JSON-serialisable.
type Args interface {
	Kind() string
}

// Job is one execution of a job handed to a handler.
type Job[T Args] struct {
	// ID identifies the job in its queue.
	ID int64
	// Args is the decoded payload.
	Args T
	// Attempt counts executions of this job, this one included (1 on the
	// first run; a run cut short by a crash counts too; snoozes do not).
	Attempt int
	// CreatedAt is when the job was inserted.
	CreatedAt time.Time
}

// Handler works one job.
type Handler[T Args] func(ctx context.Context, job *Job[T]) error

// InsertParams describes one job to insert.
type InsertParams struct {
	// Args is the payload; its Kind must have been registered.
	Args Args
	// RunAt delays the job; zero means now.
	RunAt time.Time
	// Priority orders available jobs: 1 runs first, 4 last. Zero means 1.
	Priority int
	// Unique drops the insert when a job of the same kind and args is
	// already waiting or running. It makes re-inserting the next step of a
	// chain idempotent when a crashed step runs twice.
	//
	// In Postgres mode River also counts a completed job that it still
	// keeps (24 h by default) as a duplicate, where memory mode forgets a
	// job once it has run: args that must run again after a success need
	// something that differs per run (an attempt number, a round), as
	// every unique job of this module carries.
	Unique bool
}

// Queue inserts and works jobs.
type Queue interface {
	// Insert enqueues jobs outside any host transaction.
	Insert(ctx context.Context, params ...InsertParams) error
	// InsertTx enqueues jobs inside the host's transaction: they exist only
	// if tx commits. A nil tx means Insert; memory queues return
	// ErrNoDatabase for a real one.
	InsertTx(ctx context.Context, tx pgx.Tx, params ...InsertParams) error
	// InTx runs fn in a transaction of the queue's database, committed when
	// fn returns nil; memory queues call fn with a nil tx. A package writes
	// its rows and the jobs that follow from them in one InTx, and its
	// stores accept the nil tx of memory mode.
	InTx(ctx context.Context, fn func(tx pgx.Tx) error) error
	// Start begins working jobs until Stop is called; ctx bounds the start
	// only (its end does not stop the queue).
	Start(ctx context.Context) error
	// Stop stops fetching and waits for running handlers to finish, or for
	// ctx to end: then it cancels the handlers and returns ctx.Err() at
	// once. Concurrent and later calls wait for the same stop, each within
	// its own context; Start fails until it has completed. Jobs not yet
	// finished stay queued (for good in Postgres mode).
	Stop(ctx context.Context) error
	// Stats counts the queue's jobs, for the queue-depth gauge.
	Stats(ctx context.Context) (Stats, error)
	// WaitIdle blocks until no job is running and none is due now (jobs
	// scheduled for later do not count), or ctx ends. Tests use it to know
	// the queue has settled before they move a fake clock or read results.
	WaitIdle(ctx context.Context) error
}

// Stats counts a queue's unfinished jobs.
type Stats struct {
	// Due jobs wait for a worker.
	Due int64
	// Scheduled jobs wait for their time (retries, snoozes).
	Scheduled int64
	// Running jobs are being worked.
	Running int64
}

// Config chooses and tunes a queue for Open.
type Config struct {
	// Pool switches to Postgres mode (River) when not nil. Defaults to nil:
	// memory mode.
	Pool *pgxpool.Pool
	// River tunes the Postgres-mode queue.
	River RiverConfig
	// Memory tunes the memory-mode queue.
	Memory MemoryConfig
}

// Open returns a River queue on cfg.Pool, or a memory queue when there is
// no pool: the one switch between the SDK's two modes.
func Open(ws *Workers, cfg Config) (Queue, error) {
	if cfg.Pool != nil {
		return NewRiver(cfg.Pool, ws, cfg.River)
	}
	return NewMemory(ws, cfg.Memory), nil
}

// ErrNoDatabase is returned by memory-mode calls that need Postgres.
var ErrNoDatabase = errors.New("jobs: this call needs Postgres mode (memory mode has no database transaction)")

// ErrUnknownKind is returned when inserting a kind no handler was registered for.
var ErrUnknownKind = errors.New("jobs: no handler registered for kind")

// SnoozeError asks for the job to run again after Duration without counting
// a failed attempt.
type SnoozeError struct{ Duration time.Duration }

func (e *SnoozeError) Error() string { return fmt.Sprintf("jobs: snoozed for %s", e.Duration) }

// Snooze returns a SnoozeError; negative durations count as zero.
func Snooze(d time.Duration) error {
	if d < 0 {
		d = 0
	}
	return &SnoozeError{Duration: d}
}

// CancelError stops a job for good.
type CancelError struct{ Err error }

func (e *CancelError) Error() string { return "jobs: cancelled: " + e.Err.Error() }
func (e *CancelError) Unwrap() error { return e.Err }

// Cancel wraps err so the job is not retried.
func Cancel(err error) error {
	if err == nil {
		err = errors.New("cancelled")
	}
	return &CancelError{Err: err}
}

// Workers collects handlers before a queue is built.
type Workers struct {
	byKind map[string]*worker
}

// NewWorkers returns an empty registry.
func NewWorkers() *Workers { return &Workers{byKind: map[string]*worker{}} }

// Register adds the handler for T's kind. Registering a kind twice panics,
// as with net/http's ServeMux: it is a programming error.
func Register[T Args](w *Workers, h Handler[T]) {
	var zero T
	kind := zero.Kind()
	if _, dup := w.byKind[kind]; dup {
		panic("jobs: kind registered twice: " + kind)
	}
	w.byKind[kind] = newWorker(kind, h)
}

func normPriority(p int) int {
	switch {
	case p <= 0:
		return 1
	case p > 4:
		return 4
	}
	return p
}
