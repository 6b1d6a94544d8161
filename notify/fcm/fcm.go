package fcm

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/validate"
	"github.com/wedsync/integrations/notify"
)

// DefaultBaseURL is the FCM HTTP v1 API.
const DefaultBaseURL = "https://fcm.googleapis.com"

// Scope is the OAuth2 scope FCM's send call needs.
const Scope = "https://www.googleapis.com/auth/firebase.messaging"

// DefaultTimeout bounds each call of the default HTTP client (the send, and
// the token exchange of NewFromServiceAccount).
const DefaultTimeout = 15 * time.Second

// maxToken is longer than any FCM registration token (about 160 to 250
// characters); a longer one is not a token.
const maxToken = 4096

// maxResponse caps how much of an FCM response is read.
const maxResponse = 64 << 10

const userAgent = "wedsync-integrations/notify-fcm"

var projectIDRe = regexp.MustCompile(`^[a-z][a-z0-9.:-]{0,99}$`)

// Option configures a Provider.
type Option func(*options)

type options struct {
	name       string
	baseURL    string
	httpClient *http.Client
	tokenURL   string
}

// WithName sets the provider's Name, which keys its status entries, breaker
// and rate limit in the notifier. Default "fcm".
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithBaseURL points the provider at another API root, such as a test
// server. It must be https, or http to a loopback host (127.0.0.1, ::1,
// localhost). Default DefaultBaseURL (https://fcm.googleapis.com).
func WithBaseURL(u string) Option { return func(o *options) { o.baseURL = u } }

// WithHTTPClient replaces the HTTP client, for the send calls and, with
// NewFromServiceAccount, for the token exchange. Default: a client with a
// 15 s timeout (DefaultTimeout) that does not follow redirects (a 3xx is a
// ProviderError). The default has no SSRF guard, and needs none: the URLs
// are the host's configuration, never a value from a request.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithTokenURL sends NewFromServiceAccount's JWT assertion to this token
// endpoint, such as a test server; the assertion's aud claim names it. Same
// rule as WithBaseURL. New ignores it. Default: the key's token_uri, or
// https://oauth2.googleapis.com/token.
func WithTokenURL(u string) Option { return func(o *options) { o.tokenURL = u } }

// Provider sends push messages through FCM. It is safe for concurrent use.
type Provider struct {
	name     string
	project  string
	endpoint string
	// token is the token source's Token, kept as a func so that printing a
	// Provider, with any verb and at any depth, shows an address and never
	// the key or a token.
	token  func() (*oauth2.Token, error)
	client *http.Client
}

var _ notify.PushProvider = (*Provider)(nil)

// New returns a Provider for the Firebase project projectID that
// authenticates with the access tokens of ts, which must carry Scope.
// Tokens are cached until they expire (oauth2.ReuseTokenSource). Bad
// configuration gives a *notify.ValidationError naming the parameter or
// option.
func New(projectID string, ts oauth2.TokenSource, opts ...Option) (*Provider, error) {
	o := defaultOptions(opts)
	c := validate.NewChecker("fcm")
	c.Check(projectIDRe.MatchString(projectID), "projectID",
		"must be a Google Cloud project ID (lower-case letters, digits, hyphens)")
	c.Check(ts != nil, "ts", "is nil")
	base := o.check(c)
	if err := c.Err(); err != nil {
		return nil, err
	}
	return &Provider{
		name:     o.name,
		project:  projectID,
		endpoint: base + "/v1/projects/" + url.PathEscape(projectID) + "/messages:send",
		token:    oauth2.ReuseTokenSource(nil, ts).Token,
		client:   o.httpClient,
	}, nil
}

