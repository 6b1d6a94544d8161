package jobs

import (
	"context"
	"encoding/json"
	"time"

	"github.com/riverqueue/river"
)

// worker is a registered handler in the two shapes the queues need.
type worker struct {
	kind string
	// run decodes raw args and calls the handler (memory mode).
	run func(ctx context.Context, id int64, attempt int, created time.Time, raw []byte) error
	// addRiver registers the handler with a River worker bundle.
	addRiver func(*river.Workers)
}

func newWorker[T Args](kind string, h Handler[T]) *worker {
	return &worker{
		kind: kind,
		run: func(ctx context.Context, id int64, attempt int, created time.Time, raw []byte) error {
			var args T
			if err := json.Unmarshal(raw, &args); err != nil {
				return Cancel(err)
			}
			return h(ctx, &Job[T]{ID: id, Args: args, Attempt: attempt, CreatedAt: created})
		},
		addRiver: func(ws *river.Workers) {
			river.AddWorker(ws, &riverWorker[T]{h: h})
		},
	}
}

// riverWorker adapts a Handler to River. T is River's args type as it
// stands (Args is river.JobArgs): River decodes the job's JSON straight
// into it, with no wrapper to decode it twice.
type riverWorker[T Args] struct {
	river.WorkerDefaults[T]
	h Handler[T]
}

func (w *riverWorker[T]) Work(ctx context.Context, j *river.Job[T]) error {
	err := w.h(ctx, &Job[T]{ID: j.ID, Args: j.Args, Attempt: j.Attempt, CreatedAt: j.CreatedAt})
	return toRiverError(err)
}
