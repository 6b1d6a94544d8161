package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wedsync/integrations/internal/attempt"
	idgen "github.com/wedsync/integrations/internal/ids"
	"github.com/wedsync/integrations/internal/jobs"
	"github.com/wedsync/integrations/internal/keyring"
	"github.com/wedsync/integrations/internal/loop"
	"github.com/wedsync/integrations/internal/runner"
	"github.com/wedsync/integrations/internal/validate"
)

// Migrate creates or upgrades the notify tables in the schema WithSchema
// names (default "wedsync"), and River's in the schema QueueConfig.Schema
// names (default "<schema>_notify_jobs"); pass NewNotifier the same two.
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
	return migrateSchema(ctx, pool, o.schema)
}

// Notifier sends notifications durably, routed by each supplier's
// preferences. Create one per host process with NewNotifier, call Start, and
// Stop on shutdown. All methods are safe for concurrent use.
type Notifier struct {
	o         options
	store     store
	queue     jobs.Queue
	recorder  attempt.Recorder
	guards    *attempt.Guards
	keys      *keyring.Keyring
	tel       *metrics
	providers map[Channel][]Provider
	push      map[PushKind][]Provider

	run runner.Runner
}

// NewNotifier builds a notifier. Without WithPostgres it runs in memory
// mode. WithTemplates is required.
func NewNotifier(opts ...Option) (*Notifier, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	n := &Notifier{o: o, providers: map[Channel][]Provider{}, push: map[PushKind][]Provider{}}
	for _, p := range o.providers {
		n.providers[p.Channel()] = append(n.providers[p.Channel()], p)
		if pp, ok := p.(PushProvider); ok {
			n.push[pp.PushKind()] = append(n.push[pp.PushKind()], p)
		}
	}
	var err error
	if n.keys, err = keyring.ForMode("notify", o.encKey, o.encPrevious, o.pool != nil); err != nil {
		return nil, err
	}
	n.guards = attempt.NewGuards(o.breaker, o.clock, func(provider string, until time.Time) {
		o.logger.Warn("notify: circuit breaker opened; failing over to the next provider", "provider", provider, "until", until)
	})

	ws := jobs.NewWorkers()
	jobs.Register(ws, n.route)
	jobs.Register(ws, n.send)
	jobs.Register(ws, n.escalate)
	jobs.Register(ws, n.flushDigest)
	rc := o.river
	rc.Schema = o.riverSchema()
	rc.Queue = "wedsync_notify"
	rc.Logger = o.logger
	if rc.JobTimeout == 0 {
		most := 1
		for _, ps := range n.providers {
			most = max(most, len(ps))
		}
		rc.JobTimeout = time.Duration(most)*o.timeout + 30*time.Second
	}
	if n.queue, err = jobs.Open(ws, jobs.Config{
		Pool:   o.pool,
		River:  rc,
		Memory: jobs.MemoryConfig{Workers: o.memoryWorkers, Clock: o.clock},
	}); err != nil {
		return nil, err
	}
	if o.pool != nil {
		n.store = newPGStore(o.pool, o.schema)
	} else {
		n.store = newMemStore()
	}
	// The bookkeeping's retries wait on the wall clock whatever WithClock
	// says (see webhook/delivery): a host's fake clock must not hold an
	// attempt's record.
	n.recorder = attempt.Recorder{Queue: n.queue}
	n.tel = newMetrics(o.meterProvider, o.tracerProvider)
	n.tel.observeQueue(n.queue)
	n.run = runner.Runner{
		Queue: n.queue, Observing: &n.tel.observing, What: "notify: notifier", Work: "sends",
		Background: func(ctx context.Context) { loop.Every(ctx, n.o.clock, 0, n.o.pruneEvery, n.prune) },
	}
	return n, nil
}

// riverSchema is where River's tables live (QueueConfig.Schema).
func (o *options) riverSchema() string {
	r, _ := jobs.Schemas("notify", "notify", o.schema, o.river.Schema)
	return r
}

