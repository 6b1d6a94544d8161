package delivery

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/jonboulle/clockwork"

	"github.com/wedsync/integrations/internal/attempt"
	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/jobs"
)

// Option configures a Manager.
type Option func(*options)

type options struct {
	pool           *pgxpool.Pool
	schema         string
	encKey         []byte
	encPrevious    [][]byte
	httpClient     *http.Client
	allowed        []netip.Prefix
	allowHTTP      bool
	clock          clockwork.Clock
	policy         attempt.Policy
	timeout        time.Duration
	maxPayload     int
	logger         *slog.Logger
	userAgent      string
	retention      time.Duration
	disableAfter   time.Duration
	rotationGrace  time.Duration
	breaker        attempt.BreakerConfig
	pausedRecheck  time.Duration
	endpointTTL    time.Duration
	idempotencyTTL time.Duration
	fairRate       float64
	fairBurst      int
	river          jobs.RiverConfig
	memoryWorkers  int
	attemptHook    func(Attempt)
	batchHook      func(kind string, n int) error // tests: see pgStore.hook
	meterProvider  metric.MeterProvider
	tracerProvider trace.TracerProvider
	pruneEvery     time.Duration
}

func defaultOptions() options {
	return options{
		schema: "wedsync",
		clock:  clockwork.NewRealClock(),
		policy: attempt.Policy{
			Schedule:      backoff.DefaultSchedule(),
			Jitter:        backoff.DefaultJitter,
			MinSlowRetry:  time.Minute,
			MaxRetryAfter: 24 * time.Hour,
		},
		timeout:        30 * time.Second,
		maxPayload:     256 << 10,
		logger:         slog.New(slog.DiscardHandler),
		userAgent:      "WedSync-Webhooks/1.0 (+https://wedsync.com/docs/webhooks)",
		retention:      30 * 24 * time.Hour,
		disableAfter:   5 * 24 * time.Hour,
		rotationGrace:  24 * time.Hour,
		breaker:        attempt.DefaultBreaker,
		pausedRecheck:  time.Minute,
		endpointTTL:    time.Second,
		idempotencyTTL: 24 * time.Hour,
		fairRate:       200,
		fairBurst:      1000,
		memoryWorkers:  64,
		pruneEvery:     time.Hour,
	}
}

// WithPostgres switches the manager to Postgres mode on the host's pool:
// endpoints, messages and the attempt log live in tables (run Migrate first)
// and deliveries are River jobs that survive crashes and are shared by every
// host instance. Default: memory mode, which keeps everything in this
// process and loses it on exit.
func WithPostgres(pool *pgxpool.Pool) Option { return func(o *options) { o.pool = pool } }

// WithSchema names the Postgres schema of the tables. Default "wedsync".
func WithSchema(name string) Option { return func(o *options) { o.schema = name } }

// WithEncryptionKey supplies the 32-byte AES-256-GCM key that encrypts
// endpoint secrets at rest; previous keys still decrypt, so a host rotates by
// passing the new key first. Required in Postgres mode; memory mode uses a
// random key by default.
func WithEncryptionKey(key []byte, previous ...[]byte) Option {
	return func(o *options) { o.encKey, o.encPrevious = key, previous }
}

// WithHTTPClient replaces the delivery client. The default is SSRF-safe
// (refuses private, loopback, link-local and metadata addresses at dial
// time), follows no redirects and has the delivery timeout. A client passed
// here is used as is: keeping it safe is then the host's job.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithAllowedNetworks lets the default client reach these ranges despite the
// SSRF rules, for tests and demos (e.g. 127.0.0.0/8). Default none.
func WithAllowedNetworks(prefixes ...netip.Prefix) Option {
	return func(o *options) { o.allowed = append(o.allowed, prefixes...) }
}

// WithInsecureHTTP allows http:// endpoint URLs. Default false: https only.
func WithInsecureHTTP(allow bool) Option { return func(o *options) { o.allowHTTP = allow } }

// WithClock sets the time source; tests pass a fake clock (see
// webhooktest.NewClock). Default: the wall clock.
func WithClock(c clockwork.Clock) Option { return func(o *options) { o.clock = c } }

// WithRetrySchedule sets the delay before each attempt, the first included
// (usually 0: at once). Default Svix's: 0, 5s, 5m, 30m, 2h, 5h, 10h, 10h
// (eight attempts over about 28 hours). Delays are minimums: in Postgres
// mode River promotes scheduled jobs every 5 seconds, so a retry may start
// up to 5 s after its time.
func WithRetrySchedule(delays ...time.Duration) Option {
	return func(o *options) { o.policy.Schedule = delays }
}

// WithRetryJitter sets the random spread applied to each retry delay as a
// fraction (0.2 means ±20%). Default 0.2.
func WithRetryJitter(fraction float64) Option {
	return func(o *options) { o.policy.Jitter = fraction }
}

// WithTimeout bounds each delivery request. Default 30s.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithMaxPayloadSize caps a message's payload in bytes. Default 256 KiB.
func WithMaxPayloadSize(n int) Option { return func(o *options) { o.maxPayload = n } }