// NewFromServiceAccount returns a Provider for the project of a service
// account's JSON key (the file the Firebase console downloads): its
// project_id names the project, and its private key signs the JWT
// assertions exchanged for access tokens (golang.org/x/oauth2/google). The
// token exchange uses the provider's HTTP client; ctx is only read for
// values, never for cancellation, and need not outlive this call. The
// exchange (about once an hour) runs inside a Send but does not stop when
// Send's ctx ends: the client's timeout bounds it. A key that
// is not a service account's, or whose private key does not parse, gives a
// *notify.ValidationError naming the JSON field; the error never contains
// the key.
func NewFromServiceAccount(ctx context.Context, jsonKey []byte, opts ...Option) (*Provider, error) {
	o := defaultOptions(opts)
	c := validate.NewChecker("fcm")
	var key struct {
		Type        string `json:"type"`
		ProjectID   string `json:"project_id"`
		PrivateKey  string `json:"private_key"`
		ClientEmail string `json:"client_email"`
	}
	if err := json.Unmarshal(jsonKey, &key); err != nil {
		// The JSON error may quote a piece of the key: it is not kept.
		return nil, validate.New("fcm", "jsonKey", "is not JSON")
	}
	c.Check(key.Type == "service_account", "jsonKey.type", "must be service_account")
	c.Check(projectIDRe.MatchString(key.ProjectID), "jsonKey.project_id",
		"must be a Google Cloud project ID (lower-case letters, digits, hyphens)")
	c.Check(key.ClientEmail != "", "jsonKey.client_email", "is empty")
	c.Check(parsesAsRSAKey(key.PrivateKey), "jsonKey.private_key", "must be a PEM RSA private key (PKCS #8 or #1)")
	base := o.check(c)
	if o.tokenURL != "" {
		_, err := checkURL("WithTokenURL", o.tokenURL)
		c.Add(err)
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	cfg, err := google.JWTConfigFromJSON(jsonKey, Scope)
	if err != nil {
		return nil, validate.New("fcm", "jsonKey", "is not a service account key")
	}
	if o.tokenURL != "" {
		cfg.TokenURL = o.tokenURL
	}
	// The jwt source fetches with the client it finds in its context, and
	// would otherwise use http.DefaultClient, which has no timeout.
	tctx := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, o.httpClient)
	return &Provider{
		name:     o.name,
		project:  key.ProjectID,
		endpoint: base + "/v1/projects/" + url.PathEscape(key.ProjectID) + "/messages:send",
		token:    cfg.TokenSource(tctx).Token,
		client:   o.httpClient,
	}, nil
}

