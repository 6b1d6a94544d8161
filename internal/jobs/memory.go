package jobs

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jonboulle/clockwork"
)

// MemoryConfig tunes the memory queue. Zero fields take the defaults.
type MemoryConfig struct {
	// Workers is how many handlers run at once. Defaults to 64.
	Workers int
	// MaxAttempts bounds retries of handlers that return plain errors.
	// Defaults to 25, as River.
	MaxAttempts int
	// Clock drives due times. Defaults to the wall clock.
	Clock clockwork.Clock
}

// MemoryQueue is the memory-mode Queue: an in-process scheduler with River's
// ordering (priority, then due time, then insertion order). Nothing survives
// the process.
type MemoryQueue struct {
	cfg     MemoryConfig
	workers map[string]*worker

	mu        sync.Mutex
	seq       int64
	scheduled schedHeap // waiting for their due time
	ready     readyHeap // due, ordered by priority
	active    map[string]bool
	wake      chan struct{}
	running   bool
	stopping  chan struct{}      // closed once a stop has seen every goroutine end
	stopFetch context.CancelFunc // stops the dispatcher
	stopWork  context.CancelFunc // cancels running handlers
	wg        sync.WaitGroup
	busy      int           // handed to a worker and not finished
	changed   chan struct{} // closed and replaced when a job finishes

	wakeups atomic.Int64 // dispatcher loop turns, for the idle test
}

type memJob struct {
	id       int64
	kind     string
	raw      []byte
	runAt    time.Time
	priority int
	attempt  int
	created  time.Time
	unique   string
}

