package wedmesync

// The HTTP transport: a handler that serves a Node's push and pull, and
// HTTPTransport, the client end that implements Transport. Every request
// is signed the Standard Webhooks way (package webhook) with a secret both
// sides share.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/ids"
	"github.com/wedsync/integrations/internal/netguard"
	"github.com/wedsync/integrations/internal/validate"
	"github.com/wedsync/integrations/webhook"
)

// httpMaxBodyBytes bounds a push body: MaxBatchBytes, the codec's limit.
const httpMaxBodyBytes = MaxBatchBytes

// httpMaxResponseBytes bounds a pull answer the transport reads: MaxBatch
// changes of up to 64 KiB each.
const httpMaxResponseBytes = 64 << 20

// The paths the handler serves, under its prefix (WithPathPrefix).
const (
	// PathPush receives a signed JSON array of changes and applies them.
	PathPush = "/push"
	// PathPull answers a signed {"cursor", "limit"} with this side's
	// changes after the cursor.
	PathPull = "/pull"
)

// PullRequest is the body of a pull.
type PullRequest struct {
	// Cursor is where the last pull stopped ("" from the start).
	Cursor string `json:"cursor"`
	// Limit is the most changes to return (1 to MaxBatch).
	Limit int `json:"limit"`
}

// PullResponse is the answer to a pull.
type PullResponse struct {
	// Changes are this side's changes after the cursor, oldest first.
	Changes []Change `json:"changes"`
	// Cursor is where the next pull starts.
	Cursor string `json:"cursor"`
}

// HandlerOption configures Node.Handler.
type HandlerOption func(*handlerOptions)

type handlerOptions struct {
	prefix    string
	maxBody   int64
	limit     rate.Limit
	burst     int
	tolerance time.Duration
	remote    func(*http.Request) string
	secrets   []string
}

// WithPathPrefix serves the push and pull under prefix ("/wedmesync"
// serves "/wedmesync/push" and "/wedmesync/pull"). Default "" (PathPush
// and PathPull at the root).
func WithPathPrefix(prefix string) HandlerOption {
	return func(o *handlerOptions) { o.prefix = strings.TrimSuffix(prefix, "/") }
}

// WithMaxBodyBytes bounds a request body; a larger one is answered 413.
// Default 8 MiB.
func WithMaxBodyBytes(n int64) HandlerOption { return func(o *handlerOptions) { o.maxBody = n } }

// WithRateLimit lets each remote (WithRemoteKey) make r requests per second
// with bursts of burst; over it, the handler answers 429 with a
// Retry-After. rate.Inf turns the limit off. Default 50 per second, burst
// 100: a peer catching up sends at most one request per batch.
func WithRateLimit(r rate.Limit, burst int) HandlerOption {
	return func(o *handlerOptions) { o.limit, o.burst = r, burst }
}

// WithRemoteKey says which remote a request comes from, for the rate
// limit (behind a proxy: the client address the proxy vouches for).
// Default: the host of the request's RemoteAddr.
func WithRemoteKey(fn func(*http.Request) string) HandlerOption {
	return func(o *handlerOptions) { o.remote = fn }
}

// WithTolerance sets how far a request's webhook-timestamp may lie from
// this side's clock, either way; the handler remembers the webhook-id of
// the requests it accepted for twice as long, to refuse replays.
// Default webhook.DefaultTolerance (5 minutes).
func WithTolerance(d time.Duration) HandlerOption { return func(o *handlerOptions) { o.tolerance = d } }

// WithAdditionalSecrets accepts requests signed with these secrets too,
// while the shared secret is rotated. Default none.
func WithAdditionalSecrets(secrets ...string) HandlerOption {
	return func(o *handlerOptions) { o.secrets = append(o.secrets, secrets...) }
}

// maxRemotes bounds the rate limiter's table; when full it starts afresh
// (a remote then gets a fresh burst, which is harmless).
const maxRemotes = 10000

type syncHandler struct {
	n      *Node
	from   Side
	v      *webhook.Verifier
	o      handlerOptions
	mu     sync.Mutex
	limits map[string]*rate.Limiter
	seen   map[string]time.Time // webhook-id -> when it may be forgotten
	mux    *http.ServeMux
}