func defaultOptions(opts []Option) options {
	o := options{name: "fcm", baseURL: DefaultBaseURL}
	for _, opt := range opts {
		opt(&o)
	}
	if o.httpClient == nil {
		o.httpClient = &http.Client{
			Timeout: DefaultTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	return o
}

// check records the options' errors in c and returns the base URL.
func (o *options) check(c *validate.Checker) string {
	c.Check(strings.TrimSpace(o.name) != "", "WithName", "is empty")
	base, err := checkURL("WithBaseURL", o.baseURL)
	c.Add(err)
	return base
}

func checkURL(option, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", validate.New("fcm", option, "must be an absolute URL without credentials, query or fragment")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return "", validate.New("fcm", option, "must be https (http only to a loopback host)")
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func parsesAsRSAKey(s string) bool {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return false
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		_, ok := k.(*rsa.PrivateKey)
		return ok
	}
	_, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	return err == nil
}

// Name returns the provider's name (WithName).
func (p *Provider) Name() string { return p.name }

// Channel returns notify.ChannelPush.
func (p *Provider) Channel() notify.Channel { return notify.ChannelPush }

// PushKind returns notify.PushFCM.
func (p *Provider) PushKind() notify.PushKind { return notify.PushFCM }

// ProjectID returns the Firebase project the provider sends for.
func (p *Provider) ProjectID() string { return p.project }

// String describes the provider without its credentials.
func (p *Provider) String() string { return "fcm.Provider(" + p.name + ", " + p.project + ")" }

// GoString is String, so that %#v shows no credentials either.
func (p *Provider) GoString() string { return p.String() }

// The request body of messages:send.
type (
	sendRequest struct {
		Message message `json:"message"`
	}
	message struct {
		Token        string            `json:"token"`
		Notification *notification     `json:"notification,omitempty"`
		Data         map[string]string `json:"data,omitempty"`
		Android      *androidConfig    `json:"android,omitempty"`
		Webpush      *webpushConfig    `json:"webpush,omitempty"`
	}
	notification struct {
		Title string `json:"title,omitempty"`
		Body  string `json:"body,omitempty"`
	}
	androidConfig struct {
		Priority string `json:"priority,omitempty"`
	}
	webpushConfig struct {
		Headers    map[string]string `json:"headers,omitempty"`
		FCMOptions *webpushOptions   `json:"fcm_options,omitempty"`
	}
	webpushOptions struct {
		Link string `json:"link,omitempty"`
	}
)

// Send sends m to the FCM registration token of m.Subscription. See the
// package documentation for the message FCM gets and how its answers map to
// errors. A subscription without a token, or of another kind, is a
// *notify.RecipientError and calls nothing.
func (p *Provider) Send(ctx context.Context, m *notify.Message) (notify.Result, error) {
	if m == nil {
		return notify.Result{}, validate.New("fcm", "message", "is nil")
	}
	sub := m.Subscription
	switch {
	case sub == nil || sub.Token == "":
		return notify.Result{}, notify.BadRecipient("push_subscription.token", "is empty")
	case sub.Kind != "" && sub.Kind != notify.PushFCM:
		return notify.Result{}, notify.BadRecipient("push_subscription.kind", "is %q; this provider sends to %q", sub.Kind, notify.PushFCM)
	case len(sub.Token) > maxToken || strings.ContainsAny(sub.Token, " \t\r\n"):
		return notify.Result{}, notify.BadRecipient("push_subscription.token", "is not an FCM registration token")
	}
	if err := ctx.Err(); err != nil {
		return notify.Result{}, p.transportError(err)
	}
	body, err := json.Marshal(sendRequest{Message: buildMessage(m)})
	if err != nil {
		return notify.Result{}, &notify.ProviderError{Provider: p.name, Err: errors.New("encoding the message failed")}
	}
	tok, err := p.token()
	if err != nil {
		return notify.Result{}, p.tokenError(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint, bytes.NewReader(body))
	if err != nil {
		return notify.Result{}, &notify.ProviderError{Provider: p.name, Err: errors.New("building the request failed")}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	tok.SetAuthHeader(req)

	resp, err := p.client.Do(req)
	if err != nil {
		return notify.Result{}, p.transportError(err)
	}
	defer resp.Body.Close()
	rbody, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// FCM took the message: a body we cannot read costs its name,
		// never a resend.
		var ok struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(rbody, &ok)
		return notify.Result{ExternalID: ok.Name}, nil
	}
	return notify.Result{}, p.apiError(resp, rbody, m, tok.AccessToken)
}

func buildMessage(m *notify.Message) message {
	msg := message{Token: m.Subscription.Token}
	if m.Subject != "" || m.Text != "" {
		msg.Notification = &notification{Title: m.Subject, Body: m.Text}
	}
	data := map[string]string{
		"notification_id": m.NotificationID,
		"event":           m.Event,
		"category":        string(m.Category),
		"priority":        string(m.Priority),
		"url":             m.URL,
	}
	for k, v := range data {
		if v == "" {
			delete(data, k)
		}
	}
	if len(data) > 0 {
		msg.Data = data
	}
	var wp webpushConfig
	if m.Priority == notify.PriorityCritical {
		msg.Android = &androidConfig{Priority: "high"}
		wp.Headers = map[string]string{"Urgency": "high"}
	}
	// FCM accepts only https links for web push.
	if u, err := url.Parse(m.URL); err == nil && u.Scheme == "https" && u.Host != "" {
		wp.FCMOptions = &webpushOptions{Link: m.URL}
	}
	if wp.Headers != nil || wp.FCMOptions != nil {
		msg.Webpush = &wp
	}
	return msg
}

// apiError maps a non-2xx answer. FCM's error body is Google's:
// {"error": {"code", "message", "status", "details": [{"@type",
// "errorCode"} or {"@type", "fieldViolations": [{"field", "description"}]}]}}.
func (p *Provider) apiError(resp *http.Response, body []byte, m *notify.Message, accessToken string) error {
	var e struct {
		Error struct {
			Message string `json:"message"`
			Status  string `json:"status"`
			Details []struct {
				ErrorCode       string `json:"errorCode"`
				FieldViolations []struct {
					Field string `json:"field"`
				} `json:"fieldViolations"`
			} `json:"details"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	code, tokenField := "", false
	for _, d := range e.Error.Details {
		if d.ErrorCode != "" && code == "" {
			code = d.ErrorCode
		}
		for _, v := range d.FieldViolations {
			if v.Field == "message.token" {
				tokenField = true
			}
		}
	}
	if code == "" {
		code = e.Error.Status
	}
	switch {
	case code == "UNREGISTERED":
		return fmt.Errorf("%s: %w (FCM answered %d UNREGISTERED)", p.name, notify.ErrSubscriptionGone, resp.StatusCode)
	case code == "SENDER_ID_MISMATCH":
		return notify.BadRecipient("push_subscription.token", "belongs to another Firebase project (FCM SENDER_ID_MISMATCH)")
	case resp.StatusCode == http.StatusBadRequest && code == "INVALID_ARGUMENT" &&
		(tokenField || strings.Contains(strings.ToLower(e.Error.Message), "registration token")):
		return notify.BadRecipient("push_subscription.token", "FCM refuses it as not a valid registration token (INVALID_ARGUMENT)")
	}
	pe := &notify.ProviderError{Provider: p.name, StatusCode: resp.StatusCode, Code: code}
	if d, ok := backoff.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		pe.RetryAfter = d
	}
	msg := clean(e.Error.Message, m.Subscription.Token, accessToken, m.Text, m.Subject)
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		msg = "FCM refused the credentials" + suffix(msg)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		msg = "unexpected redirect (not followed)"
	case msg == "":
		msg = http.StatusText(resp.StatusCode)
	}
	pe.Err = errors.New(msg)
	return pe
}

func suffix(msg string) string {
	if msg == "" {
		return ""
	}
	return ": " + msg
}

// clean makes a message from FCM or the token endpoint fit to quote: one
// line, at most 200 characters, without the given secrets, in case the
// service (or something pretending to be it) echoes them.
func clean(msg string, secrets ...string) string {
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if utf8.RuneCountInString(msg) > 200 {
		msg = string([]rune(msg)[:200]) + "..."
	}
	return msg
}

// tokenError maps a failure to get an access token. The token endpoint's
// own answer is quoted (its error code and description), never the
// assertion or the key.
func (p *Provider) tokenError(err error) error {
	pe := &notify.ProviderError{Provider: p.name}
	if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		code, desc := re.ErrorCode, re.ErrorDescription
		if code == "" {
			// The jwt source leaves the RFC 6749 error body unparsed.
			var b struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if json.Unmarshal(re.Body, &b) == nil {
				code, desc = b.Error, b.Description
			}
		}
		msg := fmt.Sprintf("getting an access token: the token endpoint answered %d", status)
		if code = clean(code); code != "" {
			msg += " " + code
		}
		if desc = clean(desc); desc != "" {
			msg += ": " + desc
		}
		pe.Err = errors.New(msg)
		return pe
	}
	pe.Timeout = isTimeout(err)
	// oauth2's jwt source flattens transport errors into text (which holds
	// no secret: the token URL and the cause).
	pe.Err = fmt.Errorf("getting an access token: %w", err)
	return pe
}

func (p *Provider) transportError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	return &notify.ProviderError{Provider: p.name, Timeout: isTimeout(err), Err: fmt.Errorf("calling FCM: %w", err)}
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}
