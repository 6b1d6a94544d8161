package google

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/netguard"
	"github.com/wedsync/integrations/internal/telemetry"
	"github.com/wedsync/integrations/internal/validate"
)

// ProviderName is what Provider.Name returns.
const ProviderName = "google"

// MaxResponseBytes bounds every response body the provider reads (one page
// of events, one event). A larger answer is an error, not a memory
// exhaustion.
const MaxResponseBytes = 32 << 20

// Provider is the Google Calendar implementation of calendar.Provider and
// calendar.Watcher. It holds no per-connection state: each call reads the
// OAuth2 token it is given (see ParseCredentials), refreshes it when it has
// expired or the API refuses it, and hands a refreshed token back to the
// engine with calendar.UpdateCredentials. It is safe for concurrent use.
type Provider struct {
	cfg      oauth2.Config
	client   *http.Client
	base     *url.URL
	timeout  time.Duration
	pageSize int
	watchTTL time.Duration
	logger   *slog.Logger
	http     *telemetry.HTTPClient
}

var (
	_ calendar.Provider = (*Provider)(nil)
	_ calendar.Watcher  = (*Provider)(nil)
)

// New returns a Provider that refreshes tokens with cfg (the host's OAuth
// client: id, secret, Google's endpoint, the scope
// https://www.googleapis.com/auth/calendar or calendar.events). Its errors
// name the bad argument or option.
func New(cfg *oauth2.Config, opts ...Option) (*Provider, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	c := validate.NewChecker("google")
	c.Check(cfg != nil, "cfg", "is required")
	if cfg != nil {
		c.Check(cfg.ClientID != "", "cfg.ClientID", "is required")
		c.Check(cfg.Endpoint.TokenURL != "", "cfg.Endpoint.TokenURL", "is required")
	}
	c.Check(o.timeout > 0, "WithTimeout", "must be positive, got %s", o.timeout)
	c.Check(o.pageSize >= 1 && o.pageSize <= 2500, "WithPageSize", "must be 1 to 2500, got %d", o.pageSize)
	c.Check(o.watchTTL > 0, "WithWatchTTL", "must be positive, got %s", o.watchTTL)
	for _, p := range o.allowed {
		c.Check(p.IsValid(), "WithAllowedNetworks", "must be valid prefixes")
	}
	base, err := url.Parse(o.endpoint)
	c.Check(err == nil && base.IsAbs() && strings.HasSuffix(base.Path, "/"), "WithEndpoint", "must be an absolute URL ending in /")
	if err := c.Err(); err != nil {
		return nil, err
	}
	client := o.httpClient
	if client == nil {
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
	tel := telemetry.New("calendar/google", o.mp, o.tp)
	return &Provider{cfg: *cfg, client: client, base: base, timeout: o.timeout, pageSize: o.pageSize,
		watchTTL: o.watchTTL, logger: logger, http: tel.HTTPClient()}, nil
}

// Name implements calendar.Provider: "google".
func (p *Provider) Name() string { return ProviderName }

// CloseIdleConnections closes the idle keep-alive connections of the
// provider's HTTP client, for a host shutting down or a leak-checking test.
func (p *Provider) CloseIdleConnections() { p.client.CloseIdleConnections() }

// ParseCredentials reads a connection's credentials: an oauth2.Token as
// JSON (access_token, token_type, refresh_token, expiry), as the host's
// connect flow got it from Google's token endpoint. It needs an access
// token or a refresh token.
func ParseCredentials(creds []byte) (*oauth2.Token, error) {
	var tok oauth2.Token
	if err := json.Unmarshal(creds, &tok); err != nil {
		return nil, validate.New("google", "creds", "must be an OAuth2 token as JSON")
	}
	if tok.AccessToken == "" && tok.RefreshToken == "" {
		return nil, validate.New("google", "creds", "must hold an access_token or a refresh_token")
	}
	return &tok, nil
}

// session is one Provider call: the token it uses and whether it was
// refreshed, so that the new one reaches the engine.
type session struct {
	p         *Provider
	tok       *oauth2.Token
	refreshed bool
}

func (p *Provider) open(creds []byte) (*session, error) {
	tok, err := ParseCredentials(creds)
	if err != nil {
		return nil, err
	}
	return &session{p: p, tok: tok}, nil
}

// finish hands a refreshed token to the engine (whatever the call's
// outcome: Google may have rotated the refresh token).
func (s *session) finish(ctx context.Context) {
	if !s.refreshed {
		return
	}
	if b, err := json.Marshal(s.tok); err == nil {
		calendar.UpdateCredentials(ctx, b)
	}
}

// access returns a valid access token, refreshing an expired one.
func (s *session) access(ctx context.Context, op string) (string, error) {
	if s.tok.AccessToken != "" && (s.tok.Expiry.IsZero() || s.tok.Valid()) {
		return s.tok.AccessToken, nil
	}
	if err := s.refresh(ctx, op); err != nil {
		return "", err
	}
	return s.tok.AccessToken, nil
}

// refresh trades the refresh token for a new access token. A refused
// grant (invalid_grant, or a 400/401 from the token endpoint) wraps
// calendar.ErrReconnect: only the supplier can fix it.
func (s *session) refresh(ctx context.Context, op string) error {
	if s.tok.RefreshToken == "" {
		return fmt.Errorf("google %s: the access token expired and there is no refresh token: %w", op, calendar.ErrReconnect)
	}
	rctx := context.WithValue(ctx, oauth2.HTTPClient, s.p.client)
	nt, err := s.p.cfg.TokenSource(rctx, &oauth2.Token{RefreshToken: s.tok.RefreshToken}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			status := 0
			if re.Response != nil {
				status = re.Response.StatusCode
			}
			if re.ErrorCode == "invalid_grant" || status == http.StatusBadRequest || status == http.StatusUnauthorized {
				code := re.ErrorCode
				if code == "" {
					code = fmt.Sprintf("HTTP %d", status)
				}
				return fmt.Errorf("google %s: token refresh refused (%s): %w", op, code, calendar.ErrReconnect)
			}
			ra, _ := backoff.ParseRetryAfter(headerOf(re.Response, "Retry-After"), time.Now())
			return &calendar.ProviderError{Provider: ProviderName, Op: op, Status: status, RetryAfter: ra,
				Err: errors.New("token refresh failed")}
		}
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.DeadlineExceeded) {
			return fmt.Errorf("google %s: %w", op, cause)
		}
		return &calendar.ProviderError{Provider: ProviderName, Op: op, Err: fmt.Errorf("token refresh: %w", telemetry.RedactError(unwrapURL(err)))}
	}
	if nt.RefreshToken == "" {
		nt.RefreshToken = s.tok.RefreshToken
	}
	s.tok = nt
	s.refreshed = true
	return nil
}

