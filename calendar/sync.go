package calendar

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"text/template"
	"time"
	_ "time/tzdata" // connections name IANA zones; hosts may lack a zoneinfo database

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wedsync/integrations/internal/attempt"
	"github.com/wedsync/integrations/internal/ids"
	"github.com/wedsync/integrations/internal/jobs"
	"github.com/wedsync/integrations/internal/keyring"
	"github.com/wedsync/integrations/internal/loop"
	"github.com/wedsync/integrations/internal/runner"
	"github.com/wedsync/integrations/internal/validate"
)

// Migrate creates or upgrades the calendar tables in the schema WithSchema
// names (default "wedsync"), and River's in the schema QueueConfig.Schema
// names (default "<schema>_calendar_jobs"); pass NewSync the same two. It
// installs the btree_gist extension (in schema public) when it is missing:
// the exclusion constraint that keeps bookings apart needs it. Other options
// are ignored. It is safe to call from several instances at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool, opts ...Option) error {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validateSchemas(); err != nil {
		return err
	}
	if err := jobs.Migrate(ctx, pool, o.riverSchema()); err != nil {
		return err
	}
	return migrateSchema(ctx, pool, o.schema)
}

// Sync keeps WedSync bookings and suppliers' calendars in step, and keeps
// bookings from overlapping. Create one per host process with NewSync, call
// Start, and Stop on shutdown. All methods are safe for concurrent use.
type Sync struct {
	o         options
	store     store
	queue     jobs.Queue
	recorder  attempt.Recorder
	guards    *attempt.Guards
	keys      *keyring.Keyring
	tel       *metrics
	providers map[string]Provider
	title     *template.Template
	desc      *template.Template

	// syncLocks serialise, within this process, the syncs of one
	// connection (Postgres mode also locks the connection's row, for other
	// instances); pushLocks the writes of one booking to one connection.
	// Striped: a key's lock is locks[hash(key) % len]. Two arrays, so that
	// a write never waits for a sync, nor a sync for a write.
	syncLocks, pushLocks [64]sync.Mutex

	run runner.Runner
}

// NewSync builds the engine. Without WithPostgres it runs in memory mode.
// At least one WithProvider is required.
func NewSync(opts ...Option) (*Sync, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	s := &Sync{o: o, providers: map[string]Provider{}}
	for _, p := range o.providers {
		s.providers[p.Name()] = p
	}
	var err error
	if s.title, s.desc, err = parseTemplates(&o); err != nil {
		return nil, err
	}
	if s.keys, err = keyring.ForMode("calendar", o.encKey, o.encPrevious, o.pool != nil); err != nil {
		return nil, err
	}
	s.guards = attempt.NewGuards(o.breaker, o.clock, func(conn string, until time.Time) {
		o.logger.Warn("calendar: circuit breaker opened; calls to this calendar wait", "connection", conn, "until", until)
	})
	ws := jobs.NewWorkers()
	jobs.Register(ws, s.syncJob)
	jobs.Register(ws, s.pushJob)
	rc := o.river
	rc.Schema = o.riverSchema()
	rc.Queue = "wedsync_calendar"
	rc.Logger = o.logger
	if rc.JobTimeout == 0 {
		rc.JobTimeout = 4 * o.timeout
	}
	if s.queue, err = jobs.Open(ws, jobs.Config{
		Pool:   o.pool,
		River:  rc,
		Memory: jobs.MemoryConfig{Workers: o.memoryWorkers, Clock: o.clock},
	}); err != nil {
		return nil, err
	}
	if o.pool != nil {
		s.store = newPGStore(o.pool, o.schema)
	} else {
		s.store = newMemStore()
	}
	s.recorder = attempt.Recorder{Queue: s.queue}
	s.tel = newMetrics(o.meterProvider, o.tracerProvider)
	s.tel.observeQueue(s.queue)
	s.run = runner.Runner{
		Queue: s.queue, Observing: &s.tel.observing, What: "calendar: sync", Work: "syncs and writes",
		Background: func(ctx context.Context) { loop.Every(ctx, s.o.clock, 0, time.Minute, s.housekeep) },
	}
	return s, nil
}

// riverSchema is where River's tables live (QueueConfig.Schema).
func (o *options) riverSchema() string {
	r, _ := jobs.Schemas("calendar", "calendar", o.schema, o.river.Schema)
	return r
}

