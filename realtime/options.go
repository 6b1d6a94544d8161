package realtime

import (
	"log/slog"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/wedsync/integrations/internal/validate"
)

// pkg names this package in validation errors.
const pkg = "realtime"

// ErrInvalid is matched (errors.Is) by every error that reports bad input:
// an option of NewHub, NewJWTAuthenticator or NewMemoryBroker, a
// BridgeConfig, the topic, event or payload of Hub.Broadcast, the change
// of Hub.EmitPostgresChange.
var ErrInvalid = validate.ErrInvalid

// ValidationError names the field (an option such as "WithIdleTimeout", a
// field such as "BridgeConfig.Table", or an argument such as "topic") and
// the rule it broke. Its message is "realtime: <field>: <rule>"; it
// matches ErrInvalid. Get it with errors.As; its fields are Package, Field and Rule. A constructor reports every
// bad option at once, joined (errors.Join).
type ValidationError = validate.Error

// Option configures a Hub (NewHub). Besides the hub's own options, the
// shared WithClock and WithLogger are Options.
type Option interface{ applyHub(*hubOptions) }

// JWTOption configures NewJWTAuthenticator. Besides its own options, the
// shared WithClock and WithLogger are JWTOptions.
type JWTOption interface{ applyJWT(*jwtOptions) }

// BrokerOption configures NewMemoryBroker. Besides its own options, the
// shared WithClock and WithLogger are BrokerOptions.
type BrokerOption interface{ applyBroker(*brokerOptions) }

// hubOption, jwtOption and brokerOption adapt a function to the option
// interface of one constructor.
type (
	hubOption    func(*hubOptions)
	jwtOption    func(*jwtOptions)
	brokerOption func(*brokerOptions)
)

func (f hubOption) applyHub(o *hubOptions)          { f(o) }
func (f jwtOption) applyJWT(o *jwtOptions)          { f(o) }
func (f brokerOption) applyBroker(o *brokerOptions) { f(o) }

// sharedOptions are the settings every constructor of the package has.
type sharedOptions struct {
	clock  clockwork.Clock
	logger *slog.Logger
	// nil means the global provider (see telemetry.New).
	meterProvider  metric.MeterProvider
	tracerProvider trace.TracerProvider
}

func defaultSharedOptions() sharedOptions {
	return sharedOptions{clock: clockwork.NewRealClock(), logger: slog.New(slog.DiscardHandler)}
}

// validate checks the shared settings into c.
func (o sharedOptions) validate(c *validate.Checker) {
	c.Check(o.clock != nil, "WithClock", "must not be nil")
	c.Check(o.logger != nil, "WithLogger", "must not be nil")
}

// SharedOption is a setting every constructor of the package takes: it is
// an Option (NewHub), a JWTOption (NewJWTAuthenticator) and a BrokerOption
// (NewMemoryBroker). WithClock, WithLogger, WithMeterProvider and
// WithTracerProvider return one, so one clock, one logger and one pair of
// OpenTelemetry providers configure all three.
type SharedOption struct{ set func(*sharedOptions) }

func (s SharedOption) applyHub(o *hubOptions)       { s.set(&o.sharedOptions) }
func (s SharedOption) applyJWT(o *jwtOptions)       { s.set(&o.sharedOptions) }
func (s SharedOption) applyBroker(o *brokerOptions) { s.set(&o.sharedOptions) }

// WithClock sets the clock. The hub reads it for idle sockets, token
// expiry, rate limits and the sweep's timer, and gives it to the
// MemoryBroker it makes when no WithBroker is given; a JWTAuthenticator
// for the exp, nbf and iat checks and the JWKS cache; a MemoryBroker to
// stamp publications and age history. Tests pass a clockwork.FakeClock.
// Defaults to the wall clock.
func WithClock(c clockwork.Clock) SharedOption {
	return SharedOption{func(o *sharedOptions) { o.clock = c }}
}

// WithLogger sets the logger. The hub logs slow consumers, history reads
// that fail and gaps it fills; a JWTAuthenticator logs JWK set fetches
// that fail; a MemoryBroker has nothing to log. Tokens and payloads are
// never logged. Defaults to discarding.
func WithLogger(l *slog.Logger) SharedOption {
	return SharedOption{func(o *sharedOptions) { o.logger = l }}
}

// WithMeterProvider sets where metrics go: the hub's connections, joins,
// broadcasts, frames, slow consumers, replays, resyncs and refusals, and a
// JWTAuthenticator's JWK set fetches (http.client.request.duration); a
// MemoryBroker records none. docs/realtime.md lists every metric. nil, and
// the default, mean the global provider (otel.GetMeterProvider), a no-op
// until the host installs an OpenTelemetry SDK.
func WithMeterProvider(mp metric.MeterProvider) SharedOption {
	return SharedOption{func(o *sharedOptions) { o.meterProvider = mp }}
}

// WithTracerProvider sets where spans go: a producer span for each
// Hub.Broadcast, a span for each join's replay and each resync from
// history, and a JWTAuthenticator's HTTP client span for each JWK set
// fetch; a MemoryBroker records none. nil, and the default, mean the
// global provider (otel.GetTracerProvider), a no-op until the host
// installs an OpenTelemetry SDK.
func WithTracerProvider(tp trace.TracerProvider) SharedOption {
	return SharedOption{func(o *sharedOptions) { o.tracerProvider = tp }}
}