func headerOf(r *http.Response, k string) string {
	if r == nil {
		return ""
	}
	return r.Header.Get(k)
}

// unwrapURL drops the oauth2 package's wrapping so RedactError sees the
// *url.Error.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue
	}
	return err
}

// response is one answer with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// request is one API call to make.
type request struct {
	op     string
	method string
	path   string // relative to the endpoint, already escaped
	query  url.Values
	header http.Header
	body   any // marshalled as JSON when not nil
}

// do sends r with a bearer token. A 401 is answered once by refreshing the
// token and sending again; a second 401 wraps calendar.ErrUnauthorized.
// Other statuses are returned for the caller to map (see statusErr).
func (s *session) do(ctx context.Context, r request) (*response, error) {
	var body []byte
	if r.body != nil {
		var err error
		if body, err = json.Marshal(r.body); err != nil {
			return nil, fmt.Errorf("google %s: %w", r.op, err)
		}
	}
	for attempt := 0; ; attempt++ {
		at, err := s.access(ctx, r.op)
		if err != nil {
			return nil, err
		}
		resp, err := s.send(ctx, r, body, at)
		if err != nil {
			return nil, err
		}
		if resp.status != http.StatusUnauthorized {
			return resp, nil
		}
		if attempt > 0 || s.tok.RefreshToken == "" {
			return nil, fmt.Errorf("google %s: HTTP 401: %w", r.op, calendar.ErrUnauthorized)
		}
		if err := s.refresh(ctx, r.op); err != nil {
			return nil, err
		}
	}
}

