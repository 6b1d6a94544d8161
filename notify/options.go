package notify

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/wedsync/integrations/internal/attempt"
	"github.com/wedsync/integrations/internal/jobs"
)

// Option configures a Notifier.
type Option func(*options)

type options struct {
	pool           *pgxpool.Pool
	schema         string
	encKey         []byte
	encPrevious    [][]byte
	templates      *Templates
	providers      []Provider
	rates          map[string]float64
	clock          clockwork.Clock
	logger         *slog.Logger
	policy         attempt.Policy
	breaker        attempt.BreakerConfig
	escalateAfter  time.Duration
	idempotencyTTL time.Duration
	retention      time.Duration
	pruneEvery     time.Duration
	timeout        time.Duration
	inApp          func(context.Context, InAppMessage)
	statusHook     func(NotificationStatus)
	unsubscribe    func(r Recipient, c Category) string
	defaults       map[string]Preferences
	river          jobs.RiverConfig
	memoryWorkers  int
	meterProvider  metric.MeterProvider
	tracerProvider trace.TracerProvider
}

func defaultOptions() options {
	return options{
		schema: "wedsync",
		clock:  clockwork.NewRealClock(),
		logger: slog.New(slog.DiscardHandler),
		policy: attempt.Policy{
			Schedule:      []time.Duration{0, 10 * time.Second, time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour},
			Jitter:        0.2,
			MinSlowRetry:  30 * time.Second,
			MaxRetryAfter: time.Hour,
		},
		breaker:        attempt.DefaultBreaker,
		escalateAfter:  5 * time.Minute,
		idempotencyTTL: 24 * time.Hour,
		retention:      30 * 24 * time.Hour,
		pruneEvery:     time.Hour,
		timeout:        30 * time.Second,
		rates:          map[string]float64{},
		memoryWorkers:  64,
	}
}

// WithPostgres switches the notifier to Postgres mode on the host's pool:
// notifications, statuses, preferences, push subscriptions, digests, the
// in-app inbox and the attempt log live in tables (run Migrate first), and
// the work is River jobs that survive a crash and are shared by every host
// instance. Default: memory mode, which keeps everything in this process and
// loses it on exit.
func WithPostgres(pool *pgxpool.Pool) Option { return func(o *options) { o.pool = pool } }

// WithSchema names the Postgres schema of the tables. Default "wedsync";
// River's tables go in "<schema>_notify_jobs".
func WithSchema(name string) Option { return func(o *options) { o.schema = name } }

// WithEncryptionKey supplies the 32-byte AES-256-GCM key that encrypts push
// subscriptions' keys and tokens at rest; previous keys still decrypt, so a
// host rotates by passing the new key first. Required in Postgres mode;
// memory mode uses a random key by default.
func WithEncryptionKey(key []byte, previous ...[]byte) Option {
	return func(o *options) { o.encKey, o.encPrevious = key, previous }
}

// WithTemplates sets the events and their templates. Required: Send
// refuses events the templates do not declare. NewNotifier runs
// Templates.Validate, so a missing default variant fails at start-up, not
// at send time.
func WithTemplates(t *Templates) Option { return func(o *options) { o.templates = t } }

// WithProvider adds a provider for its channel. Providers of one channel
// are tried in the order they were added: the next one takes over when one
// fails or its circuit breaker is open (failover). A channel without
// providers (other than in-app) fails with "no provider". Default none.
func WithProvider(p Provider) Option {
	return func(o *options) { o.providers = append(o.providers, p) }
}

// WithProviderRateLimit limits calls to the named provider to perSecond
// (at least one a minute; 0 means no limit), per host instance. A call
// beyond it goes to the channel's next provider (failover); when no provider
// of the channel is free, the attempt waits in the queue without counting
// as a failure or an attempt. Default: no limit.
func WithProviderRateLimit(name string, perSecond float64) Option {
	return func(o *options) { o.rates[name] = perSecond }
}

// WithClock sets the time source (quiet hours, digests, escalation, retry
// times); tests pass a fake clock. Default: the wall clock.
func WithClock(c clockwork.Clock) Option { return func(o *options) { o.clock = c } }

// WithLogger receives the notifier's logs: failed attempts and breaker
// changes at Warn, sends at Debug. Recipients are masked; message bodies and
// secrets are never logged. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithRetrySchedule sets the delay before each attempt on a channel, the
// first included (usually 0). Default 0, 10s, 1m, 5m, 30m, 2h, 6h (seven
// attempts over about 9 hours), with ±20% jitter; a timeout or a 429 waits
// at least 30 s, and a provider's Retry-After is honoured up to an hour.
// In Postgres mode River promotes scheduled jobs every 5 s, so a retry may
// start up to 5 s after its time.
func WithRetrySchedule(delays ...time.Duration) Option {
	return func(o *options) { o.policy.Schedule = delays }
}

