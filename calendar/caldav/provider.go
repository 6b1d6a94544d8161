package caldav

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/netguard"
	"github.com/wedsync/integrations/internal/telemetry"
	"github.com/wedsync/integrations/internal/validate"
)

// ProviderName is what Provider.Name returns.
const ProviderName = "caldav"

// MaxResponseBytes bounds every response body the provider reads (a
// multistatus of a full listing, one calendar object). A larger answer is
// an error rather than a memory exhaustion: 64 MiB holds a full listing of
// some tens of thousands of ordinary events.
const MaxResponseBytes = 64 << 20

// Provider is the CalDAV (RFC 4791) implementation of calendar.Provider.
// It holds no per-connection state: each call reads the credentials it is
// given, and the sync state lives in the cursor. It is safe for concurrent
// use.
type Provider struct {
	client  *http.Client
	timeout time.Duration
	logger  *slog.Logger
	http    *telemetry.HTTPClient
}

var _ calendar.Provider = (*Provider)(nil)

// New returns a Provider configured by opts. Its errors name the bad option.
func New(opts ...Option) (*Provider, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	c := validate.NewChecker("caldav")
	c.Check(o.timeout > 0, "WithTimeout", "must be positive, got %s", o.timeout)
	for _, p := range o.allowed {
		c.Check(p.IsValid(), "WithAllowedNetworks", "must be valid prefixes")
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	client := o.httpClient
	if client == nil {
		// The overall bound is the per-call context deadline (WithTimeout).
		client = netguard.New(
			netguard.WithAllowedRanges(o.allowed...),
			netguard.WithAllowHTTP(o.allowHTTP),
		).Client(0)
	} else {
		cp := *client
		cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		client = &cp
	}
	logger := o.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tel := telemetry.New("calendar/caldav", o.mp, o.tp)
	return &Provider{client: client, timeout: o.timeout, logger: logger, http: tel.HTTPClient()}, nil
}

// Name implements calendar.Provider: "caldav".
func (p *Provider) Name() string { return ProviderName }

// conn is one call's view of a server: the base URL and the credentials.
type conn struct {
	p    *Provider
	base *url.URL
	user string
	pass string
}

func (p *Provider) open(creds []byte) (*conn, error) {
	c, err := ParseCredentials(creds)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(c.URL) // validated
	return &conn{p: p, base: u, user: c.Username, pass: c.Password}, nil
}

// withTimeout bounds a call; see callErr for how its expiry is reported.
func (p *Provider) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, p.timeout)
}

// resolve turns a decoded path (a calendar id, an event id, an href's
// path) into a URL on the server; the path is escaped, so names with
// spaces, "%", "?" or "#" reach the right object.
func (c *conn) resolve(p string) *url.URL {
	return c.base.ResolveReference(&url.URL{Path: p})
}

// response is one answer, with its body read (bounded by MaxResponseBytes).
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request. A transport failure becomes a *ProviderError
// (Status 0), except that the caller's own cancellation is returned as is
// and a refused address is a permanent error.
func (c *conn) do(ctx context.Context, op, method, p string, header http.Header, body []byte) (*response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.resolve(p).String(), rd)
	if err != nil {
		return nil, fmt.Errorf("caldav %s: %w", op, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.SetBasicAuth(c.user, c.pass)
	sctx, tr := c.p.http.Start(ctx, req)
	if tr.Recording() {
		req = req.WithContext(sctx)
	}
	resp, err := c.p.client.Do(req)
	if err != nil {
		tr.End(sctx, nil, err)
		return nil, c.transportErr(ctx, op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	tr.End(sctx, resp, err)
	if err != nil {
		return nil, c.transportErr(ctx, op, err)
	}
	if len(data) > MaxResponseBytes {
		return nil, fmt.Errorf("caldav %s: response larger than %d bytes", op, MaxResponseBytes)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

func (c *conn) transportErr(ctx context.Context, op string, err error) error {
	err = telemetry.RedactError(err)
	if errors.Is(err, netguard.ErrBlockedAddress) {
		return fmt.Errorf("caldav %s: server address refused: %w", op, err)
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.DeadlineExceeded) {
		return fmt.Errorf("caldav %s: %w", op, cause)
	}
	return &calendar.ProviderError{Provider: ProviderName, Op: op, Err: err}
}

// statusErr maps an unexpected status: 401/403 wrap ErrUnauthorized, 404
// ErrNotFound, 412 ErrPrecondition, 408/429/5xx are a *ProviderError with
// the server's Retry-After; anything else is a plain error.
func statusErr(op string, r *response) error {
	switch {
	case r.status == http.StatusUnauthorized || r.status == http.StatusForbidden:
		return fmt.Errorf("caldav %s: HTTP %d: %w", op, r.status, calendar.ErrUnauthorized)
	case r.status == http.StatusNotFound || r.status == http.StatusGone:
		return fmt.Errorf("caldav %s: HTTP %d: %w", op, r.status, calendar.ErrNotFound)
	case r.status == http.StatusPreconditionFailed:
		return fmt.Errorf("caldav %s: HTTP %d: %w", op, r.status, calendar.ErrPrecondition)
	case r.status == http.StatusRequestTimeout || r.status == http.StatusTooManyRequests || r.status >= 500:
		ra, _ := backoff.ParseRetryAfter(r.header.Get("Retry-After"), time.Now())
		return &calendar.ProviderError{Provider: ProviderName, Op: op, Status: r.status, RetryAfter: ra}
	}
	return fmt.Errorf("caldav %s: unexpected HTTP %d", op, r.status)
}

// collectionPath normalises a calendar id to a collection path ending in /.
func collectionPath(cal string) (string, error) {
	if cal == "" {
		return "", validate.New("caldav", "calendar", "is required")
	}
	if !strings.HasSuffix(cal, "/") {
		cal += "/"
	}
	return cal, nil
}

// objectPath returns the path of an event id within cal: ids are the
// object paths the provider returned; a bare name is taken relative to cal.
func objectPath(cal, id string) (string, error) {
	if id == "" {
		return "", validate.New("caldav", "id", "is required")
	}
	if strings.HasPrefix(id, "/") || strings.Contains(id, "://") {
		return id, nil
	}
	return path.Join(cal, id), nil
}

func isPrecondition(err error) bool { return errors.Is(err, calendar.ErrPrecondition) }
func isNotFound(err error) bool     { return errors.Is(err, calendar.ErrNotFound) }

// CloseIdleConnections closes the idle connections of the provider's HTTP
// client (the pooled keep-alive connections to CalDAV servers), for a host
// that is shutting down or a test that checks for leaked goroutines.
func (p *Provider) CloseIdleConnections() { p.client.CloseIdleConnections() }