func (o *options) validateSchemas() error {
	_, err := jobs.Schemas("calendar", "calendar", o.schema, o.river.Schema)
	return err
}

func (o *options) validate() error {
	c := validate.NewChecker("calendar")
	c.Add(o.validateSchemas())
	c.Add(o.policy.Validate("calendar"))
	c.Add(o.breaker.Validate("calendar", "WithCircuitBreaker"))
	c.Check(len(o.providers) > 0, "WithProvider", "is required (for example caldav.New())")
	names := map[string]bool{}
	for i, p := range o.providers {
		field := fmt.Sprintf("WithProvider[%d]", i)
		if p == nil {
			c.Check(false, field, "must not be nil")
			continue
		}
		c.Check(p.Name() != "", field, "needs a non-empty Name")
		c.Check(!names[p.Name()], field, "name %q is used by another provider", p.Name())
		names[p.Name()] = true
	}
	for name, r := range o.rates {
		c.Check(names[name], "WithProviderRateLimit", "names provider %q, which was not added with WithProvider", name)
		c.Add(attempt.ValidateRate("calendar", "WithProviderRateLimit", r))
	}
	c.Check(o.clock != nil, "WithClock", "must not be nil")
	c.Check(o.logger != nil, "WithLogger", "must not be nil")
	c.Check(o.interval >= 10*time.Second, "WithSyncInterval", "must be at least 10s, got %s", o.interval)
	c.Check(o.fullEvery >= time.Hour, "WithFullSyncEvery", "must be at least 1h, got %s", o.fullEvery)
	c.Check(o.horizonPast >= 0 && o.horizonAhead >= 24*time.Hour && o.horizonAhead <= 10*366*24*time.Hour,
		"WithHorizon", "needs past >= 0 and ahead between 24h and 10 years, got %s and %s", o.horizonPast, o.horizonAhead)
	c.Check(o.holdTTL >= time.Minute, "WithHoldTTL", "must be at least 1m, got %s", o.holdTTL)
	c.Check(o.timeout > 0, "WithTimeout", "must be positive, got %s", o.timeout)
	c.Check(o.retention >= 24*time.Hour, "WithRetention", "must be at least 24h, got %s", o.retention)
	c.Check(o.memoryWorkers > 0, "WithMemoryWorkers", "must be positive, got %d", o.memoryWorkers)
	return c.Err()
}

// Start begins syncing and writing. In Postgres mode every started
// instance shares the work.
func (s *Sync) Start(ctx context.Context) error { return s.run.Start(ctx) }

// Stop stops taking new work and waits for running syncs and writes to
// finish, or for ctx to end: then it cancels them and returns ctx.Err() at
// once. Unfinished work stays queued (in Postgres mode, for the next start
// of any instance).
func (s *Sync) Stop(ctx context.Context) error { return s.run.Stop(ctx) }

// WaitIdle blocks until no job is running and none is due now, or ctx
// ends. Periodic syncs and retries scheduled for later do not count.
func (s *Sync) WaitIdle(ctx context.Context) error { return s.queue.WaitIdle(ctx) }

// housekeep expires lapsed holds (their calendar events are removed) and
// prunes the attempt log.
func (s *Sync) housekeep(ctx context.Context) {
	now := s.o.clock.Now()
	for ctx.Err() == nil {
		var n int
		err := s.queue.InTx(ctx, func(tx pgx.Tx) error {
			expired, err := s.store.expireHolds(ctx, tx, "", now, 500)
			if err != nil {
				return err
			}
			n = len(expired)
			return s.queuePushes(ctx, tx, expired)
		})
		if err != nil {
			if ctx.Err() == nil {
				s.o.logger.Warn("calendar: expiring holds failed", "error", err)
			}
			return
		}
		if n < 500 {
			break
		}
	}
	if _, err := s.store.prune(ctx, now.Add(-s.o.retention)); err != nil && ctx.Err() == nil {
		s.o.logger.Warn("calendar: pruning the attempt log failed", "error", err)
	}
}

// lock locks key's stripe of locks and returns its unlock.
func lock(locks *[64]sync.Mutex, key string) func() {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	mu := &locks[h.Sum32()%uint32(len(locks))]
	mu.Lock()
	return mu.Unlock
}

func newID(prefix string) string { return ids.New(prefix) }
