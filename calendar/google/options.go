package google

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// DefaultEndpoint is the base URL of the Google Calendar API v3.
const DefaultEndpoint = "https://www.googleapis.com/calendar/v3/"

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
	endpoint   string
	pageSize   int
	watchTTL   time.Duration
}

func defaultOptions() options {
	return options{timeout: 30 * time.Second, endpoint: DefaultEndpoint, pageSize: 250, watchTTL: 7 * 24 * time.Hour}
}

// WithEndpoint replaces the API's base URL, for tests (googletest.Server's
// Endpoint) and proxies. It must end in "/". Default DefaultEndpoint.
func WithEndpoint(u string) Option { return func(o *options) { o.endpoint = u } }

// WithHTTPClient replaces the HTTP client used for the API and the token
// endpoint. The default is SSRF-safe (internal/netguard): it refuses
// private, loopback, link-local and cloud-metadata addresses at dial time,
// requires https and follows no redirects. A client passed here is used as
// is, except that redirects are never followed. nil keeps the default.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithAllowedNetworks lets the default client reach these ranges despite
// the SSRF rules, for tests and demos (127.0.0.0/8 reaches googletest's
// server). Calls add up. Default none.
func WithAllowedNetworks(prefixes ...netip.Prefix) Option {
	return func(o *options) { o.allowed = append(o.allowed, prefixes...) }
}

// WithInsecureHTTP lets the default client use http:// URLs, for tests and
// demos. Default false: https only.
func WithInsecureHTTP(allow bool) Option { return func(o *options) { o.allowHTTP = allow } }

// WithTimeout bounds each Provider call as a whole (a Changes call may read
// many pages). A call that runs out of time fails with a
// *calendar.ProviderError, which the engine retries. Default 30 seconds.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithPageSize sets maxResults of each events.list page: fewer, larger
// pages cost fewer requests. Google allows 1 to 2500. Default 250.
func WithPageSize(n int) Option { return func(o *options) { o.pageSize = n } }

// WithWatchTTL sets the expiration a Watch asks for; Google may grant
// less (it caps event channels at about a week), and the Watch returned
// carries what it granted. Default 7 days.
func WithWatchTTL(d time.Duration) Option { return func(o *options) { o.watchTTL = d } }

// WithLogger sets where the provider reports events it skips because they
// do not decode. Credentials and tokens are never logged. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMeterProvider sets the OpenTelemetry meter provider for the
// http.client.request.duration histogram. Default: the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option { return func(o *options) { o.mp = mp } }

// WithTracerProvider sets the OpenTelemetry tracer provider for the client
// spans of each request. Default: the global provider.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(o *options) { o.tp = tp } }
