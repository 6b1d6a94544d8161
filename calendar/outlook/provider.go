package outlook

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
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/netguard"
	"github.com/wedsync/integrations/internal/telemetry"
	"github.com/wedsync/integrations/internal/validate"
)

// ProviderName is what Provider.Name returns.
const ProviderName = "outlook"

// MaxResponseBytes bounds every response body the provider reads.
const MaxResponseBytes = 16 << 20

// preferHeader is sent on every Graph request: immutable ids (an event
// keeps its id when it moves between folders), times in UTC (the event's
// own zone is read from originalStartTimeZone) and plain-text bodies.
const preferHeader = `IdType="ImmutableId", outlook.timezone="UTC", outlook.body-content-type="text"`

// Provider is the Microsoft Graph implementation of calendar.Provider and
// calendar.Watcher, over Graph's REST API with plain net/http and JSON. It
// holds no per-connection state: each call reads the OAuth2 token it is
// given. It is safe for concurrent use.
type Provider struct {
	cfg     *oauth2.Config
	base    *url.URL
	client  *http.Client
	timeout time.Duration
	logger  *slog.Logger
	http    *telemetry.HTTPClient
	past    time.Duration
	ahead   time.Duration
	now     func() time.Time
}

var (
	_ calendar.Provider = (*Provider)(nil)
	_ calendar.Watcher  = (*Provider)(nil)
)

// New returns a Provider that refreshes tokens with cfg (the host's Azure
// app registration: client id and secret, the Microsoft identity
// platform's token endpoint, scopes such as "offline_access
// Calendars.ReadWrite"). Its errors name the bad argument or option.
func New(cfg *oauth2.Config, opts ...Option) (*Provider, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	c := validate.NewChecker("outlook")
	c.Check(cfg != nil, "cfg", "is required")
	if cfg != nil {
		c.Check(cfg.Endpoint.TokenURL != "", "cfg.Endpoint.TokenURL", "is required")
	}
	c.Check(o.timeout > 0, "WithTimeout", "must be positive, got %s", o.timeout)
	c.Check(o.past >= 0 && o.ahead > 0, "WithWindow", "must be a non-negative past and a positive ahead")
	base, err := url.Parse(strings.TrimRight(o.baseURL, "/"))
	c.Check(err == nil && base.IsAbs() && base.Host != "" && (base.Scheme == "https" || base.Scheme == "http"),
		"WithBaseURL", "must be an absolute http(s) URL")
	for _, p := range o.allowed {
		c.Check(p.IsValid(), "WithAllowedNetworks", "must be valid prefixes")
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	client := o.httpClient
	if client == nil {
		client = netguard.New(netguard.WithAllowedRanges(o.allowed...), netguard.WithAllowHTTP(o.allowHTTP)).Client(0)
	} else {
		cp := *client
		cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		client = &cp
	}
	logger := o.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tel := telemetry.New("calendar/outlook", o.mp, o.tp)
	return &Provider{cfg: cfg, base: base, client: client, timeout: o.timeout, logger: logger, http: tel.HTTPClient(),
		past: o.past, ahead: o.ahead, now: o.now}, nil
}

// Name implements calendar.Provider: "outlook".
func (p *Provider) Name() string { return ProviderName }

// CloseIdleConnections closes the idle connections of the provider's HTTP
// client, for a host that is shutting down or a test checking for leaks.
func (p *Provider) CloseIdleConnections() { p.client.CloseIdleConnections() }

// session is one Provider call: the token it was given, refreshed as
// needed, handed back to the engine when it changed.
type session struct {
	p         *Provider
	mu        sync.Mutex
	tok       *oauth2.Token
	orig      string
	refreshed bool
}

// open parses creds and starts a call bounded by the provider's timeout.
// The returned finish hands a refreshed token to the engine
// (calendar.UpdateCredentials) and releases the timeout.
func (p *Provider) open(ctx context.Context, creds []byte) (*session, context.Context, func(), error) {
	tok, err := ParseCredentials(creds)
	if err != nil {
		return nil, ctx, func() {}, err
	}
	s := &session{p: p, tok: tok, orig: tok.AccessToken}
	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	return s, cctx, func() {
		cancel()
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.tok.AccessToken != s.orig {
			calendar.UpdateCredentials(ctx, MarshalCredentials(s.tok))
		}
	}, nil
}

// accessToken returns a valid access token, refreshing it when it expired
// (or when force is set, after a 401).
func (s *session) accessToken(ctx context.Context, op string, force bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !force && s.tok.Valid() {
		return s.tok.AccessToken, nil
	}
	if s.tok.RefreshToken == "" {
		return "", fmt.Errorf("outlook %s: the access token expired and there is no refresh token: %w", op, calendar.ErrReconnect)
	}
	rctx := context.WithValue(ctx, oauth2.HTTPClient, s.p.client)
	nt, err := s.p.cfg.TokenSource(rctx, &oauth2.Token{RefreshToken: s.tok.RefreshToken}).Token()
	if err != nil {
		return "", s.p.refreshErr(ctx, op, err)
	}
	s.tok, s.refreshed = nt, true
	return nt.AccessToken, nil
}

// refreshErr maps a failed refresh: invalid_grant (or 400/401 from the
// token endpoint) means the supplier must connect again; the rest may pass.
// The token endpoint's body is never put in the error.
func (p *Provider) refreshErr(ctx context.Context, op string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		if re.ErrorCode == "invalid_grant" || re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client" ||
			status == http.StatusBadRequest || status == http.StatusUnauthorized {
			code := re.ErrorCode
			if code == "" {
				code = "HTTP " + fmt.Sprint(status)
			}
			return fmt.Errorf("outlook %s: token refresh refused (%s): %w", op, code, calendar.ErrReconnect)
		}
		var ra time.Duration
		if re.Response != nil {
			ra, _ = backoff.ParseRetryAfter(re.Response.Header.Get("Retry-After"), time.Now())
		}
		return &calendar.ProviderError{Provider: ProviderName, Op: op, Status: status, RetryAfter: ra,
			Err: errors.New("token refresh failed")}
	}
	return transportErr(ctx, op, err)
}

