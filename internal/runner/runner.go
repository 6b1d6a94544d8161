// Package runner is the start and stop life cycle every durable package
// shares (webhook/delivery's Manager, notify's Notifier, and the packages
// that follow): a job queue, a background loop beside it (pruning), and the
// rules around them. Start refuses a second start and a start while an
// earlier Stop is still waiting for running work. Stop returns within its
// context: when the context ends first it returns ctx.Err() at once, the
// work it left running finishes in the background, and a later Stop waits
// for it again.
package runner

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/wedsync/integrations/internal/jobs"
)

// Runner runs a queue and a background loop. Set its fields before the
// first Start; its methods are safe for concurrent use.
type Runner struct {
	// Queue is the package's job queue.
	Queue jobs.Queue
	// Background, when not nil, runs on its own goroutine from Start until
	// Stop cancels its context.
	Background func(ctx context.Context)
	// Observing, when not nil, is true while the runner runs: it gates
	// the queue-depth gauge, whose callback stays registered.
	Observing *atomic.Bool
	// AfterStop, when not nil, runs after a Stop that completed (nothing
	// left running), to release what the package owns.
	AfterStop func()
	// What names the component in errors ("delivery: manager").
	What string
	// Work names what Stop waits for ("deliveries").
	Work string

	mu       sync.Mutex
	started  bool
	draining bool // stopped, but a Stop gave up waiting for running work
	stopBg   context.CancelFunc
	bgDone   chan struct{}
}

// Start starts the queue and the background loop. ctx bounds the start only.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return errors.New(r.What + " already started")
	}
	if r.draining {
		return errors.New(r.What + " is still stopping: call Stop again to wait for running " + r.Work)
	}
	if err := r.Queue.Start(ctx); err != nil {
		return err
	}
	if r.Observing != nil {
		r.Observing.Store(true)
	}
	r.started = true
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.stopBg = cancel
	r.bgDone = make(chan struct{})
	go func() {
		defer close(r.bgDone)
		if r.Background != nil {
			r.Background(bg)
		}
	}()
	return nil
}

// Stop stops taking new work and waits for running work to finish, or for
// ctx to end: then the queue cancels the work and Stop returns ctx.Err() at
// once. Stopping a runner that is not running returns nil.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	if !r.started && !r.draining {
		r.mu.Unlock()
		return nil
	}
	if r.started {
		r.started, r.draining = false, true
		r.stopBg()
		if r.Observing != nil {
			r.Observing.Store(false)
		}
	}
	bgDone := r.bgDone
	r.mu.Unlock()
	err := r.Queue.Stop(ctx)
	select {
	case <-bgDone:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.draining = false
	r.mu.Unlock()
	if r.AfterStop != nil {
		r.AfterStop()
	}
	return nil
}