// Handler serves this node to the other side over HTTP: POST
// {prefix}/push applies a JSON array of changes (answering 200 with the
// count of each Outcome), POST {prefix}/pull answers a PullRequest with a
// PullResponse. Every request must be signed with secret (a "whsec_" or
// Ed25519 key, as webhook.NewVerifier takes; the other side's
// HTTPTransport signs with it). Answers: 400 for a body that does not
// decode (the message names the problem), 401 for a missing or bad
// signature or a timestamp outside the tolerance, 405 for a method other
// than POST, 409 for a webhook-id already used (a replayed request; each
// request is signed with a fresh id), 413 over the size limit, 429 over
// the rate limit (with Retry-After), 503 when the node's store or
// Authorizer failed (push again). Changes pushed here come from the other
// side; those that fail validation or authorisation are quarantined, as
// Apply does.
func (n *Node) Handler(secret string, opts ...HandlerOption) (http.Handler, error) {
	o := handlerOptions{maxBody: httpMaxBodyBytes, limit: 50, burst: 100, tolerance: webhook.DefaultTolerance}
	for _, opt := range opts {
		opt(&o)
	}
	c := validate.NewChecker(pkgNameHTTP)
	c.Check(o.maxBody > 0 && o.maxBody <= webhook.MaxBodyBytesLimit, "WithMaxBodyBytes", "must be between 1 and %d bytes, got %d", webhook.MaxBodyBytesLimit, o.maxBody)
	c.Check(o.limit > 0, "WithRateLimit", "the rate must be positive, got %v", float64(o.limit))
	c.Check(o.burst > 0 || o.limit == rate.Inf, "WithRateLimit", "the burst must be positive, got %d", o.burst)
	c.Check(o.tolerance > 0, "WithTolerance", "must be positive, got %s", o.tolerance)
	c.Check(o.prefix == "" || strings.HasPrefix(o.prefix, "/"), "WithPathPrefix", "must start with '/', got %q", o.prefix)
	vopts := []webhook.VerifierOption{}
	if len(o.secrets) > 0 {
		vopts = append(vopts, webhook.WithSecrets(o.secrets...))
	}
	if o.tolerance > 0 {
		vopts = append(vopts, webhook.WithTolerance(o.tolerance))
	}
	v, err := webhook.NewVerifier(secret, vopts...)
	if err != nil {
		// The webhook error names the secret without echoing it.
		c.Add(invalid("secret", "%v", err))
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	if o.remote == nil {
		o.remote = remoteHost
	}
	h := &syncHandler{n: n, from: otherSide(n.side), v: v, o: o, limits: map[string]*rate.Limiter{}, seen: map[string]time.Time{}, mux: http.NewServeMux()}
	h.mux.HandleFunc(o.prefix+PathPush, h.push)
	h.mux.HandleFunc(o.prefix+PathPull, h.pull)
	return h, nil
}

const pkgNameHTTP = "wedmesync"

func otherSide(s Side) Side {
	if s == SideWedMe {
		return SideSupplier
	}
	return SideWedMe
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (h *syncHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// admit checks the method, the rate limit, the size and the signature,
// and returns the verified body (nil after answering).
func (h *syncHandler) admit(w http.ResponseWriter, r *http.Request) []byte {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpError(w, http.StatusMethodNotAllowed, "method must be POST")
		return nil
	}
	if wait, ok := h.allow(h.o.remote(r)); !ok {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(wait.Seconds())), 10))
		httpError(w, http.StatusTooManyRequests, "rate limit exceeded; retry later")
		return nil
	}
	if r.ContentLength > h.o.maxBody {
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body must be at most %d bytes", h.o.maxBody))
		return nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.o.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body must be at most %d bytes", h.o.maxBody))
		} else {
			httpError(w, http.StatusBadRequest, "body could not be read")
		}
		return nil
	}
	if err := h.v.Verify(r.Header, body); err != nil {
		httpError(w, http.StatusUnauthorized, err.Error()) // never holds the secret
		return nil
	}
	if !h.first(r.Header.Get(webhook.HeaderWebhookID)) {
		httpError(w, http.StatusConflict, "webhook-id already used: sign each request with a fresh id")
		return nil
	}
	return body
}

// allow takes a token of remote's limiter, or says how long to wait.
func (h *syncHandler) allow(remote string) (time.Duration, bool) {
	if h.o.limit == rate.Inf {
		return 0, true
	}
	h.mu.Lock()
	l, ok := h.limits[remote]
	if !ok {
		if len(h.limits) >= maxRemotes {
			clear(h.limits)
		}
		l = rate.NewLimiter(h.o.limit, h.o.burst)
		h.limits[remote] = l
	}
	h.mu.Unlock()
	now := time.Now()
	res := l.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return max(d, time.Second), false
	}
	return 0, true
}