// WithRetryJitter sets the random spread of retry delays (0.2 is ±20%).
// Default 0.2.
func WithRetryJitter(fraction float64) Option { return func(o *options) { o.policy.Jitter = fraction } }

// WithCircuitBreaker tunes the per-provider breaker: it opens when at least
// ratio of at least minRequests calls in window failed, and stays open for
// openFor before one probe is let through; while it is open the channel's
// next provider is used. Defaults 10, 0.7, 5m, 30s.
func WithCircuitBreaker(minRequests uint32, ratio float64, window, openFor time.Duration) Option {
	return func(o *options) {
		o.breaker = attempt.BreakerConfig{MinRequests: minRequests, FailureRatio: ratio, Window: window, OpenFor: openFor}
	}
}

// WithEscalationDelay sets how long a critical notification waits for an
// acknowledgement on one channel before it goes out on the next. Default
// 5 minutes; at least 10 seconds.
func WithEscalationDelay(d time.Duration) Option { return func(o *options) { o.escalateAfter = d } }

// WithRetention sets how long notifications, their statuses, attempts and
// in-app messages are kept. Default 30 days; at least 2 days.
func WithRetention(d time.Duration) Option { return func(o *options) { o.retention = d } }

// WithTimeout bounds each provider call. Default 30s.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithInAppHandler is called after an in-app message is stored, from the
// sending goroutine (keep it quick): the host shows it live, for example by
// broadcasting it on the supplier's realtime topic. notify does not import
// realtime. Default none.
func WithInAppHandler(fn func(ctx context.Context, m InAppMessage)) Option {
	return func(o *options) { o.inApp = fn }
}

// WithStatusHook is called after a notification's status changes on any
// channel (routed, sent, failed, acknowledged), from the goroutine that
// changed it; keep it quick. The demo's notification panel uses it.
// Default none.
func WithStatusHook(fn func(NotificationStatus)) Option {
	return func(o *options) { o.statusHook = fn }
}

// WithUnsubscribeURL gives each email a List-Unsubscribe header (and
// RFC 8058 one-click unsubscribe) pointing at the URL fn returns for the
// recipient and category, usually the supplier's preferences page; "" means
// no header. Default none.
func WithUnsubscribeURL(fn func(r Recipient, c Category) string) Option {
	return func(o *options) { o.unsubscribe = fn }
}

// WithDefaultPreferences replaces the default preferences of a vendor type
// ("" sets them for every type without defaults of its own). Default
// DefaultPreferences.
func WithDefaultPreferences(vendorType string, p Preferences) Option {
	return func(o *options) {
		if o.defaults == nil {
			o.defaults = map[string]Preferences{}
		}
		o.defaults[vendorType] = p
	}
}

// QueueConfig tunes the River client of Postgres mode. Zero fields keep
// their defaults.
type QueueConfig struct {
	// Schema holds River's tables. Defaults to "<schema>_notify_jobs", the
	// notify package's own (packages never share one: River's rescuer
	// discards stuck jobs of kinds its client does not know).
	Schema string
	// MaxWorkers bounds concurrent jobs per host instance. Defaults to 500.
	MaxWorkers int
	// FetchCooldown is the shortest pause between fetches. Defaults to 10ms.
	FetchCooldown time.Duration
	// FetchPollInterval is how often River polls when no notification
	// arrives. Defaults to 250ms.
	FetchPollInterval time.Duration
	// JobTimeout cancels a job after this long. Defaults to the provider
	// timeout times the number of providers of the largest channel, plus
	// 30s.
	JobTimeout time.Duration
	// RescueAfter is how long a job may run before another instance assumes
	// its process died and runs it again. Defaults to JobTimeout plus 1
	// minute.
	RescueAfter time.Duration
}

// WithQueueConfig tunes the River client in Postgres mode.
func WithQueueConfig(c QueueConfig) Option {
	return func(o *options) {
		o.river = jobs.RiverConfig{Schema: c.Schema, MaxWorkers: c.MaxWorkers, FetchCooldown: c.FetchCooldown,
			FetchPollInterval: c.FetchPollInterval, JobTimeout: c.JobTimeout, RescueAfter: c.RescueAfter}
	}
}

// WithMemoryWorkers sets concurrent jobs in memory mode. Default 64.
func WithMemoryWorkers(n int) Option { return func(o *options) { o.memoryWorkers = n } }

// WithMeterProvider sets where the notifier's metrics go (see
// docs/telemetry.md). Defaults to the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) { o.meterProvider = mp }
}

// WithTracerProvider sets where the notifier's spans go: one span per
// provider call. Defaults to the global provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracerProvider = tp }
}
