package telemetry

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopePrefix starts every instrumentation scope of the SDK.
const ScopePrefix = "github.com/wedsync/integrations/"

// Telemetry is one package's meter and tracer.
type Telemetry struct {
	Meter  metric.Meter
	Tracer trace.Tracer
	errs   []error
}

// New returns the meter and tracer of scope (a package path under
// ScopePrefix, such as "webhook/delivery") from the providers; a nil
// provider means the global one (otel.GetMeterProvider,
// otel.GetTracerProvider), which is a no-op until the host installs an SDK.
func New(scope string, mp metric.MeterProvider, tp trace.TracerProvider) *Telemetry {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return &Telemetry{
		Meter:  mp.Meter(ScopePrefix + scope),
		Tracer: tp.Tracer(ScopePrefix + scope),
	}
}

// Check records an instrument-creation error; Err reports them. A meter
// only fails on a malformed name or unit, which tests catch, so packages
// create instruments without an error path of their own and hand the error
// to otel.Handle at construction (see Err).
func (t *Telemetry) Check(err error) {
	if err != nil {
		t.errs = append(t.errs, err)
	}
}

// Err returns the instrument-creation errors joined, or nil.
func (t *Telemetry) Err() error { return errors.Join(t.errs...) }

// Counter makes an Int64Counter, recording any error.
func (t *Telemetry) Counter(name, unit, desc string) metric.Int64Counter {
	c, err := t.Meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	t.Check(err)
	return c
}

// UpDownCounter makes an Int64UpDownCounter, recording any error.
func (t *Telemetry) UpDownCounter(name, unit, desc string) metric.Int64UpDownCounter {
	c, err := t.Meter.Int64UpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	t.Check(err)
	return c
}

// DurationBuckets are the semantic conventions' bucket bounds, in seconds,
// for request durations.
var DurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// Histogram makes a Float64Histogram of seconds with DurationBuckets.
func (t *Telemetry) Histogram(name, desc string) metric.Float64Histogram {
	h, err := t.Meter.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
		metric.WithExplicitBucketBoundaries(DurationBuckets...))
	t.Check(err)
	return h
}

// HTTPClient instruments outgoing HTTP requests the semantic conventions'
// way: a client span named after the method, and the
// http.client.request.duration histogram.
type HTTPClient struct {
	tracer   trace.Tracer
	duration metric.Float64Histogram
}

// HTTPClient returns the package's HTTP client instrumentation.
func (t *Telemetry) HTTPClient() *HTTPClient {
	return &HTTPClient{
		tracer:   t.Tracer,
		duration: t.Histogram("http.client.request.duration", "Duration of HTTP client requests."),
	}
}

// Request is one instrumented request in flight.
type Request struct {
	h     *HTTPClient
	span  trace.Span
	start time.Time
	attrs []attribute.KeyValue // metric attributes
}

// Start begins a client span for req (call it before the request is sent
// and send the request with the returned context) and returns the request
// to End. attrs are added to the span only (ids of the package's own
// objects, which would make the metric's cardinality unbounded).
func (h *HTTPClient) Start(ctx context.Context, req *http.Request, attrs ...attribute.KeyValue) (context.Context, *Request) {
	host, port := req.URL.Hostname(), req.URL.Port()
	if port == "" {
		port = "443"
		if req.URL.Scheme == "http" {
			port = "80"
		}
	}
	p, _ := strconv.Atoi(port)
	common := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(req.Method),
		semconv.ServerAddress(host),
		semconv.ServerPort(p),
		semconv.URLScheme(req.URL.Scheme),
	}
	spanAttrs := append(append([]attribute.KeyValue{semconv.URLFull(RedactURL(req.URL))}, common...), attrs...)
	ctx, span := h.tracer.Start(ctx, req.Method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(spanAttrs...))
	return ctx, &Request{h: h, span: span, start: time.Now(), attrs: common}
}

// End records the outcome: the response's status (or err, when no response
// came), the span's status and the duration. It returns the duration.
func (r *Request) End(ctx context.Context, resp *http.Response, err error) time.Duration {
	d := time.Since(r.start)
	attrs := r.attrs
	switch {
	case err != nil:
		et := ErrorType(err)
		attrs = append(attrs, semconv.ErrorTypeKey.String(et))
		r.span.SetAttributes(semconv.ErrorTypeKey.String(et))
		r.span.SetStatus(codes.Error, et) // never err's text: it holds the URL
	default:
		attrs = append(attrs, semconv.HTTPResponseStatusCode(resp.StatusCode))
		r.span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
		if resp.StatusCode >= 400 {
			attrs = append(attrs, semconv.ErrorTypeKey.String(strconv.Itoa(resp.StatusCode)))
			r.span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(resp.StatusCode)))
			r.span.SetStatus(codes.Error, "")
		}
	}
	r.h.duration.Record(ctx, d.Seconds(), metric.WithAttributes(attrs...))
	r.span.End()
	return d
}

// ErrorType names an error for the error.type attribute: "timeout",
// "connection_refused" and such for common network failures, else
// "_OTHER". It never includes the error's text, which may hold a URL.
func ErrorType(err error) string {
	var ne net.Error
	var oe *net.OpError
	var de *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &de):
		return "dns_error"
	case errors.As(err, &oe) && oe.Op == "dial":
		return "connection_error"
	}
	return semconv.ErrorTypeOther.Value.AsString()
}

// RedactURL returns u for a span or a log line: scheme, host and port,
// with the path and the query's values replaced by REDACTED and no user
// information or fragment. A vendor's URL often carries its secret in the
// path (Slack's, Discord's and Zapier's hooks do) or in the query.
func RedactURL(u *url.URL) string {
	c := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if u.Path != "" && u.Path != "/" || u.RawPath != "" {
		c.Path = "/REDACTED"
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{"REDACTED"}
		}
		c.RawQuery = q.Encode()
	}
	return c.String()
}

// RedactError returns err with the URL of a *url.Error (what an
// http.Client returns) redacted as RedactURL does, so that the error's text
// can be logged or stored.
func RedactError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u, perr := url.Parse(ue.URL)
	redacted := "REDACTED"
	if perr == nil {
		redacted = RedactURL(u)
	}
	return &url.Error{Op: ue.Op, URL: redacted, Err: ue.Err}
}

// Handle passes instrument-creation errors to otel.Handle, the host's
// OpenTelemetry error handler: a bad instrument must not stop a package.
func Handle(err error) {
	if err != nil {
		otel.Handle(err)
	}
}