// response is one answer with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one Graph request with a bearer token; a 401 refreshes the
// token once and tries again. u is a path under the base URL or an
// absolute URL (a nextLink) already checked to be under it.
func (s *session) do(ctx context.Context, op, method, u string, header http.Header, body any) (*response, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("outlook %s: %w", op, err)
		}
	}
	target := u
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		target = s.p.base.String() + u
	}
	for try := 0; ; try++ {
		at, err := s.accessToken(ctx, op, try > 0)
		if err != nil {
			return nil, err
		}
		var rd io.Reader
		if payload != nil {
			rd = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, target, rd)
		if err != nil {
			return nil, fmt.Errorf("outlook %s: %w", op, err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		req.Header.Set("Authorization", "Bearer "+at)
		req.Header.Set("Prefer", preferHeader)
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		r, err := s.p.send(ctx, op, req)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		fresh := s.refreshed
		s.mu.Unlock()
		if r.status == http.StatusUnauthorized && !fresh && try == 0 {
			continue // an access token revoked or expired early: refresh once
		}
		return r, nil
	}
}

func (p *Provider) send(ctx context.Context, op string, req *http.Request) (*response, error) {
	sctx, tr := p.http.Start(ctx, req)
	if tr.Recording() {
		req = req.WithContext(sctx)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		tr.End(sctx, nil, err)
		return nil, transportErr(ctx, op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	tr.End(sctx, resp, err)
	if err != nil {
		return nil, transportErr(ctx, op, err)
	}
	if len(data) > MaxResponseBytes {
		return nil, fmt.Errorf("outlook %s: response larger than %d bytes", op, MaxResponseBytes)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

func transportErr(ctx context.Context, op string, err error) error {
	err = telemetry.RedactError(err)
	if errors.Is(err, netguard.ErrBlockedAddress) {
		return fmt.Errorf("outlook %s: address refused: %w", op, err)
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.DeadlineExceeded) {
		return fmt.Errorf("outlook %s: %w", op, cause)
	}
	return &calendar.ProviderError{Provider: ProviderName, Op: op, Err: err}
}

// graphError is Graph's error body: {"error":{"code":..,"message":..}}.
type graphError struct {
	Error struct {
		Code string `json:"code"`
	} `json:"error"`
}

func errorCode(r *response) string {
	var ge graphError
	_ = json.Unmarshal(r.body, &ge)
	if len(ge.Error.Code) > 64 {
		return ge.Error.Code[:64]
	}
	return ge.Error.Code
}

// statusErr maps an unexpected status: 401 and 403 wrap ErrUnauthorized
// (except 403 throttling), 404 and 410 ErrNotFound, 409 and 412
// ErrPrecondition, 408, 429 and 5xx a *ProviderError with Retry-After.
func statusErr(op string, r *response) error {
	code := errorCode(r)
	suffix := ""
	if code != "" {
		suffix = " (" + code + ")"
	}
	switch {
	case r.status == http.StatusRequestTimeout || r.status == http.StatusTooManyRequests || r.status >= 500 ||
		(r.status == http.StatusForbidden && strings.Contains(strings.ToLower(code), "throttl")):
		ra, _ := backoff.ParseRetryAfter(r.header.Get("Retry-After"), time.Now())
		var err error
		if code != "" {
			err = errors.New(code)
		}
		return &calendar.ProviderError{Provider: ProviderName, Op: op, Status: r.status, RetryAfter: ra, Err: err}
	case r.status == http.StatusUnauthorized || r.status == http.StatusForbidden:
		return fmt.Errorf("outlook %s: HTTP %d%s: %w", op, r.status, suffix, calendar.ErrUnauthorized)
	case r.status == http.StatusNotFound || r.status == http.StatusGone:
		return fmt.Errorf("outlook %s: HTTP %d%s: %w", op, r.status, suffix, calendar.ErrNotFound)
	case r.status == http.StatusPreconditionFailed || r.status == http.StatusConflict:
		return fmt.Errorf("outlook %s: HTTP %d%s: %w", op, r.status, suffix, calendar.ErrPrecondition)
	}
	return fmt.Errorf("outlook %s: unexpected HTTP %d%s", op, r.status, suffix)
}

// underBase reports whether u (a nextLink, a deltaLink) points at the
// provider's Graph endpoint, so that a cursor can never send the token
// elsewhere.
func (p *Provider) underBase(u string) bool {
	pu, err := url.Parse(u)
	if err != nil {
		return false
	}
	return pu.Scheme == p.base.Scheme && pu.Host == p.base.Host &&
		(pu.Path == p.base.Path || strings.HasPrefix(pu.Path, strings.TrimRight(p.base.Path, "/")+"/"))
}

func required(field, v string) error {
	if v == "" {
		return validate.New("outlook", field, "is required")
	}
	return nil
}