// WithLogger receives delivery logs: failed attempts at Warn, deliveries at
// Debug, endpoint state changes at Warn. Secrets and payloads are never
// logged. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithUserAgent sets the User-Agent of deliveries. Default
// "WedSync-Webhooks/1.0 (+https://wedsync.com/docs/webhooks)".
func WithUserAgent(ua string) Option { return func(o *options) { o.userAgent = ua } }

// WithRetention sets how long messages and attempts are kept. Default 30
// days; at least 48 hours, so no retry outlives its message.
func WithRetention(d time.Duration) Option { return func(o *options) { o.retention = d } }

// WithDisableAfter disables an endpoint that has done nothing but fail for
// this long. Default 5 days.
func WithDisableAfter(d time.Duration) Option { return func(o *options) { o.disableAfter = d } }

// WithRotationGrace sets how long an old secret keeps signing after
// RotateSecret. Default 24 hours.
func WithRotationGrace(d time.Duration) Option { return func(o *options) { o.rotationGrace = d } }

// WithCircuitBreaker tunes the per-endpoint breaker: it opens when at least
// ratio of at least minRequests attempts in window failed, and stays open for
// openFor before one probe is let through. Defaults 10, 0.7, 5m, 30s
// (Convoy's).
func WithCircuitBreaker(minRequests uint32, ratio float64, window, openFor time.Duration) Option {
	return func(o *options) {
		o.breaker = attempt.BreakerConfig{MinRequests: minRequests, FailureRatio: ratio, Window: window, OpenFor: openFor}
	}
}

// WithFairness sets how many messages a supplier may send at full priority:
// a token bucket of burst tokens refilled at rate per second, per host
// instance. Messages beyond it go to a lower-priority lane, so one
// supplier's burst cannot starve the others. Defaults 200/s, burst 1,000.
func WithFairness(rate float64, burst int) Option {
	return func(o *options) { o.fairRate, o.fairBurst = rate, burst }
}

// QueueConfig tunes the River client that delivers in Postgres mode. Zero
// fields keep their defaults.
type QueueConfig struct {
	// Schema holds River's tables (its jobs, its leader). Defaults to
	// "<schema>_webhook_jobs", a schema of the webhook package's own:
	// River runs maintenance per schema and its rescuer discards the
	// stuck jobs of kinds it does not know, so packages never share one.
	Schema string
	// MaxWorkers bounds concurrent deliveries per host instance. Defaults
	// to 500: deliveries wait on the network, not the CPU.
	MaxWorkers int
	// FetchCooldown is the shortest pause between River fetches. Defaults
	// to 10ms (River's own default is 100ms).
	FetchCooldown time.Duration
	// FetchPollInterval is how often River polls when no notification
	// arrives. Defaults to 250ms (River's: 1s): polling is a client's idle
	// cost, and a fresh job is woken by its notification anyway (see
	// docs/postgres.md in the repository).
	FetchPollInterval time.Duration
	// JobTimeout cancels a delivery job after this long. Defaults to the
	// delivery timeout plus 30s.
	JobTimeout time.Duration
	// RescueAfter is how long a delivery may stay running before another
	// instance assumes its process died and runs it again. Defaults to
	// JobTimeout plus 1 minute, which is also what a value not above
	// JobTimeout becomes (a job still running must not be run twice);
	// River's rescuer looks every 30s.
	RescueAfter time.Duration
}

// WithQueueConfig tunes the River client in Postgres mode.
func WithQueueConfig(c QueueConfig) Option {
	return func(o *options) {
		o.river = jobs.RiverConfig{Schema: c.Schema, MaxWorkers: c.MaxWorkers, FetchCooldown: c.FetchCooldown,
			FetchPollInterval: c.FetchPollInterval, JobTimeout: c.JobTimeout, RescueAfter: c.RescueAfter}
	}
}

// WithMemoryWorkers sets concurrent deliveries in memory mode. Default 64.
func WithMemoryWorkers(n int) Option { return func(o *options) { o.memoryWorkers = n } }

// WithAttemptHook calls fn after each attempt is logged, from the delivering
// goroutine; keep it quick. The demo prints attempts with it. Default none.
func WithAttemptHook(fn func(Attempt)) Option { return func(o *options) { o.attemptHook = fn } }

// WithEndpointCacheTTL sets how long a host instance trusts its cached copy
// of an endpoint; changes made through another instance take effect within
// it. Default 1s.
func WithEndpointCacheTTL(d time.Duration) Option { return func(o *options) { o.endpointTTL = d } }

// WithMeterProvider sets where the manager's metrics go (see
// docs/telemetry.md). Defaults to the global provider
// (otel.GetMeterProvider), a no-op until the host installs an
// OpenTelemetry SDK.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) { o.meterProvider = mp }
}

// WithTracerProvider sets where the manager's spans go: one HTTP client span
// per delivery attempt. Defaults to the global provider
// (otel.GetTracerProvider), a no-op until the host installs an SDK.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracerProvider = tp }
}

// withBatchHook has fn told the kind and size of each batch of the
// Postgres store's grouped reads and writes; an error from fn fails the
// batch's transaction (tests, through export_test.go).
func withBatchHook(fn func(kind string, n int) error) Option {
	return func(o *options) { o.batchHook = fn }
}
