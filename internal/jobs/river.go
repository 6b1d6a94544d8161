package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/wedsync/integrations/internal/migrate"
	"github.com/wedsync/integrations/internal/validate"
)

// RiverConfig tunes the River client. Zero fields take the defaults below,
// which were measured on a 2-core machine against local Postgres (see
// examples/benchmark and docs/postgres.md): River's own defaults work about
// 2,000 no-op jobs/s; these about eight times that.
type RiverConfig struct {
	// Schema holds River's tables. Defaults to "wedsync".
	Schema string
	// Queue is the River queue this client inserts into and works.
	// Defaults to "wedsync".
	Queue string
	// MaxWorkers bounds concurrently running jobs in this process.
	// Defaults to 500: deliveries wait on the network, not the CPU.
	MaxWorkers int
	// FetchCooldown is the shortest pause between fetches. Defaults to 10ms
	// (River: 100ms).
	FetchCooldown time.Duration
	// FetchPollInterval is how often to poll when no notification arrives.
	// Defaults to 250ms (River: 1s): idle polling is most of a client's
	// cost, and a job inserted alone is woken by its notification anyway;
	// see docs/postgres.md.
	FetchPollInterval time.Duration
	// JobTimeout cancels a handler's context after this long. Defaults to 2m.
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running before another
	// instance assumes its worker crashed and runs it again. Defaults to
	// JobTimeout + 1m, which a value not above JobTimeout also becomes.
	// River's rescuer looks every 30 s.
	RescueAfter time.Duration
	// Logger receives River's logs. Defaults to discarding them.
	Logger *slog.Logger
}

func (c RiverConfig) withDefaults() RiverConfig {
	if c.Schema == "" {
		c.Schema = "wedsync"
	}
	if c.Queue == "" {
		c.Queue = "wedsync"
	}
	if c.MaxWorkers <= 0 {
		c.MaxWorkers = DefaultMaxWorkers
	}
	if c.FetchCooldown <= 0 {
		c.FetchCooldown = 10 * time.Millisecond
	}
	if c.FetchPollInterval <= 0 {
		c.FetchPollInterval = 250 * time.Millisecond
	}
	if c.JobTimeout <= 0 {
		c.JobTimeout = 2 * time.Minute
	}
	if c.RescueAfter <= c.JobTimeout {
		c.RescueAfter = c.JobTimeout + time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// DefaultMaxWorkers is RiverConfig.MaxWorkers's default.
const DefaultMaxWorkers = 500

// Workers is how many jobs the client runs at once: MaxWorkers, or its
// default when unset.
func (c RiverConfig) Workers() int { return c.withDefaults().MaxWorkers }

// RiverSchema is the schema of a package's River tables: its own, beside
// the package's tables in schema ("wedsync" and "webhook" give
// "wedsync_webhook_jobs"). Each package runs its own River client, and
// River elects one leader per schema to run maintenance for every queue in
// it: its rescuer discards the stuck jobs of kinds its client does not
// know, so two packages' clients must never share a schema. Measured idle
// cost of a client: about 4 transactions/s at the 250 ms poll, plus one
// LISTEN connection; docs/postgres.md has the measurements.
func RiverSchema(schema, component string) string { return schema + "_" + component + "_jobs" }

// Schemas checks the two schema names every package takes: its tables'
// (the WithSchema option) and its River tables' (QueueConfig.Schema, or
// RiverSchema(schema, component) when river is empty). It returns the
// River schema, and a validation error of pkg naming the option at fault.
func Schemas(pkg, component, schema, river string) (string, error) {
	if river == "" {
		river = RiverSchema(schema, component)
	}
	if err := migrate.ValidateSchema(schema); err != nil {
		return river, validate.New(pkg, "WithSchema", "%v", err)
	}
	if err := migrate.ValidateSchema(river); err != nil {
		return river, validate.New(pkg, "QueueConfig.Schema", "%v (it defaults to the WithSchema name plus %q)", err, "_"+component+"_jobs")
	}
	return river, nil
}

// RiverQueue is the Postgres-mode Queue.
type RiverQueue struct {
	cfg    RiverConfig
	pool   *pgxpool.Pool
	client *river.Client[pgx.Tx]
	kinds  map[string]bool

	mu       sync.Mutex
	stopping bool // a Stop is under way: later ones wait for it
}

// Migrate creates or upgrades River's tables in schema.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	if _, err := pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("jobs: create schema: %w", err)
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: schema, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("jobs: river migrator: %w", err)
	}
	// River's migrator takes its own lock; concurrent callers are safe.
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: river migrate: %w", err)
	}
	return nil
}

