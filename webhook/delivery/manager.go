package delivery

import (
	"context"
	"embed"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/time/rate"

	"github.com/wedsync/integrations/internal/attempt"
	idgen "github.com/wedsync/integrations/internal/ids"
	"github.com/wedsync/integrations/internal/jobs"
	"github.com/wedsync/integrations/internal/keyring"
	"github.com/wedsync/integrations/internal/loop"
	"github.com/wedsync/integrations/internal/migrate"
	"github.com/wedsync/integrations/internal/netguard"
	"github.com/wedsync/integrations/internal/runner"
	"github.com/wedsync/integrations/internal/validate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate creates or upgrades the delivery tables in the schema WithSchema
// names (default "wedsync"), and River's in the schema QueueConfig.Schema
// names (default "<schema>_webhook_jobs"); pass NewManager the same two.
// Other options are ignored. It is safe to call from several instances at
// once.
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
	return migrate.Run(ctx, pool, o.schema, "webhook", migrations, "migrations")
}

// Manager owns endpoints and sends messages to them durably. Create one per
// host process with NewManager, call Start, and Stop on shutdown. All methods
// are safe for concurrent use.
type Manager struct {
	o        options
	store    store
	queue    jobs.Queue
	recorder attempt.Recorder
	guards   *attempt.Guards
	keys     *keyring.Keyring
	client   *http.Client
	net      *netguard.Guard
	tel      *metrics

	run runner.Runner

	mu    sync.Mutex
	cache map[string]*cachedEndpoint
	fair  map[string]*rate.Limiter
}

// NewManager builds a manager. Without WithPostgres it runs in memory mode.
func NewManager(opts ...Option) (*Manager, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	m := &Manager{
		o:     o,
		cache: map[string]*cachedEndpoint{},
		fair:  map[string]*rate.Limiter{},
	}
	var err error
	if m.keys, err = keyring.ForMode("delivery", o.encKey, o.encPrevious, o.pool != nil); err != nil {
		return nil, err
	}
	m.net = netguard.New(netguard.WithAllowedRanges(o.allowed...), netguard.WithAllowHTTP(o.allowHTTP))
	m.client = o.httpClient
	if m.client == nil {
		// As many idle connections per vendor as deliveries may run at
		// once: a burst to one vendor reuses its connections.
		conns := o.memoryWorkers
		if o.pool != nil {
			conns = o.river.Workers()
		}
		// No client timeout: post bounds each request, body included,
		// by its context. http.Client cannot see through the guard's
		// transport, so a client timeout would cost every request a
		// goroutine and a timer of its own.
		m.client = m.net.ClientConns(0, conns)
	}
	m.guards = attempt.NewGuards(o.breaker, o.clock, func(endpoint string, until time.Time) {
		o.logger.Warn("webhook: circuit breaker opened", "endpoint", endpoint, "until", until)
	})

	ws := jobs.NewWorkers()
	jobs.Register(ws, m.deliver)
	rc := o.river
	rc.Schema = o.riverSchema()
	rc.Queue = "wedsync_webhook"
	rc.Logger = o.logger
	if rc.JobTimeout == 0 {
		rc.JobTimeout = o.timeout + 30*time.Second
	}
	if m.queue, err = jobs.Open(ws, jobs.Config{
		Pool:   o.pool,
		River:  rc,
		Memory: jobs.MemoryConfig{Workers: o.memoryWorkers, Clock: o.clock},
	}); err != nil {
		return nil, err
	}
	if o.pool != nil {
		m.store = newPGStore(o.pool, o.schema, o.batchHook)
	} else {
		m.store = newMemStore()
	}
	// The bookkeeping's retries wait on the wall clock whatever WithClock
	// says: its 15 s budget is wall time, and a host's fake clock must not
	// hold an attempt's record until its test moves the clock.
	m.recorder = attempt.Recorder{Queue: m.queue}
	m.tel = newMetrics(o.meterProvider, o.tracerProvider)
	m.tel.observeQueue(m.queue)
	m.run = runner.Runner{
		Queue: m.queue, Observing: &m.tel.observing, What: "delivery: manager", Work: "deliveries",
		Background: func(ctx context.Context) { loop.Every(ctx, m.o.clock, 0, m.o.pruneEvery, m.prune) },
		AfterStop: func() {
			if m.o.httpClient == nil {
				m.client.CloseIdleConnections() // ours: leave no keep-alive goroutines
			}
		},
	}
	return m, nil
}

// riverSchema is where River's tables live (QueueConfig.Schema).
func (o *options) riverSchema() string {
	r, _ := jobs.Schemas("delivery", "webhook", o.schema, o.river.Schema)
	return r
}

func (o *options) validateSchemas() error {
	_, err := jobs.Schemas("delivery", "webhook", o.schema, o.river.Schema)
	return err
}

func (o *options) validate() error {
	c := validate.NewChecker("delivery")
	c.Add(o.validateSchemas())
	c.Add(o.policy.Validate("delivery"))
	c.Add(o.breaker.Validate("delivery", "WithCircuitBreaker"))
	c.Check(o.clock != nil, "WithClock", "must not be nil")
	c.Check(o.logger != nil, "WithLogger", "must not be nil")
	c.Check(o.timeout > 0, "WithTimeout", "must be positive, got %s", o.timeout)
	c.Check(o.maxPayload > 0, "WithMaxPayloadSize", "must be positive, got %d", o.maxPayload)
	c.Check(o.retention >= 48*time.Hour, "WithRetention", "must be at least 48h so no retry outlives its message, got %s", o.retention)
	c.Check(o.disableAfter > 0, "WithDisableAfter", "must be positive, got %s", o.disableAfter)
	c.Check(o.rotationGrace >= 0, "WithRotationGrace", "must not be negative, got %s", o.rotationGrace)
	c.Check(o.fairRate > 0 && o.fairBurst > 0, "WithFairness", "rate and burst must be positive, got %g and %d", o.fairRate, o.fairBurst)
	c.Check(o.memoryWorkers > 0, "WithMemoryWorkers", "must be positive, got %d", o.memoryWorkers)
	c.Check(o.endpointTTL > 0, "WithEndpointCacheTTL", "must be positive, got %s", o.endpointTTL)
	return c.Err()
}

// Start begins delivering. In Postgres mode every started instance shares
// the work.
func (m *Manager) Start(ctx context.Context) error { return m.run.Start(ctx) }

// Stop stops taking new deliveries and waits for running ones to finish, or
// for ctx to end: then it cancels them and returns ctx.Err() at once (their
// attempts are still recorded, within 15 s). A later Stop waits again for
// what an earlier one left running. Unfinished work stays queued (in
// Postgres mode, for the next start of any instance).
func (m *Manager) Stop(ctx context.Context) error { return m.run.Stop(ctx) }

// WaitIdle blocks until no delivery is running and none is due now, or ctx
// ends. Deliveries scheduled for later (retries) do not count. Host tests
// use it with a fake clock (WithClock): wait, then advance the clock.
func (m *Manager) WaitIdle(ctx context.Context) error { return m.queue.WaitIdle(ctx) }

// prune deletes attempts and messages past the retention window.
func (m *Manager) prune(ctx context.Context) {
	n, err := m.store.prune(ctx, m.o.clock.Now().Add(-m.o.retention))
	switch {
	case err != nil && ctx.Err() == nil:
		m.o.logger.Warn("webhook: prune failed", "err", err)
	case n > 0:
		m.o.logger.Info("webhook: pruned attempt log", "attempts", n)
	}
}

// newID returns a time-ordered id with prefix (internal/ids).
func newID(prefix string) string { return idgen.New(prefix) }
