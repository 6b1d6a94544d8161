package calendar

import (
	"context"
	"log/slog"
	"text/template"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/wedsync/integrations/internal/attempt"
	"github.com/wedsync/integrations/internal/jobs"
)

// Option configures a Sync.
type Option func(*options)

type options struct {
	pool           *pgxpool.Pool
	schema         string
	encKey         []byte
	encPrevious    [][]byte
	providers      []Provider
	rates          map[string]float64
	clock          clockwork.Clock
	logger         *slog.Logger
	policy         attempt.Policy
	breaker        attempt.BreakerConfig
	interval       time.Duration
	fullEvery      time.Duration
	horizonPast    time.Duration
	horizonAhead   time.Duration
	holdTTL        time.Duration
	timeout        time.Duration
	retention      time.Duration
	titleTmpl      string
	descTmpl       string
	onChange       func(context.Context, Change)
	callbackURL    string
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
			Schedule:      []time.Duration{0, 5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour},
			Jitter:        0.2,
			MinSlowRetry:  30 * time.Second,
			MaxRetryAfter: time.Hour,
		},
		breaker:       attempt.DefaultBreaker,
		interval:      5 * time.Minute,
		fullEvery:     7 * 24 * time.Hour,
		horizonPast:   31 * 24 * time.Hour,
		horizonAhead:  2 * 366 * 24 * time.Hour,
		holdTTL:       48 * time.Hour,
		timeout:       30 * time.Second,
		retention:     30 * 24 * time.Hour,
		titleTmpl:     DefaultTitleTemplate,
		descTmpl:      DefaultDescriptionTemplate,
		memoryWorkers: 32,
	}
}

// DefaultTitleTemplate is the calendar event title WithEventTemplates
// defaults to: the booking's title, marked while it is a hold.
const DefaultTitleTemplate = `{{if eq .Status "hold"}}[HOLD] {{end}}{{.Title}}`

// DefaultDescriptionTemplate is the event description WithEventTemplates
// defaults to: one line per detail the connection's Sharing allows (the
// others are empty here), then a note that WedSync wrote the event.
const DefaultDescriptionTemplate = `{{with .Couple}}Couple: {{.}}
{{end}}{{with .Venue}}Venue: {{.}}
{{end}}{{with .Contact}}Contact: {{.}}
{{end}}{{with .Notes}}Notes: {{.}}
{{end}}Managed by WedSync: edit this booking in WedSync, not here.`

// WithPostgres switches to Postgres mode on the host's pool: bookings,
// holds, connections and sync state live in the database, jobs run on
// River, and every instance shares the work. Run Migrate first. Default:
// memory mode, which loses everything on exit.
func WithPostgres(pool *pgxpool.Pool) Option { return func(o *options) { o.pool = pool } }

// WithSchema names the Postgres schema of the tables. Default "wedsync";
// River's tables go to "<schema>_calendar_jobs".
func WithSchema(name string) Option { return func(o *options) { o.schema = name } }

// WithEncryptionKey supplies the 32-byte AES-256-GCM key that seals
// connection credentials at rest, and earlier keys still to be read
// (rotation). Required in Postgres mode; memory mode uses a random key.
func WithEncryptionKey(key []byte, previous ...[]byte) Option {
	return func(o *options) { o.encKey, o.encPrevious = key, previous }
}

// WithProvider adds a calendar provider; connections name it by its Name.
// At least one is required.
func WithProvider(p Provider) Option {
	return func(o *options) { o.providers = append(o.providers, p) }
}

// WithProviderRateLimit limits calls to one connection of the named
// provider to perSecond (at least one a minute). Default: no limit.
func WithProviderRateLimit(name string, perSecond float64) Option {
	return func(o *options) {
		if o.rates == nil {
			o.rates = map[string]float64{}
		}
		o.rates[name] = perSecond
	}
}

// WithSyncInterval sets how often each connection is synced when nothing
// asks sooner (Sync.SyncNow, Sync.Notify, a booking written). Default 5m;
// at least 10s.
func WithSyncInterval(d time.Duration) Option { return func(o *options) { o.interval = d } }

// WithFullSyncEvery sets how often a connection lists its whole calendar
// instead of asking for changes, which also rolls the expansion horizon
// of recurring events forward. Default 7 days; at least 1h.
func WithFullSyncEvery(d time.Duration) Option { return func(o *options) { o.fullEvery = d } }

// WithHorizon sets how far back and ahead recurring events are expanded
// into busy blocks. Defaults: 31 days back, 732 days ahead.
func WithHorizon(past, ahead time.Duration) Option {
	return func(o *options) { o.horizonPast, o.horizonAhead = past, ahead }
}

// WithHoldTTL sets how long a hold lasts when Booking.HoldUntil is zero.
// Default 48h.
func WithHoldTTL(d time.Duration) Option { return func(o *options) { o.holdTTL = d } }