// NewRiver returns a Postgres-mode queue on pool. Run Migrate first.
func NewRiver(pool *pgxpool.Pool, ws *Workers, cfg RiverConfig) (*RiverQueue, error) {
	cfg = cfg.withDefaults()
	rw := river.NewWorkers()
	kinds := map[string]bool{}
	for k, w := range ws.byKind {
		w.addRiver(rw)
		kinds[k] = true
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Schema:               cfg.Schema,
		Queues:               map[string]river.QueueConfig{cfg.Queue: {MaxWorkers: cfg.MaxWorkers}},
		Workers:              rw,
		FetchCooldown:        cfg.FetchCooldown,
		FetchPollInterval:    cfg.FetchPollInterval,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		Logger:               cfg.Logger,
		Hooks:                []rivertype.Hook{dueSoonHook{}},
		// Jobs that River gives up on after 25 errors are the handler's
		// bugs, not delivery failures (those snooze); keep them a week.
		DiscardedJobRetentionPeriod: 7 * 24 * time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: river client: %w", err)
	}
	return &RiverQueue{cfg: cfg, pool: pool, client: client, kinds: kinds}, nil
}

// schedulerInterval is how often River's scheduler runs:
// maintenance.JobSchedulerIntervalDefault, 5 s in River v0.51.2, which
// river.Config does not let a client change (and the package is internal,
// so it cannot be imported). Each run makes `available` the `scheduled`
// and `retryable` jobs due within the next interval (it looks one interval
// ahead), and the producer fetches `available` jobs whose scheduled_at has
// passed. A job inserted due less than one interval from now can miss the
// run that would have covered it and wait for the next one: measured in
// the demo, a retry announced "in 1.03s" ran 4.8 s later. A job due
// further away is always covered by a run before its time.
const schedulerInterval = 5 * time.Second

// dueSoonHook makes a job inserted due within schedulerInterval
// `available` with its future scheduled_at, as River's executor does for
// its own short retries and snoozes (internal/jobexecutor): the fetch
// query takes only jobs whose scheduled_at has passed, so the job runs at
// its time, within one FetchPollInterval, instead of at the scheduler's
// next run. River calls the hook for every insert (InsertMany, InsertManyTx
// and the COPY path of InsertManyFastTx alike) before it writes the rows,
// so the state is set in the insert's own statement and transaction.
// Jobs due later stay `scheduled`: the fetch query's index scan would step
// over every future `available` row of its priority, so only the near
// ones are made available, as River does.
type dueSoonHook struct{}

func (dueSoonHook) IsHook() bool { return true }

func (dueSoonHook) InsertBegin(_ context.Context, p *rivertype.JobInsertParams) error {
	if p.State == rivertype.JobStateScheduled && p.ScheduledAt != nil && time.Until(*p.ScheduledAt) < schedulerInterval {
		p.State = rivertype.JobStateAvailable
	}
	return nil
}

func (q *RiverQueue) params(ps []InsertParams) ([]river.InsertManyParams, error) {
	out := make([]river.InsertManyParams, 0, len(ps))
	var seen map[string]bool // River refuses the same unique job twice in one batch
	for _, p := range ps {
		if !q.kinds[p.Args.Kind()] {
			return nil, fmt.Errorf("%w: %s", ErrUnknownKind, p.Args.Kind())
		}
		opts := &river.InsertOpts{Queue: q.cfg.Queue, Priority: normPriority(p.Priority), ScheduledAt: p.RunAt}
		if p.Unique {
			opts.UniqueOpts = river.UniqueOpts{ByArgs: true}
			b, err := json.Marshal(p.Args)
			if err != nil {
				return nil, fmt.Errorf("jobs: encode %s args: %w", p.Args.Kind(), err)
			}
			key := p.Args.Kind() + "\x00" + string(b)
			if seen[key] {
				continue
			}
			if seen == nil {
				seen = map[string]bool{}
			}
			seen[key] = true
		}
		out = append(out, river.InsertManyParams{Args: p.Args, InsertOpts: opts})
	}
	return out, nil
}

