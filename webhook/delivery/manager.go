package delivery

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/time/rate"

	"github.com/wedsync/integrations/internal/jobs"
	"github.com/wedsync/integrations/internal/keyring"
	"github.com/wedsync/integrations/internal/migrate"
	"github.com/wedsync/integrations/internal/netguard"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate creates or upgrades the webhook tables, and River's, in schema
// (default "wedsync"). It is safe to call from several instances at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema ...string) error {
	s := migrate.DefaultSchema
	if len(schema) > 0 && schema[0] != "" {
		s = schema[0]
	}
	if err := migrate.ValidateSchema(s); err != nil {
		return err
	}
	if err := jobs.Migrate(ctx, pool, s); err != nil {
		return err
	}
	return migrate.Run(ctx, pool, s, "webhook", migrations, "migrations")
}

// Manager owns endpoints and sends messages to them durably. Create one per
// host process with NewManager, call Start, and Stop on shutdown. All methods
// are safe for concurrent use.
type Manager struct {
	o      options
	store  store
	queue  jobs.Queue
	keys   *keyring.Keyring
	client *http.Client
	net    *netguard.Guard

	mu      sync.Mutex
	cache   map[string]*cachedEndpoint
	guards  map[string]*endpointGuard
	fair    map[string]*rate.Limiter
	started bool
	stopBg  context.CancelFunc
	bgDone  chan struct{}
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
		o:      o,
		cache:  map[string]*cachedEndpoint{},
		guards: map[string]*endpointGuard{},
		fair:   map[string]*rate.Limiter{},
	}
	var err error
	switch {
	case o.encKey != nil:
		if m.keys, err = keyring.New(o.encKey, o.encPrevious...); err != nil {
			return nil, fmt.Errorf("delivery: encryption key: %w", err)
		}
	case o.pool != nil:
		return nil, invalid("encryption key", "is required in Postgres mode (WithEncryptionKey, 32 bytes)")
	default:
		m.keys = keyring.Generate()
	}
	m.net = netguard.New(netguard.WithAllowedRanges(o.allowed...), netguard.WithAllowHTTP(o.allowHTTP))
	m.client = o.httpClient
	if m.client == nil {
		m.client = m.net.Client(o.timeout)
	}

	ws := jobs.NewWorkers()
	jobs.Register(ws, m.deliver)
	if o.pool != nil {
		m.store = newPGStore(o.pool, o.schema)
		rc := o.river
		rc.Schema = o.schema
		rc.Queue = "wedsync_webhook"
		if rc.JobTimeout == 0 {
			rc.JobTimeout = o.timeout + 30*time.Second
		}
		if m.queue, err = jobs.NewRiver(o.pool, ws, rc); err != nil {
			return nil, err
		}
	} else {
		m.store = newMemStore()
		m.queue = jobs.NewMemory(ws, jobs.MemoryConfig{Workers: o.memoryWorkers, Clock: o.clock})
	}
	return m, nil
}

func (o *options) validate() error {
	if err := migrate.ValidateSchema(o.schema); err != nil {
		return invalid("schema", "%v", err)
	}
	switch {
	case len(o.schedule) == 0:
		return invalid("retry schedule", "needs at least one delay")
	case o.jitter < 0 || o.jitter >= 1:
		return invalid("retry jitter", "must be in [0, 1)")
	case o.timeout <= 0:
		return invalid("timeout", "must be positive")
	case o.maxPayload <= 0:
		return invalid("max payload size", "must be positive")
	case o.retention < 48*time.Hour:
		return invalid("retention", "must be at least 48h so no retry outlives its message")
	case o.disableAfter <= 0 || o.rotationGrace < 0:
		return invalid("disable window", "must be positive")
	case o.breakerRatio <= 0 || o.breakerRatio > 1 || o.breakerOpenFor <= 0:
		return invalid("circuit breaker", "ratio must be in (0, 1] and open time positive")
	case o.fairRate <= 0 || o.fairBurst <= 0:
		return invalid("fairness", "rate and burst must be positive")
	}
	return nil
}

// Start begins delivering. In Postgres mode every started instance shares
// the work.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return errors.New("delivery: manager already started")
	}
	if err := m.queue.Start(ctx); err != nil {
		return err
	}
	m.started = true
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.stopBg = cancel
	m.bgDone = make(chan struct{})
	go m.pruneLoop(bg)
	return nil
}

// Stop stops taking new deliveries and waits for running ones to finish or
// ctx to end. Unfinished work stays queued (Postgres mode) for the next start.
func (m *Manager) Stop(ctx context.Context) error {
	m.mu.Lock()
	if !m.started {
		m.mu.Unlock()
		return nil
	}
	m.started = false
	m.mu.Unlock()
	m.stopBg()
	<-m.bgDone
	err := m.queue.Stop(ctx)
	if m.o.httpClient == nil {
		m.client.CloseIdleConnections() // ours: leave no keep-alive goroutines
	}
	return err
}

// pruneLoop deletes attempts and messages past the retention window.
func (m *Manager) pruneLoop(ctx context.Context) {
	defer close(m.bgDone)
	for {
		if n, err := m.store.prune(ctx, m.o.clock.Now().Add(-m.o.retention)); err != nil && ctx.Err() == nil {
			m.o.logger.Warn("webhook: prune failed", "err", err)
		} else if n > 0 {
			m.o.logger.Info("webhook: pruned attempt log", "attempts", n)
		}
		t := m.o.clock.NewTimer(m.o.pruneEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.Chan():
		}
	}
}

func newID(prefix string) string {
	u, err := uuid.NewV7()
	if err != nil {
		u = uuid.New()
	}
	b := make([]byte, 0, len(prefix)+32)
	b = append(b, prefix...)
	const hexd = "0123456789abcdef"
	for _, c := range u {
		b = append(b, hexd[c>>4], hexd[c&15])
	}
	return string(b)
}

// withTx runs fn in a transaction in Postgres mode, or with a nil tx in
// memory mode.
func (m *Manager) withTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	if m.o.pool == nil {
		return fn(nil)
	}
	return pgx.BeginFunc(ctx, m.o.pool, fn)
}

func (m *Manager) insertJobs(ctx context.Context, tx pgx.Tx, ps ...jobs.InsertParams) error {
	if tx == nil {
		return m.queue.Insert(ctx, ps...)
	}
	return m.queue.InsertTx(ctx, tx, ps...)
}