// first reports whether a verified request's webhook-id is new, and
// remembers it for twice the tolerance (after that, its timestamp no
// longer passes). Best effort, per process: a replayed push would only be
// a duplicate, but a replayed pull would hand the changes to whoever
// captured the request.
func (h *syncHandler) first(id string) bool {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if until, ok := h.seen[id]; ok && now.Before(until) {
		return false
	}
	if len(h.seen) >= maxSeen {
		for k, until := range h.seen {
			if !now.Before(until) {
				delete(h.seen, k)
			}
		}
		for k := range h.seen { // still full: forget arbitrary ones
			if len(h.seen) < maxSeen/2 {
				break
			}
			delete(h.seen, k)
		}
	}
	h.seen[id] = now.Add(2 * h.o.tolerance)
	return true
}

// maxSeen bounds the replay table. Only requests signed with the secret
// enter it.
const maxSeen = 100000

func (h *syncHandler) push(w http.ResponseWriter, r *http.Request) {
	body := h.admit(w, r)
	if body == nil {
		return
	}
	changes, err := DecodeBatch(body)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	out, err := h.n.Apply(r.Context(), h.from, changes)
	if err != nil {
		h.n.logger.Warn("wedmesync: applying a pushed batch failed", "error", err)
		httpError(w, http.StatusServiceUnavailable, "the batch could not be applied; push it again")
		return
	}
	counts := map[Outcome]int{OutcomeApplied: 0, OutcomeDuplicate: 0, OutcomeConflicted: 0, OutcomeQuarantined: 0}
	for k, v := range out {
		counts[k] = v
	}
	writeJSON(w, counts)
}

func (h *syncHandler) pull(w http.ResponseWriter, r *http.Request) {
	body := h.admit(w, r)
	if body == nil {
		return
	}
	var req PullRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		httpError(w, http.StatusBadRequest, invalid("body", "must be a JSON object {\"cursor\", \"limit\"}: %v", err).Error())
		return
	}
	changes, cursor, err := h.n.Changes(r.Context(), req.Cursor, req.Limit)
	if errors.Is(err, ErrInvalid) {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err != nil {
		h.n.logger.Warn("wedmesync: serving a pull failed", "error", err)
		httpError(w, http.StatusServiceUnavailable, "the changes could not be read; pull again")
		return
	}
	if changes == nil {
		changes = []Change{}
	}
	writeJSON(w, PullResponse{Changes: changes, Cursor: cursor})
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "the answer could not be encoded")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// HTTPOption configures NewHTTPTransport.
type HTTPOption func(*httpTransportOptions)

type httpTransportOptions struct {
	client    *http.Client
	allowed   []netip.Prefix
	allowHTTP bool
	timeout   time.Duration
}

// WithHTTPClient replaces the HTTP client. The default is SSRF-safe
// (internal/netguard): it refuses private, loopback, link-local and
// cloud-metadata addresses at dial time and requires https. A client
// passed here is used as is (keeping it safe is then the host's job),
// except that redirects are never followed. nil keeps the default.
func WithHTTPClient(c *http.Client) HTTPOption {
	return func(o *httpTransportOptions) { o.client = c }
}

// WithAllowedNetworks lets the default client reach these ranges despite
// the SSRF rules, for tests and demos (127.0.0.0/8 reaches a local
// server). Calls add up. Default none.
func WithAllowedNetworks(prefixes ...netip.Prefix) HTTPOption {
	return func(o *httpTransportOptions) { o.allowed = append(o.allowed, prefixes...) }
}

// WithInsecureHTTP lets the default client use an http:// base URL, for
// tests and demos. Default false: https only.
func WithInsecureHTTP(allow bool) HTTPOption {
	return func(o *httpTransportOptions) { o.allowHTTP = allow }
}

// WithHTTPTimeout bounds each push and pull request as a whole. Default
// 30 seconds.
func WithHTTPTimeout(d time.Duration) HTTPOption {
	return func(o *httpTransportOptions) { o.timeout = d }
}

// HTTPTransport reaches the other side's Node.Handler over HTTP, signing
// each request with the shared secret. It implements Transport and is safe
// for concurrent use.
type HTTPTransport struct {
	push, pull string
	signer     *webhook.Signer
	client     *http.Client
	timeout    time.Duration
}

var _ Transport = (*HTTPTransport)(nil)