// WithEventTemplates sets the text/template of calendar event titles and
// descriptions, executed with a Booking whose couple details are blank
// unless the connection shares them. Defaults: DefaultTitleTemplate,
// DefaultDescriptionTemplate.
func WithEventTemplates(title, description string) Option {
	return func(o *options) { o.titleTmpl, o.descTmpl = title, description }
}

// WithChangeHandler is called after a sync commits, once for each conflict
// it found, each booking event edited or deleted in a calendar, and each
// failed sync, so that the host can route them to notify and realtime. It
// runs on the sync's goroutine: return quickly. Default: none.
func WithChangeHandler(fn func(ctx context.Context, c Change)) Option {
	return func(o *options) { o.onChange = fn }
}

// WithCallbackURL is where providers with push notifications (Google,
// Microsoft) send them: the host serves it with the provider package's
// NotificationHandler, which checks each against Sync.LookupWatch and
// calls Sync.Notify. The engine opens a watch per connection, renews it a
// day before it expires and stops it on Disconnect. Default "": no
// watches; connections sync on WithSyncInterval only.
func WithCallbackURL(url string) Option { return func(o *options) { o.callbackURL = url } }

// WithClock sets the time source (holds, sync schedule, retries, the
// expansion horizon). Default: the wall clock.
func WithClock(c clockwork.Clock) Option { return func(o *options) { o.clock = c } }

// WithLogger receives the engine's logs (failed syncs and writes, breaker
// openings). Default: discarded.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithRetrySchedule sets the delay before each attempt of a calendar
// write, the first included, and the backoff of a failing sync (which
// keeps its last delay once the schedule runs out, and never gives up).
// Default 0, 5s, 30s, 2m, 10m, 30m, 1h.
func WithRetrySchedule(delays ...time.Duration) Option {
	return func(o *options) { o.policy.Schedule = delays }
}

// WithCircuitBreaker tunes the per-connection breaker: it opens when at
// least ratio of at least minRequests calls in window failed, for openFor.
// Default: 70% of 10 in 5 minutes, for 30s.
func WithCircuitBreaker(minRequests uint32, ratio float64, window, openFor time.Duration) Option {
	return func(o *options) {
		o.breaker = attempt.BreakerConfig{MinRequests: minRequests, FailureRatio: ratio, Window: window, OpenFor: openFor}
	}
}

// WithTimeout bounds each provider call. Default 30s.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithRetention sets how long attempt log rows are kept. Default 30 days.
func WithRetention(d time.Duration) Option { return func(o *options) { o.retention = d } }

// QueueConfig tunes the River client of Postgres mode. Zero fields keep
// their defaults.
type QueueConfig struct {
	// Schema holds River's tables. Defaults to "<schema>_calendar_jobs",
	// the calendar package's own.
	Schema string
	// MaxWorkers bounds concurrent jobs per host instance. Defaults to 500.
	MaxWorkers int
	// FetchPollInterval is how often River polls when no notification
	// arrives. Defaults to 250ms.
	FetchPollInterval time.Duration
	// JobTimeout cancels a job after this long. Defaults to 4 times the
	// provider timeout (a sync may page).
	JobTimeout time.Duration
	// RescueAfter is how long a job may run before another instance
	// assumes its process died and runs it again. Defaults to JobTimeout
	// plus 1 minute.
	RescueAfter time.Duration
}

// WithQueueConfig tunes the River client in Postgres mode.
func WithQueueConfig(c QueueConfig) Option {
	return func(o *options) {
		o.river = jobs.RiverConfig{Schema: c.Schema, MaxWorkers: c.MaxWorkers,
			FetchPollInterval: c.FetchPollInterval, JobTimeout: c.JobTimeout, RescueAfter: c.RescueAfter}
	}
}

// WithMemoryWorkers sets concurrent jobs in memory mode. Default 32.
func WithMemoryWorkers(n int) Option { return func(o *options) { o.memoryWorkers = n } }

// WithMeterProvider sets where the engine's metrics go (see
// docs/telemetry.md). Defaults to the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) { o.meterProvider = mp }
}

// WithTracerProvider sets where the engine's spans go: one span per
// provider call. Defaults to the global provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracerProvider = tp }
}

func parseTemplates(o *options) (*template.Template, *template.Template, error) {
	title, err := template.New("title").Option("missingkey=error").Parse(o.titleTmpl)
	if err != nil {
		return nil, nil, invalid("WithEventTemplates", "title does not parse: %v", err)
	}
	desc, err := template.New("description").Option("missingkey=error").Parse(o.descTmpl)
	if err != nil {
		return nil, nil, invalid("WithEventTemplates", "description does not parse: %v", err)
	}
	return title, desc, nil
}