// NewMemory returns a memory-mode queue.
func NewMemory(ws *Workers, cfg MemoryConfig) *MemoryQueue {
	if cfg.Workers <= 0 {
		cfg.Workers = 64
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 25
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	return &MemoryQueue{
		cfg:     cfg,
		workers: ws.byKind,
		active:  map[string]bool{},
		wake:    make(chan struct{}, 1),
		changed: make(chan struct{}),
	}
}

// Insert enqueues jobs.
func (q *MemoryQueue) Insert(ctx context.Context, ps ...InsertParams) error {
	now := q.cfg.Clock.Now()
	jobs := make([]*memJob, 0, len(ps))
	for _, p := range ps {
		kind := p.Args.Kind()
		if q.workers[kind] == nil {
			return fmt.Errorf("%w: %s", ErrUnknownKind, kind)
		}
		raw, err := json.Marshal(p.Args)
		if err != nil {
			return fmt.Errorf("jobs: encode %s args: %w", kind, err)
		}
		j := &memJob{kind: kind, raw: raw, runAt: p.RunAt, priority: normPriority(p.Priority), created: now}
		if j.runAt.IsZero() {
			j.runAt = now
		}
		if p.Unique {
			j.unique = kind + "\x00" + string(raw)
		}
		jobs = append(jobs, j)
	}
	q.mu.Lock()
	for _, j := range jobs {
		if j.unique != "" {
			if q.active[j.unique] {
				continue
			}
			q.active[j.unique] = true
		}
		q.seq++
		j.id = q.seq
		heap.Push(&q.scheduled, j)
	}
	q.mu.Unlock()
	q.poke()
	return nil
}

// InsertTx with a nil tx is Insert; with a transaction it returns
// ErrNoDatabase: memory mode has no transactions.
func (q *MemoryQueue) InsertTx(ctx context.Context, tx pgx.Tx, ps ...InsertParams) error {
	if tx != nil {
		return ErrNoDatabase
	}
	return q.Insert(ctx, ps...)
}

// InTx calls fn with a nil transaction: memory mode has none, and the
// stores of memory mode take nil.
func (q *MemoryQueue) InTx(_ context.Context, fn func(tx pgx.Tx) error) error { return fn(nil) }

func (q *MemoryQueue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Start launches the dispatcher and workers.
func (q *MemoryQueue) Start(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.running {
		return errors.New("jobs: memory queue already started")
	}
	if q.stopping != nil {
		select {
		case <-q.stopping:
			q.stopping = nil
		default:
			return errors.New("jobs: memory queue is still stopping: call Stop again to wait for its running handlers")
		}
	}
	q.running = true
	base := context.WithoutCancel(ctx)
	var fetchCtx, workCtx context.Context
	fetchCtx, q.stopFetch = context.WithCancel(base)
	workCtx, q.stopWork = context.WithCancel(base)
	work := make(chan *memJob)
	q.wg.Add(1 + q.cfg.Workers)
	go q.dispatch(fetchCtx, work)
	for range q.cfg.Workers {
		go q.work(workCtx, work)
	}
	return nil
}

// Stop stops dispatching and waits for running handlers to return, or for
// ctx to end: then it cancels the handlers' contexts and returns ctx.Err()
// at once, without waiting for handlers that ignore their context (they
// finish in the background; Start fails until they have). Concurrent and
// later calls wait for the same stop, each within its own context. Jobs
// not yet started are kept, so Start may resume them.
func (q *MemoryQueue) Stop(ctx context.Context) error {
	q.mu.Lock()
	if q.running {
		q.running = false
		q.stopFetch()
		done, stopWork := make(chan struct{}), q.stopWork
		q.stopping = done
		go func() {
			q.wg.Wait()
			stopWork()
			close(done)
		}()
	}
	done, stopWork := q.stopping, q.stopWork
	q.mu.Unlock()
	if done == nil {
		return nil // never started
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		stopWork() // cancel the handlers; they finish in the background
		return ctx.Err()
	}
}

// maxClockDrift is how far a clock other than clockwork's fake may move
// between reading it and arming the dispatcher's timer before the
// dispatcher looks again (a host's own fake clock, say). On the wall clock
// the two readings are microseconds apart; a fake clock can jump by hours
// in between, and the timer would then fire that much late.
const maxClockDrift = time.Millisecond

// maxRearms bounds how often in a row the dispatcher looks again because
// such a clock moved, so that a clock that always moves cannot make it spin.
const maxRearms = 8

// dispatch moves due jobs to the ready heap and hands the best to workers.
// Between jobs it blocks on one timer (the next due time), a wake-up (an
// insert or a finished job) or ctx: it never polls.
func (q *MemoryQueue) dispatch(ctx context.Context, work chan<- *memJob) {
	defer q.wg.Done()
	defer close(work)
	clk := q.cfg.Clock
	// clockwork's fake clock moves only when a test advances it: any move
	// between reading it and arming the timer means the timer is late.
	_, fake := clk.(*clockwork.FakeClock)
	rearms := 0
	for ctx.Err() == nil {
		q.wakeups.Add(1)
		q.mu.Lock()
		now := clk.Now()
		for q.scheduled.Len() > 0 && !q.scheduled[0].runAt.After(now) {
			heap.Push(&q.ready, heap.Pop(&q.scheduled))
		}
		var next *memJob
		if q.ready.Len() > 0 {
			next = heap.Pop(&q.ready).(*memJob)
			q.busy++
		}
		var wait time.Duration = -1
		if next == nil && q.scheduled.Len() > 0 {
			wait = q.scheduled[0].runAt.Sub(now)
		}
		q.mu.Unlock()

		if next != nil {
			rearms = 0
			select {
			case work <- next:
				continue
			case <-ctx.Done():
				q.mu.Lock()
				q.busy--
				heap.Push(&q.ready, next)
				q.mu.Unlock()
				return
			}
		}
		var timer clockwork.Timer
		var fire <-chan time.Time
		if wait >= 0 {
			timer = clk.NewTimer(wait)
			fire = timer.Chan()
			// Look again if the clock moved while the timer was armed.
			if moved := clk.Since(now); (fake && moved != 0) || (!fake && moved > maxClockDrift && rearms < maxRearms) {
				timer.Stop()
				rearms++
				continue
			}
		}
		rearms = 0
		select {
		case <-ctx.Done():
		case <-q.wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

func (q *MemoryQueue) work(ctx context.Context, work <-chan *memJob) {
	defer q.wg.Done()
	for j := range work {
		j.attempt++
		err := q.workers[j.kind].run(ctx, j.id, j.attempt, j.created, j.raw)
		q.finish(j, err)
	}
}

func (q *MemoryQueue) finish(j *memJob, err error) {
	now := q.cfg.Clock.Now()
	q.mu.Lock()
	defer func() {
		q.busy--
		close(q.changed)
		q.changed = make(chan struct{})
		q.mu.Unlock()
		q.poke()
	}()
	var snooze *SnoozeError
	var cancel *CancelError
	switch {
	case err == nil, errors.As(err, &cancel):
	case errors.As(err, &snooze):
		j.attempt-- // a snooze is not an attempt
		j.runAt = now.Add(snooze.Duration)
		heap.Push(&q.scheduled, j)
		return
	case j.attempt < q.cfg.MaxAttempts:
		// River's default policy: attempt^4 seconds.
		j.runAt = now.Add(time.Duration(math.Min(math.Pow(float64(j.attempt), 4), 24*3600)) * time.Second)
		heap.Push(&q.scheduled, j)
		return
	}
	if j.unique != "" {
		delete(q.active, j.unique)
	}
}

// Len reports jobs waiting (scheduled or due) and running.
func (q *MemoryQueue) Len() (waiting, running int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.scheduled.Len() + q.ready.Len(), q.busy
}

// Stats counts the queue's jobs.
func (q *MemoryQueue) Stats(context.Context) (Stats, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.cfg.Clock.Now()
	st := Stats{Due: int64(q.ready.Len()), Running: int64(q.busy)}
	for _, j := range q.scheduled {
		if j.runAt.After(now) {
			st.Scheduled++
		} else {
			st.Due++
		}
	}
	return st, nil
}

// NextRunAt reports the earliest due time among waiting jobs.
func (q *MemoryQueue) NextRunAt() (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ready.Len() > 0 {
		return q.ready[0].runAt, true
	}
	if q.scheduled.Len() > 0 {
		return q.scheduled[0].runAt, true
	}
	return time.Time{}, false
}

// Wakeups counts the dispatcher's loop turns since the queue was made: one
// per job handed out, insert, finished job or timer. A queue whose only job
// waits an hour turns it once or twice, not continuously.
func (q *MemoryQueue) Wakeups() int64 { return q.wakeups.Load() }

// WaitIdle blocks until no job is running and none is due before the clock
// moves; jobs scheduled in the future do not count. Tests use it to know the
// queue has settled before they advance a fake clock.
func (q *MemoryQueue) WaitIdle(ctx context.Context) error {
	for {
		q.mu.Lock()
		now := q.cfg.Clock.Now()
		due := q.ready.Len() > 0 || (q.scheduled.Len() > 0 && !q.scheduled[0].runAt.After(now))
		settled := q.busy == 0 && !due
		ch := q.changed
		q.mu.Unlock()
		if settled {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

type schedHeap []*memJob

func (h schedHeap) Len() int { return len(h) }
func (h schedHeap) Less(i, j int) bool {
	if !h[i].runAt.Equal(h[j].runAt) {
		return h[i].runAt.Before(h[j].runAt)
	}
	return h[i].id < h[j].id
}
func (h schedHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *schedHeap) Push(x any)   { *h = append(*h, x.(*memJob)) }
func (h *schedHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return x
}

type readyHeap []*memJob

func (h readyHeap) Len() int { return len(h) }
func (h readyHeap) Less(i, j int) bool {
	if h[i].priority != h[j].priority {
		return h[i].priority < h[j].priority
	}
	if !h[i].runAt.Equal(h[j].runAt) {
		return h[i].runAt.Before(h[j].runAt)
	}
	return h[i].id < h[j].id
}
func (h readyHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *readyHeap) Push(x any)   { *h = append(*h, x.(*memJob)) }
func (h *readyHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return x
}