func (o *options) validateSchemas() error {
	_, err := jobs.Schemas("notify", "notify", o.schema, o.river.Schema)
	return err
}

func (o *options) validate() error {
	c := validate.NewChecker("notify")
	c.Add(o.validateSchemas())
	c.Add(o.policy.Validate("notify"))
	c.Add(o.breaker.Validate("notify", "WithCircuitBreaker"))
	c.Check(o.templates != nil, "WithTemplates", "is required (NewTemplates, then AddEvent and Add)")
	if o.templates != nil {
		c.Add(o.templates.Validate())
	}
	c.Check(o.clock != nil, "WithClock", "must not be nil")
	c.Check(o.logger != nil, "WithLogger", "must not be nil")
	c.Check(o.timeout > 0, "WithTimeout", "must be positive, got %s", o.timeout)
	c.Check(o.escalateAfter >= 10*time.Second, "WithEscalationDelay", "must be at least 10s, got %s", o.escalateAfter)
	c.Check(o.retention >= 48*time.Hour, "WithRetention", "must be at least 48h so no retry or digest outlives its notification, got %s", o.retention)
	c.Check(o.memoryWorkers > 0, "WithMemoryWorkers", "must be positive, got %d", o.memoryWorkers)
	names := map[string]bool{}
	for i, p := range o.providers {
		field := fmt.Sprintf("WithProvider[%d]", i)
		if p == nil {
			c.Check(false, field, "must not be nil")
			continue
		}
		ch := p.Channel()
		c.Check(ch.Valid() && ch != ChannelInApp, field, "serves channel %q; providers serve email, sms or push (in-app needs none)", ch)
		_, isPush := p.(PushProvider)
		c.Check(ch != ChannelPush || isPush, field, "is a push provider and must implement PushProvider (its PushKind)")
		c.Check(p.Name() != "" && p.Name() != inAppProvider, field, "needs a name other than %q and \"\"", inAppProvider)
		c.Check(!names[p.Name()], field, "name %q is used by another provider; each needs its own (it keys the breaker and rate limit)", p.Name())
		names[p.Name()] = true
	}
	for name, r := range o.rates {
		c.Check(names[name], "WithProviderRateLimit", "names provider %q, which was not added with WithProvider", name)
		c.Add(attempt.ValidateRate("notify", "WithProviderRateLimit", r))
	}
	for vt, p := range o.defaults {
		if err := p.Validate(); err != nil {
			c.Add(validate.Prefix(fmt.Sprintf("WithDefaultPreferences(%q)", vt), err))
		}
	}
	return c.Err()
}

// Start begins working notifications. In Postgres mode every started
// instance shares the work.
func (n *Notifier) Start(ctx context.Context) error { return n.run.Start(ctx) }

// Stop stops taking new work and waits for running sends to finish, or for
// ctx to end: then it cancels them and returns ctx.Err() at once. A later
// Stop waits again for what an earlier one left running. Unfinished work
// stays queued (in Postgres mode, for the next start of any instance).
func (n *Notifier) Stop(ctx context.Context) error { return n.run.Stop(ctx) }

// WaitIdle blocks until no job is running and none is due now, or ctx ends.
// Work scheduled for later (retries, escalations, digests, the end of quiet
// hours) does not count. Host tests use it with a fake clock: wait, then
// advance the clock.
func (n *Notifier) WaitIdle(ctx context.Context) error { return n.queue.WaitIdle(ctx) }

func (n *Notifier) prune(ctx context.Context) {
	c, err := n.store.prune(ctx, n.o.clock.Now().Add(-n.o.retention))
	switch {
	case err != nil && ctx.Err() == nil:
		n.o.logger.Warn("notify: prune failed", "err", err)
	case c > 0:
		n.o.logger.Info("notify: pruned old notifications", "notifications", c)
	}
}

// newID returns a time-ordered id with prefix (internal/ids).
func newID(prefix string) string { return idgen.New(prefix) }
