package telemetry

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
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
// http.client.request.duration histogram. It costs little when nothing
// records: span attributes are built only for a recording span, and the
// metric's attribute sets are computed once per distinct combination.
type HTTPClient struct {
	tracer   trace.Tracer
	duration metric.Float64Histogram

	mu   sync.RWMutex
	sets map[string]metric.MeasurementOption // metric attributes, by their values
}

// maxAttributeSets bounds the cache of the metric's attribute sets; past it
// sets are computed for each request (a metric with that many series has
// other troubles).
const maxAttributeSets = 4096

// HTTPClient returns the package's HTTP client instrumentation.
func (t *Telemetry) HTTPClient() *HTTPClient {
	return &HTTPClient{
		tracer:   t.Tracer,
		duration: t.Histogram("http.client.request.duration", "Duration of HTTP client requests."),
		sets:     map[string]metric.MeasurementOption{},
	}
}

// Request is one instrumented request in flight.
type Request struct {
	h      *HTTPClient
	span   trace.Span
	start  time.Time
	method string
	url    *url.URL
}

// Start begins a client span for req and returns the request to End.
// Call it before the request is sent; when Recording is true, send the
// request with the returned context (req.WithContext), so that spans of an
// instrumented transport nest under this one. attrs are added to the span
// only (ids of the package's own objects, which would make the metric's
// cardinality unbounded).
func (h *HTTPClient) Start(ctx context.Context, req *http.Request, attrs ...attribute.KeyValue) (context.Context, *Request) {
	ctx, span := h.tracer.Start(ctx, req.Method, trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		host, port, scheme := serverOf(req.URL)
		span.SetAttributes(
			semconv.URLFull(RedactURL(req.URL)),
			semconv.HTTPRequestMethodKey.String(req.Method),
			semconv.ServerAddress(host),
			semconv.ServerPort(port),
			semconv.URLScheme(scheme),
		)
		span.SetAttributes(attrs...)
	}
	return ctx, &Request{h: h, span: span, start: time.Now(), method: req.Method, url: req.URL}
}

// Recording reports whether the span records (an SDK is installed).
func (r *Request) Recording() bool { return r.span.IsRecording() }

// serverOf returns the host, the port (the scheme's default when the URL
// names none) and the scheme of u.
func serverOf(u *url.URL) (string, int, string) {
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	p, _ := strconv.Atoi(port)
	return u.Hostname(), p, u.Scheme
}

// End records the outcome: the response's status (or err, when no response
// came), the span's status and the duration. It returns the duration.
func (r *Request) End(ctx context.Context, resp *http.Response, err error) time.Duration {
	d := time.Since(r.start)
	var status int
	var errorType string
	switch {
	case err != nil:
		errorType = ErrorType(err)
	case resp.StatusCode >= 400:
		status, errorType = resp.StatusCode, strconv.Itoa(resp.StatusCode)
	default:
		status = resp.StatusCode
	}
	if r.span.IsRecording() {
		if status != 0 {
			r.span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		}
		if errorType != "" {
			r.span.SetAttributes(semconv.ErrorTypeKey.String(errorType))
			r.span.SetStatus(codes.Error, errorType) // never err's text: it holds the URL
		}
	}
	if r.h.duration.Enabled(ctx) {
		r.h.duration.Record(ctx, d.Seconds(), r.h.attributes(r.method, r.url, status, errorType))
	}
	r.span.End()
	return d
}

// attributes returns the metric's attribute set for one combination of
// method, server, status and error type, computed once.
func (h *HTTPClient) attributes(method string, u *url.URL, status int, errorType string) metric.MeasurementOption {
	key := method + " " + u.Scheme + "://" + u.Host + " " + strconv.Itoa(status) + " " + errorType
	h.mu.RLock()
	opt, ok := h.sets[key]
	h.mu.RUnlock()
	if ok {
		return opt
	}
	host, port, scheme := serverOf(u)
	kvs := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(method),
		semconv.ServerAddress(host),
		semconv.ServerPort(port),
		semconv.URLScheme(scheme),
	}
	if status != 0 {
		kvs = append(kvs, semconv.HTTPResponseStatusCode(status))
	}
	if errorType != "" {
		kvs = append(kvs, semconv.ErrorTypeKey.String(errorType))
	}
	opt = metric.WithAttributeSet(attribute.NewSet(kvs...))
	h.mu.Lock()
	if len(h.sets) < maxAttributeSets {
		h.sets[key] = opt
	}
	h.mu.Unlock()
	return opt
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

// QueueStatsTimeout bounds the queue count one collection of a queue-depth
// gauge makes (one query in Postgres mode), so that a slow database cannot
// hold a collection, or a Stop waiting for one, for long.
const QueueStatsTimeout = 5 * time.Second

// AttrQueueState is the state attribute of the queue-depth gauges: due,
// scheduled or running.
const AttrQueueState = attribute.Key("wedsync.queue.state")

// QueueDepth registers a package's queue-depth gauge (unit {job}, one
// series per state: due, scheduled, running) and its callback, once for the
// package's life. The callback reports only while observing is true
// (between Start and Stop): it is never unregistered, because unregistering
// waits for a collection in progress, which a Stop must not do. stats
// counts the queue's jobs (jobs.Queue.Stats).
func (t *Telemetry) QueueDepth(name, desc string, observing *atomic.Bool,
	stats func(ctx context.Context) (due, scheduled, running int64, err error)) {
	g, err := t.Meter.Int64ObservableGauge(name, metric.WithUnit("{job}"), metric.WithDescription(desc))
	t.Check(err)
	if err != nil {
		return
	}
	dueSet := metric.WithAttributeSet(attribute.NewSet(AttrQueueState.String("due")))
	scheduledSet := metric.WithAttributeSet(attribute.NewSet(AttrQueueState.String("scheduled")))
	runningSet := metric.WithAttributeSet(attribute.NewSet(AttrQueueState.String("running")))
	_, err = t.Meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		if !observing.Load() {
			return nil
		}
		ctx, cancel := context.WithTimeout(ctx, QueueStatsTimeout)
		defer cancel()
		due, scheduled, running, err := stats(ctx)
		if err != nil {
			return err
		}
		o.ObserveInt64(g, due, dueSet)
		o.ObserveInt64(g, scheduled, scheduledSet)
		o.ObserveInt64(g, running, runningSet)
		return nil
	}, g)
	Handle(err)
}
