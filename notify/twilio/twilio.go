package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/validate"
	"github.com/wedsync/integrations/notify"
)

// DefaultBaseURL is Twilio's REST API.
const DefaultBaseURL = "https://api.twilio.com"

// DefaultTimeout bounds each API call of the default HTTP client.
const DefaultTimeout = 15 * time.Second

// MaxBodyLength is the longest Body Twilio accepts, in characters.
const MaxBodyLength = 1600

// maxResponse caps how much of a Twilio response is read.
const maxResponse = 64 << 10

const userAgent = "wedsync-integrations/notify-twilio"

// Twilio error codes that say the recipient, not the call, is wrong.
const (
	codeInvalidTo    = 21211
	codeNotMobile    = 21614
	codeUnsubscribed = 21610
)

var (
	accountSIDRe = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	serviceSIDRe = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	apiKeySIDRe  = regexp.MustCompile(`^SK[0-9a-fA-F]{32}$`)
	shortCodeRe  = regexp.MustCompile(`^[0-9]{3,8}$`)
	alphaIDRe    = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)
)

// Option configures a Provider.
type Option func(*options)

type options struct {
	name           string
	from           string
	service        string
	baseURL        string
	httpClient     *http.Client
	statusCallback string
	apiKeySID      string
	apiKeySecret   string
}

// WithName sets the provider's Name, which keys its status entries, breaker
// and rate limit in the notifier. Default "twilio".
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithFrom sets the sender: an E.164 number of the account (+447700900123),
// a short code (3 to 8 digits) or an alphanumeric sender ID (up to 11
// letters, digits and spaces, one letter at least). Either WithFrom or
// WithMessagingService is required; with both, Twilio sends from this
// number through the service. Default none.
func WithFrom(number string) Option { return func(o *options) { o.from = number } }

// WithMessagingService sends through a Messaging Service (MG...), which
// picks the sender from its pool. Either WithFrom or WithMessagingService is
// required. Default none.
func WithMessagingService(sid string) Option { return func(o *options) { o.service = sid } }

// WithBaseURL points the provider at another API root, such as a test
// server. It must be https, or http to a loopback host (127.0.0.1, ::1,
// localhost). Default DefaultBaseURL (https://api.twilio.com).
func WithBaseURL(u string) Option { return func(o *options) { o.baseURL = u } }

// WithHTTPClient replaces the HTTP client. Default: a client with a 15 s
// timeout (DefaultTimeout) that does not follow redirects (a 3xx is a
// ProviderError). The default has no SSRF guard, and needs none: the URL is
// the host's configuration (WithBaseURL), never a value from a request.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithStatusCallback asks Twilio to POST delivery reports for every message
// to this absolute http(s) URL; serve it with StatusHandler. Default none:
// no reports.
func WithStatusCallback(u string) Option { return func(o *options) { o.statusCallback = u } }

// WithAPIKey authenticates with an API key (SK...) and its secret instead
// of the auth token; the account SID still names the account in the path.
// New then accepts an empty authToken. Default: the auth token.
func WithAPIKey(sid, secret string) Option {
	return func(o *options) { o.apiKeySID, o.apiKeySecret = sid, secret }
}

// Provider sends SMS through Twilio. It is safe for concurrent use.
type Provider struct {
	name     string
	endpoint string
	from     string
	service  string
	callback string
	client   *http.Client
	// auth sets the Basic credentials and secret returns the password (for
	// redaction). They are funcs so that printing a Provider, with any verb
	// and at any depth, shows an address and never the secret.
	auth   func(*http.Request)
	secret func() string
}

var _ notify.Provider = (*Provider)(nil)