// Insert enqueues jobs in a transaction of their own.
func (q *RiverQueue) Insert(ctx context.Context, ps ...InsertParams) error {
	if len(ps) == 0 {
		return nil
	}
	params, err := q.params(ps)
	if err != nil {
		return err
	}
	_, err = q.client.InsertMany(ctx, params)
	return err
}

// InsertTx enqueues jobs in the host's transaction; a nil tx means Insert.
func (q *RiverQueue) InsertTx(ctx context.Context, tx pgx.Tx, ps ...InsertParams) error {
	if tx == nil {
		return q.Insert(ctx, ps...)
	}
	if len(ps) == 0 {
		return nil
	}
	params, err := q.params(ps)
	if err != nil {
		return err
	}
	if len(params) > 1 && !anyUnique(ps) {
		// COPY FROM: several times faster for batches.
		_, err = q.client.InsertManyFastTx(ctx, tx, params)
		return err
	}
	_, err = q.client.InsertManyTx(ctx, tx, params)
	return err
}

func anyUnique(ps []InsertParams) bool {
	for _, p := range ps {
		if p.Unique {
			return true
		}
	}
	return false
}

// Start begins working jobs.
//
// ctx bounds the start only: River treats the end of the context it runs on
// as a hard stop, so the client runs on one that is never cancelled, and
// only Stop stops it, as in memory mode.
func (q *RiverQueue) Start(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopping {
		select {
		case <-q.client.Stopped():
		default:
			return errors.New("jobs: River client is still stopping: call Stop again to wait for it")
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	q.stopping = false
	return q.client.Start(context.WithoutCancel(ctx))
}

// InTx runs fn in a transaction on the queue's pool.
func (q *RiverQueue) InTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, q.pool, fn)
}

// Stop stops fetching and waits for running jobs. When ctx ends first, it
// cancels the running jobs' contexts and returns ctx.Err() at once; River
// rescues any job whose completion was not recorded. Concurrent and later
// calls wait for the first one's stop, each within its own context.
func (q *RiverQueue) Stop(ctx context.Context) error {
	q.mu.Lock()
	first := !q.stopping
	q.stopping = true
	stopped := q.client.Stopped()
	q.mu.Unlock()
	if !first {
		select {
		case <-stopped:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := q.client.Stop(ctx)
	if ctx.Err() != nil {
		_ = q.client.StopAndCancel(ctx) // cancels the jobs, returns at once
		return ctx.Err()
	}
	return err
}

// Stats counts the queue's unfinished rows in one query.
func (q *RiverQueue) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := q.pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE state IN ('available', 'retryable', 'scheduled') AND scheduled_at <= now()),
			count(*) FILTER (WHERE scheduled_at > now() AND state <> 'running'),
			count(*) FILTER (WHERE state = 'running')
		FROM `+pgx.Identifier{q.cfg.Schema, "river_job"}.Sanitize()+`
		WHERE queue = $1 AND state IN ('available', 'retryable', 'scheduled', 'running')`, q.cfg.Queue).
		Scan(&st.Due, &st.Scheduled, &st.Running)
	return st, err
}

// waitIdlePoll is how often WaitIdle looks at the job table.
const waitIdlePoll = 20 * time.Millisecond

// WaitIdle polls the queue's rows until none is running or due. A job
// that fell due a moment ago counts as due until it has run, whether
// River's scheduler has made it available yet or not.
func (q *RiverQueue) WaitIdle(ctx context.Context) error {
	sql := `SELECT count(*) FROM ` + pgx.Identifier{q.cfg.Schema, "river_job"}.Sanitize() + `
		WHERE queue = $1 AND (state = 'running' OR (state IN ('available', 'retryable', 'scheduled') AND scheduled_at <= now()))`
	for {
		var n int
		if err := q.pool.QueryRow(ctx, sql, q.cfg.Queue).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		t := time.NewTimer(waitIdlePoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Client exposes the River client, for benchmarks and operators.
func (q *RiverQueue) Client() *river.Client[pgx.Tx] { return q.client }

func toRiverError(err error) error {
	if err == nil {
		return nil
	}
	var s *SnoozeError
	if errors.As(err, &s) {
		return river.JobSnooze(s.Duration)
	}
	var c *CancelError
	if errors.As(err, &c) {
		return river.JobCancel(c.Err)
	}
	return err
}