// NewHTTPTransport returns the transport to the handler served at baseURL
// (the handler's prefix included: "https://wedme.example/wedmesync"),
// signing with secret ("whsec_..." or an Ed25519 "whsk_..." key, as
// webhook.NewSigner takes). Its errors name the bad argument and never
// echo the secret.
func NewHTTPTransport(baseURL, secret string, opts ...HTTPOption) (*HTTPTransport, error) {
	o := httpTransportOptions{timeout: 30 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	c := validate.NewChecker(pkgNameHTTP)
	c.Check(o.timeout > 0, "WithHTTPTimeout", "must be positive, got %s", o.timeout)
	for _, p := range o.allowed {
		c.Check(p.IsValid(), "WithAllowedNetworks", "must be valid prefixes")
	}
	signer, err := webhook.NewSigner(secret)
	if err != nil {
		c.Add(invalid("secret", "%v", err))
	}
	client := o.client
	if client == nil {
		g := netguard.New(netguard.WithAllowedRanges(o.allowed...), netguard.WithAllowHTTP(o.allowHTTP))
		if err := g.CheckURL(baseURL); err != nil {
			c.Add(invalid("baseURL", "%v", err))
		}
		client = g.Client(0) // the bound is the per-request context deadline
	} else {
		cp := *client
		cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		client = &cp
		u, err := url.Parse(baseURL)
		c.Check(err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil,
			"baseURL", "must be an absolute http(s) URL without userinfo")
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(baseURL, "/")
	return &HTTPTransport{push: base + PathPush, pull: base + PathPull, signer: signer, client: client, timeout: o.timeout}, nil
}

// CloseIdleConnections closes the client's idle keep-alive connections
// (at shutdown, and in tests that check for leaked goroutines).
func (t *HTTPTransport) CloseIdleConnections() { t.client.CloseIdleConnections() }

// StatusError is a non-2xx answer of the other side's handler.
type StatusError struct {
	// Status is the HTTP status code.
	Status int
	// RetryAfter is the wait the other side asked for (Retry-After on a
	// 429 or 503), zero when it asked for none.
	RetryAfter time.Duration
	// Message is the start of the answer's body.
	Message string
}

// Error implements error.
func (e *StatusError) Error() string {
	s := fmt.Sprintf("wedmesync: the other side answered %d %s", e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

// Push implements Transport: it POSTs changes to the other side's push
// endpoint, signed; a batch over 8 MiB goes as several requests. A
// non-2xx answer is a *StatusError.
func (t *HTTPTransport) Push(ctx context.Context, changes []Change) error {
	body, err := EncodeBatch(changes)
	if (err != nil && len(changes) > 1 && errors.Is(err, ErrInvalid) && tooLarge(changes)) || (err == nil && len(body) > httpMaxBodyBytes && len(changes) > 1) {
		// Over what one request may carry: in halves, one after the other.
		half := len(changes) / 2
		if err := t.Push(ctx, changes[:half]); err != nil {
			return err
		}
		return t.Push(ctx, changes[half:])
	}
	if err != nil {
		return err
	}
	_, err = t.post(ctx, t.push, body)
	return err
}

// Pull implements Transport: it POSTs the cursor and limit to the other
// side's pull endpoint, signed. A non-2xx answer is a *StatusError.
func (t *HTTPTransport) Pull(ctx context.Context, cursor string, limit int) ([]Change, string, error) {
	body, err := json.Marshal(PullRequest{Cursor: cursor, Limit: limit})
	if err != nil {
		return nil, "", err
	}
	resp, err := t.post(ctx, t.pull, body)
	if err != nil {
		return nil, "", err
	}
	var out PullResponse
	if err := json.Unmarshal(resp, &out); err != nil {
		return nil, "", fmt.Errorf("wedmesync: pull: the answer does not decode: %w", err)
	}
	return out.Changes, out.Cursor, nil
}

// post sends one signed request and returns the answer's body.
func (t *HTTPTransport) post(ctx context.Context, url string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := t.signer.SetHeaders(req.Header, ids.New("msg_"), time.Now(), body); err != nil {
		return nil, err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, httpMaxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("wedmesync: reading the answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &StatusError{Status: resp.StatusCode, Message: strings.TrimSpace(string(data[:min(len(data), 512)]))}
		if d, ok := backoff.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			e.RetryAfter = d
		}
		return nil, e
	}
	if len(data) > httpMaxResponseBytes {
		return nil, fmt.Errorf("wedmesync: the answer is over %d bytes", httpMaxResponseBytes)
	}
	return data, nil
}

// tooLarge reports whether changes fail to encode only for their number or
// total size (each change alone encodes), which halving cures.
func tooLarge(changes []Change) bool {
	for i := range changes {
		if _, err := EncodeBatch(changes[i : i+1]); err != nil {
			return false
		}
	}
	return true
}