// New returns a Provider for the account accountSID (AC...) that
// authenticates with authToken, or with an API key (WithAPIKey). One of
// WithFrom and WithMessagingService is required. Bad configuration gives a
// *notify.ValidationError naming the parameter or option; the error never
// contains a secret.
func New(accountSID, authToken string, opts ...Option) (*Provider, error) {
	o := options{name: "twilio", baseURL: DefaultBaseURL}
	for _, opt := range opts {
		opt(&o)
	}
	c := validate.NewChecker("twilio")
	c.Check(accountSIDRe.MatchString(accountSID), "accountSID", "must be AC followed by 32 hex digits")
	apiKey := o.apiKeySID != "" || o.apiKeySecret != ""
	if apiKey {
		c.Check(apiKeySIDRe.MatchString(o.apiKeySID), "WithAPIKey", "the key SID must be SK followed by 32 hex digits")
		c.Check(o.apiKeySecret != "", "WithAPIKey", "the secret is empty")
	} else {
		c.Check(authToken != "", "authToken", "is empty (pass the auth token, or use WithAPIKey)")
	}
	c.Check(strings.TrimSpace(o.name) != "", "WithName", "is empty")
	c.Check(o.from != "" || o.service != "", "WithFrom", "one of WithFrom and WithMessagingService is required")
	if o.from != "" {
		c.Check(validSender(o.from), "WithFrom",
			"must be an E.164 number, a short code or an alphanumeric sender ID of up to 11 characters")
	}
	if o.service != "" {
		c.Check(serviceSIDRe.MatchString(o.service), "WithMessagingService", "must be MG followed by 32 hex digits")
	}
	base, err := checkBaseURL(o.baseURL)
	c.Add(err)
	if o.statusCallback != "" {
		u, err := url.Parse(o.statusCallback)
		c.Check(err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "",
			"WithStatusCallback", "must be an absolute http or https URL")
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	user, pass := accountSID, authToken
	if apiKey {
		user, pass = o.apiKeySID, o.apiKeySecret
	}
	client := o.httpClient
	if client == nil {
		client = &http.Client{
			Timeout: DefaultTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	return &Provider{
		name:     o.name,
		endpoint: base + "/2010-04-01/Accounts/" + accountSID + "/Messages.json",
		from:     o.from,
		service:  o.service,
		callback: o.statusCallback,
		client:   client,
		auth:     func(r *http.Request) { r.SetBasicAuth(user, pass) },
		secret:   func() string { return pass },
	}, nil
}

func checkBaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", validate.New("twilio", "WithBaseURL", "must be an absolute URL without credentials, query or fragment")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return "", validate.New("twilio", "WithBaseURL", "must be https (http only to a loopback host)")
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

// Name returns the provider's name (WithName).
func (p *Provider) Name() string { return p.name }

// Channel returns notify.ChannelSMS.
func (p *Provider) Channel() notify.Channel { return notify.ChannelSMS }

// String describes the provider without its credentials.
func (p *Provider) String() string { return "twilio.Provider(" + p.name + ")" }

// GoString is String, so that %#v shows no credentials either.
func (p *Provider) GoString() string { return p.String() }

// Send sends m.Text to m.To. See the package documentation for how Twilio's
// answers map to errors. A message without text, or longer than
// MaxBodyLength characters, gives a *notify.ValidationError naming
// message.text and calls nothing.
func (p *Provider) Send(ctx context.Context, m *notify.Message) (notify.Result, error) {
	if m == nil {
		return notify.Result{}, validate.New("twilio", "message", "is nil")
	}
	if !isE164(m.To) {
		return notify.Result{}, notify.BadRecipient("recipient.phone", "must be an E.164 number such as +447700900123")
	}
	if m.Text == "" {
		return notify.Result{}, validate.New("twilio", "message.text", "is empty")
	}
	if n := utf8.RuneCountInString(m.Text); n > MaxBodyLength {
		return notify.Result{}, validate.New("twilio", "message.text",
			"has %d characters; Twilio sends at most %d", n, MaxBodyLength)
	}
	form := url.Values{"To": {m.To}, "Body": {m.Text}}
	if p.from != "" {
		form.Set("From", p.from)
	}
	if p.service != "" {
		form.Set("MessagingServiceSid", p.service)
	}
	if p.callback != "" {
		form.Set("StatusCallback", p.callback)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return notify.Result{}, &notify.ProviderError{Provider: p.name, Err: errors.New("building the request failed")}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	p.auth(req)

	resp, err := p.client.Do(req)
	if err != nil {
		return notify.Result{}, p.transportError(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Twilio accepted the message: a body we cannot read costs the
		// message SID, never a resend.
		var ok struct {
			SID string `json:"sid"`
		}
		_ = json.Unmarshal(body, &ok)
		return notify.Result{ExternalID: ok.SID}, nil
	}
	return notify.Result{}, p.apiError(resp, body, m)
}

// apiError maps a non-2xx answer.
func (p *Provider) apiError(resp *http.Response, body []byte, m *notify.Message) error {
	var e struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		MoreInfo string `json:"more_info"`
	}
	_ = json.Unmarshal(body, &e)
	if resp.StatusCode == http.StatusBadRequest {
		switch e.Code {
		case codeInvalidTo:
			return notify.BadRecipient("recipient.phone", "Twilio refuses it as not a valid phone number (code 21211)")
		case codeNotMobile:
			return notify.BadRecipient("recipient.phone", "is not a mobile number that can receive SMS (Twilio code 21614)")
		case codeUnsubscribed:
			return notify.BadRecipient("recipient.phone", "has unsubscribed from this sender by replying STOP (Twilio code 21610)")
		}
	}
	pe := &notify.ProviderError{Provider: p.name, StatusCode: resp.StatusCode}
	if e.Code != 0 {
		pe.Code = strconv.Itoa(e.Code)
	}
	if d, ok := backoff.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		pe.RetryAfter = d
	}
	msg := p.clean(e.Message, m)
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		msg = "Twilio refused the credentials" + suffix(msg)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		msg = "unexpected redirect (not followed)"
	case msg == "":
		msg = http.StatusText(resp.StatusCode)
	}
	if e.MoreInfo != "" && strings.HasPrefix(e.MoreInfo, "https://www.twilio.com/") && !strings.ContainsAny(e.MoreInfo, " \r\n") {
		msg += " (" + e.MoreInfo + ")"
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

// clean makes a Twilio message fit to quote: one line, at most 200
// characters, and without the credentials, the number or the body, in case
// the API (or something pretending to be it) echoes them.
func (p *Provider) clean(msg string, m *notify.Message) string {
	for _, secret := range []string{p.secret(), m.Text, m.To, strings.TrimPrefix(m.To, "+")} {
		if len(secret) >= 4 {
			msg = strings.ReplaceAll(msg, secret, "[redacted]")
		}
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if utf8.RuneCountInString(msg) > 200 {
		msg = string([]rune(msg)[:200]) + "..."
	}
	return msg
}

func (p *Provider) transportError(err error) error {
	// url.Error repeats the URL; the cause is enough (the URL holds no
	// secret, but it adds nothing).
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	timeout := errors.Is(err, context.DeadlineExceeded)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		timeout = true
	}
	return &notify.ProviderError{Provider: p.name, Timeout: timeout, Err: fmt.Errorf("calling Twilio: %w", err)}
}

// isE164 reports whether s is a number written in E.164: a plus, a known
// country code and a national number of a possible length for it, nothing
// else (no spaces, no trunk prefix 0). Whether the number is allocated is
// Twilio's to say (code 21211): libphonenumber's IsValidNumber would also
// refuse numbers in ranges its metadata does not list yet, and Ofcom's
// drama range +447700900xxx that the SDK's examples use. A subscriber
// number without its area code is refused.
func isE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' {
		return false
	}
	n, err := phonenumbers.Parse(s, "")
	// IS_POSSIBLE_LOCAL_ONLY (a subscriber number without its area code)
	// cannot be dialled from abroad, so it is not enough.
	if err != nil || phonenumbers.IsPossibleNumberWithReason(n) != phonenumbers.IS_POSSIBLE {
		return false
	}
	return phonenumbers.Format(n, phonenumbers.E164) == s
}

func validSender(s string) bool {
	if strings.HasPrefix(s, "+") {
		return isE164(s)
	}
	if shortCodeRe.MatchString(s) {
		return true
	}
	return alphaIDRe.MatchString(s) && strings.IndexFunc(s, func(r rune) bool {
		return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
	}) >= 0
}