func (s *session) send(ctx context.Context, r request, body []byte, access string) (*response, error) {
	u, err := url.Parse(s.p.base.String() + r.path)
	if err != nil {
		return nil, fmt.Errorf("google %s: %w", r.op, err)
	}
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("google %s: %w", r.op, err)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("Accept", "application/json")
	sctx, tr := s.p.http.Start(ctx, req)
	if tr.Recording() {
		req = req.WithContext(sctx)
	}
	resp, err := s.p.client.Do(req)
	if err != nil {
		tr.End(sctx, nil, err)
		return nil, transportErr(ctx, r.op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	tr.End(sctx, resp, err)
	if err != nil {
		return nil, transportErr(ctx, r.op, err)
	}
	if len(data) > MaxResponseBytes {
		return nil, fmt.Errorf("google %s: response larger than %d bytes", r.op, MaxResponseBytes)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

func transportErr(ctx context.Context, op string, err error) error {
	err = telemetry.RedactError(err)
	if errors.Is(err, netguard.ErrBlockedAddress) {
		return fmt.Errorf("google %s: address refused: %w", op, err)
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.DeadlineExceeded) {
		return fmt.Errorf("google %s: %w", op, cause)
	}
	return &calendar.ProviderError{Provider: ProviderName, Op: op, Err: err}
}

// apiError is Google's error body.
type apiError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Errors  []struct {
			Reason string `json:"reason"`
			Domain string `json:"domain"`
		} `json:"errors"`
	} `json:"error"`
}

func reasonOf(body []byte) string {
	var e apiError
	if json.Unmarshal(body, &e) == nil && len(e.Error.Errors) > 0 {
		return e.Error.Errors[0].Reason
	}
	return ""
}

// statusErr maps an unexpected status: 403 rateLimitExceeded and
// userRateLimitExceeded, 408, 429 and 5xx are a *calendar.ProviderError
// with the Retry-After header; other 401/403 wrap ErrUnauthorized; 404 and
// 410 ErrNotFound; 409 and 412 ErrPrecondition.
func statusErr(op string, r *response) error {
	reason := reasonOf(r.body)
	suffix := ""
	if reason != "" {
		suffix = " (" + reason + ")"
	}
	switch {
	case r.status == http.StatusForbidden && (reason == "rateLimitExceeded" || reason == "userRateLimitExceeded" || reason == "quotaExceeded"),
		r.status == http.StatusRequestTimeout, r.status == http.StatusTooManyRequests, r.status >= 500:
		ra, _ := backoff.ParseRetryAfter(r.header.Get("Retry-After"), time.Now())
		var err error
		if reason != "" {
			err = errors.New(reason)
		}
		return &calendar.ProviderError{Provider: ProviderName, Op: op, Status: r.status, RetryAfter: ra, Err: err}
	case r.status == http.StatusUnauthorized || r.status == http.StatusForbidden:
		return fmt.Errorf("google %s: HTTP %d%s: %w", op, r.status, suffix, calendar.ErrUnauthorized)
	case r.status == http.StatusNotFound || r.status == http.StatusGone:
		return fmt.Errorf("google %s: HTTP %d%s: %w", op, r.status, suffix, calendar.ErrNotFound)
	case r.status == http.StatusConflict || r.status == http.StatusPreconditionFailed:
		return fmt.Errorf("google %s: HTTP %d%s: %w", op, r.status, suffix, calendar.ErrPrecondition)
	}
	return fmt.Errorf("google %s: unexpected HTTP %d%s", op, r.status, suffix)
}

// call runs fn in a session bounded by the provider's timeout, and hands a
// refreshed token to the engine afterwards.
func (p *Provider) call(ctx context.Context, creds []byte, fn func(ctx context.Context, s *session) error) error {
	s, err := p.open(creds)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	defer s.finish(ctx)
	return fn(cctx, s)
}

func calPath(cal string) (string, error) {
	if cal == "" {
		return "", validate.New("google", "calendar", "is required")
	}
	return "calendars/" + url.PathEscape(cal), nil
}

func eventPath(cal, id string) (string, error) {
	cp, err := calPath(cal)
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", validate.New("google", "id", "is required")
	}
	return cp + "/events/" + url.PathEscape(id), nil
}

func decodeJSON(op string, r *response, v any) error {
	if err := json.Unmarshal(r.body, v); err != nil {
		return fmt.Errorf("google %s: response is not the JSON expected: %w", op, err)
	}
	return nil
}
