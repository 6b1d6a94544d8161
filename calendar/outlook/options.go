package outlook

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// DefaultBaseURL is Microsoft Graph's v1.0 endpoint, the default of
// WithBaseURL.
const DefaultBaseURL = "https://graph.microsoft.com/v1.0"

// Default sync window of calendarView/delta (WithWindow): Graph's delta
// over a calendar view needs a fixed start and end, so the provider syncs
// from 31 days ago to two years ahead of the first (full) listing.
const (
	DefaultWindowPast  = 31 * 24 * time.Hour
	DefaultWindowAhead = 2 * 365 * 24 * time.Hour
)

// Option configures a Provider.
type Option func(*options)

type options struct {
	baseURL     string
	httpClient  *http.Client
	allowed     []netip.Prefix
	allowHTTP   bool
	timeout     time.Duration
	logger      *slog.Logger
	mp          metric.MeterProvider
	tp          trace.TracerProvider
	past, ahead time.Duration
	now         func() time.Time
}

func defaultOptions() options {
	return options{baseURL: DefaultBaseURL, timeout: 30 * time.Second, past: DefaultWindowPast, ahead: DefaultWindowAhead, now: time.Now}
}

// WithBaseURL sets the Graph endpoint the provider calls, for tests
// (outlooktest.Server.URL) and national clouds. Default DefaultBaseURL.
func WithBaseURL(u string) Option { return func(o *options) { o.baseURL = u } }

// WithHTTPClient replaces the HTTP client used for Graph and for the
// token endpoint. The default is SSRF-safe (internal/netguard): it refuses
// private, loopback, link-local and cloud-metadata addresses at dial time
// and requires https. A client passed here is used as is, except that
// redirects are never followed. nil keeps the default.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithAllowedNetworks lets the default client reach these ranges despite
// the SSRF rules, for tests and demos (127.0.0.0/8 reaches outlooktest).
// Calls add up. Default none.
func WithAllowedNetworks(prefixes ...netip.Prefix) Option {
	return func(o *options) { o.allowed = append(o.allowed, prefixes...) }
}

// WithInsecureHTTP lets the default client use http:// URLs, for tests and
// demos. Default false: https only.
func WithInsecureHTTP(allow bool) Option { return func(o *options) { o.allowHTTP = allow } }

// WithTimeout bounds each Provider call as a whole (a Changes call may
// follow many pages). A call that runs out of time fails with a
// *calendar.ProviderError, which the engine retries. Default 30 seconds.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithLogger sets where the provider reports events it skips because they
// do not decode. Tokens are never logged. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMeterProvider sets the OpenTelemetry meter provider for the
// http.client.request.duration histogram. Default: the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option { return func(o *options) { o.mp = mp } }

// WithTracerProvider sets the OpenTelemetry tracer provider for the client
// spans of each request. Default: the global provider.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(o *options) { o.tp = tp } }

// WithWindow sets the calendarView/delta window of a full listing: from
// past before now to ahead after it. Events outside it are not synced (a
// full listing reports them as gone). Default DefaultWindowPast (31 days)
// and DefaultWindowAhead (two years).
func WithWindow(past, ahead time.Duration) Option {
	return func(o *options) { o.past, o.ahead = past, ahead }
}
