package caldav

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Option configures a Provider.
type Option func(*options)

type options struct {
	httpClient *http.Client
	allowed    []netip.Prefix
	allowHTTP  bool
	timeout    time.Duration
	logger     *slog.Logger
	mp         metric.MeterProvider
	tp         trace.TracerProvider
}

func defaultOptions() options {
	return options{timeout: 30 * time.Second}
}

// WithHTTPClient replaces the HTTP client. The default is SSRF-safe
// (internal/netguard): CalDAV servers are URLs that customers type in, so
// it refuses private, loopback, link-local and cloud-metadata addresses at
// dial time and requires https. A client passed here is used as is
// (keeping it safe is then the host's job), except that redirects are never
// followed. nil keeps the default.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithAllowedNetworks lets the default client reach these ranges despite
// the SSRF rules, for tests and demos (127.0.0.0/8 reaches a local Radicale
// or the in-process server of caldavtest). Calls add up. Default none.
func WithAllowedNetworks(prefixes ...netip.Prefix) Option {
	return func(o *options) { o.allowed = append(o.allowed, prefixes...) }
}

// WithInsecureHTTP lets the default client use http:// server URLs, for
// tests and demos. Default false: https only.
func WithInsecureHTTP(allow bool) Option { return func(o *options) { o.allowHTTP = allow } }

// WithTimeout bounds each Provider call as a whole (a Changes call may make
// several requests). A call that runs out of time fails with a
// *calendar.ProviderError, which the engine retries. Default 30 seconds.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithLogger sets where the provider reports calendar objects it skips
// because they do not parse (a server may hold objects no client can read;
// refusing the whole sync for one of them would stop the connection for
// good). Credentials are never logged. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMeterProvider sets the OpenTelemetry meter provider for the
// http.client.request.duration histogram. Default: the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option { return func(o *options) { o.mp = mp } }

// WithTracerProvider sets the OpenTelemetry tracer provider for the client
// spans of each request. Default: the global provider.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(o *options) { o.tp = tp } }
