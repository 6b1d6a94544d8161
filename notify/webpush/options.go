package webpush

import (
	"net/http"
	"net/netip"
	"time"
)

// Option configures a Provider.
type Option func(*options)

type options struct {
	name       string
	ttl        time.Duration
	httpClient *http.Client
	allowed    []netip.Prefix
	allowHTTP  bool
	timeout    time.Duration
}

func defaultOptions() options {
	return options{
		name:    "webpush",
		ttl:     24 * time.Hour,
		timeout: 15 * time.Second,
	}
}

// WithName sets the provider's Name, which keys its breaker, rate limit and
// statuses in the notifier. Default "webpush".
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithTTL sets how long the push service keeps a message for a browser that
// is offline (the TTL header, in whole seconds; 0 means deliver now or
// drop). Default 24 hours. Critical notifications are sent with
// "Urgency: high", the others with "Urgency: normal".
func WithTTL(d time.Duration) Option { return func(o *options) { o.ttl = d } }

// WithHTTPClient replaces the HTTP client. The default is SSRF-safe: it
// refuses private, loopback, link-local and cloud-metadata addresses at dial
// time, requires https, and has the WithTimeout timeout. A client passed
// here is used as is (keeping it safe is then the host's job), except that
// redirects are never followed. nil keeps the default.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithAllowedNetworks lets the default client reach these ranges despite the
// SSRF rules, for tests and demos (e.g. 127.0.0.0/8). Calls add up. Default
// none.
func WithAllowedNetworks(prefixes ...netip.Prefix) Option {
	return func(o *options) { o.allowed = append(o.allowed, prefixes...) }
}

// WithInsecureHTTP allows http:// subscription endpoints. Default false:
// https only.
func WithInsecureHTTP(allow bool) Option { return func(o *options) { o.allowHTTP = allow } }

// WithTimeout bounds each push request. Default 15 seconds.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }
