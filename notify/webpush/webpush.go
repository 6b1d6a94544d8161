package webpush

import (
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	wp "github.com/SherClockHolmes/webpush-go"

	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/netguard"
	"github.com/wedsync/integrations/internal/validate"
	"github.com/wedsync/integrations/notify"
)

// ErrInvalid is matched (errors.Is) by every *ValidationError that New
// returns. It is notify.ErrInvalid.
var ErrInvalid = validate.ErrInvalid

// ValidationError names the bad argument or option and the rule it broke.
type ValidationError = validate.Error

// ErrPayloadTooLarge is wrapped by the *notify.ProviderError of a push
// service that answered 413, and by the error of a message whose title is
// cut to nothing and still leaves no room (a URL or notification id of
// nearly 4 KB).
var ErrPayloadTooLarge = errors.New("webpush: payload too large")

// Provider sends Web Push messages. It implements notify.PushProvider for
// notify.PushWeb subscriptions and is safe for concurrent use. Its String
// and GoString never show the private key.
type Provider struct {
	name       string
	ttl        int // seconds
	timeout    time.Duration
	allowHTTP  bool
	client     *http.Client
	publicKey  string
	privateKey string
	// subscriber is the JWT "sub" as webpush-go takes it: an https URL as
	// is, a mailto: URL without its scheme (webpush-go adds "mailto:" to
	// anything that does not start with "https:").
	subscriber string
}

var _ notify.PushProvider = (*Provider)(nil)

// GenerateVAPIDKeys returns a new VAPID key pair for New: public is the
// uncompressed P-256 point (65 bytes, what browsers take as
// applicationServerKey) and private the 32-byte scalar, both base64url
// without padding. Note the order: webpush-go's own function returns the
// private key first.
func GenerateVAPIDKeys() (public, private string, err error) {
	private, public, err = wp.GenerateVAPIDKeys()
	if err != nil {
		return "", "", fmt.Errorf("webpush: generate VAPID keys: %w", err)
	}
	return public, private, nil
}

// New returns a Provider that signs with the VAPID key pair (base64url, as
// GenerateVAPIDKeys makes them; padding is optional) and names subscriber,
// a mailto: or https: URL where the push service can reach the operator
// (RFC 8292's "sub"). New checks that the private key is a P-256 scalar
// whose public key is vapidPublicKey; its errors name the argument and
// never show the private key.
func New(vapidPublicKey, vapidPrivateKey, subscriber string, opts ...Option) (*Provider, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	c := validate.NewChecker("webpush")
	pub, pubErr := parsePublicKey(vapidPublicKey)
	c.Add(pubErr)
	priv, privErr := parsePrivateKey(vapidPrivateKey)
	c.Add(privErr)
	if pubErr == nil && privErr == nil {
		c.Check(priv.PublicKey().Equal(pub), "vapidPrivateKey", "must be the private key of vapidPublicKey")
	}
	sub, subErr := parseSubscriber(subscriber)
	c.Add(subErr)
	c.Check(o.name != "", "WithName", "must not be empty")
	c.Check(o.ttl >= 0, "WithTTL", "must not be negative, got %s", o.ttl)
	c.Check(o.timeout > 0, "WithTimeout", "must be positive, got %s", o.timeout)
	for _, p := range o.allowed {
		c.Check(p.IsValid(), "WithAllowedNetworks", "must be valid prefixes")
	}
	if err := c.Err(); err != nil {
		return nil, err
	}

	client := o.httpClient
	if client == nil {
		client = netguard.New(
			netguard.WithAllowedRanges(o.allowed...),
			netguard.WithAllowHTTP(o.allowHTTP),
		).Client(0) // Send bounds each request by its context
	} else {
		cp := *client
		cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		client = &cp
	}
	return &Provider{
		name:       o.name,
		ttl:        int(o.ttl / time.Second),
		timeout:    o.timeout,
		allowHTTP:  o.allowHTTP,
		client:     client,
		publicKey:  base64.RawURLEncoding.EncodeToString(pub.Bytes()),
		privateKey: base64.RawURLEncoding.EncodeToString(priv.Bytes()),
		subscriber: sub,
	}, nil
}

// decodeVAPIDKey reads a key as webpush-go does: base64url, padded or not.
func decodeVAPIDKey(s string) ([]byte, error) {
	b, err := base64.URLEncoding.DecodeString(s)
	if err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}

func parsePublicKey(s string) (*ecdh.PublicKey, error) {
	const field = "vapidPublicKey"
	if s == "" {
		return nil, validate.New("webpush", field, "is required")
	}
	b, err := decodeVAPIDKey(s)
	if err != nil {
		return nil, validate.New("webpush", field, "must be base64url")
	}
	if len(b) != 65 || b[0] != 4 {
		return nil, validate.New("webpush", field, "must be an uncompressed P-256 point (65 bytes starting 0x04), got %d bytes", len(b))
	}
	pub, err := ecdh.P256().NewPublicKey(b)
	if err != nil {
		return nil, validate.New("webpush", field, "must be a point on the P-256 curve")
	}
	return pub, nil
}

func parsePrivateKey(s string) (*ecdh.PrivateKey, error) {
	const field = "vapidPrivateKey"
	if s == "" {
		return nil, validate.New("webpush", field, "is required")
	}
	b, err := decodeVAPIDKey(s)
	if err != nil {
		return nil, validate.New("webpush", field, "must be base64url")
	}
	if len(b) != 32 {
		return nil, validate.New("webpush", field, "must be a 32-byte P-256 scalar, got %d bytes", len(b))
	}
	priv, err := ecdh.P256().NewPrivateKey(b)
	if err != nil {
		return nil, validate.New("webpush", field, "must be a valid P-256 scalar (non-zero, below the group order)")
	}
	return priv, nil
}

// parseSubscriber checks the RFC 8292 "sub" and returns it as webpush-go
// takes it.
func parseSubscriber(s string) (string, error) {
	const field = "subscriber"
	if s == "" {
		return "", validate.New("webpush", field, "is required (a mailto: or https: URL)")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", validate.New("webpush", field, "must be a mailto: or https: URL")
	}
	switch u.Scheme { // url.Parse lowercases the scheme
	case "mailto":
		a, err := mail.ParseAddress(u.Opaque)
		if err != nil || a.Address != u.Opaque || u.RawQuery != "" || u.Fragment != "" {
			return "", validate.New("webpush", field, "must be mailto: followed by one bare email address")
		}
		return u.Opaque, nil
	case "https":
		if u.Host == "" || u.User != nil || u.Opaque != "" {
			return "", validate.New("webpush", field, "must be an https URL with a host and no user info")
		}
		return u.String(), nil
	}
	return "", validate.New("webpush", field, "must be a mailto: or https: URL")
}

// Name implements notify.Provider.
func (p *Provider) Name() string { return p.name }

// Channel implements notify.Provider: notify.ChannelPush.
func (p *Provider) Channel() notify.Channel { return notify.ChannelPush }

// PushKind implements notify.PushProvider: notify.PushWeb.
func (p *Provider) PushKind() notify.PushKind { return notify.PushWeb }

// PublicKey returns the VAPID public key (base64url, no padding), which the
// browser passes to PushManager.subscribe as applicationServerKey.
func (p *Provider) PublicKey() string { return p.publicKey }

// CloseIdleConnections closes the idle connections of the provider's HTTP
// client (the default one, or the one given to WithHTTPClient).
func (p *Provider) CloseIdleConnections() { p.client.CloseIdleConnections() }

// String describes the provider without its private key. It has a value
// receiver so that printing a Provider value hides the key too.
func (p Provider) String() string {
	return fmt.Sprintf("webpush.Provider{name: %q, public key: %s}", p.name, p.publicKey)
}

// GoString is String, so %#v does not print the private key either.
func (p Provider) GoString() string { return p.String() }

// Send encrypts m as a JSON Payload for m.Subscription and posts it to the
// subscription's endpoint. See the package documentation for its errors.
func (p *Provider) Send(ctx context.Context, m *notify.Message) (notify.Result, error) {
	if m == nil {
		return notify.Result{}, errors.New("webpush: message is nil")
	}
	sub, err := checkSubscription(m.Subscription, p.allowHTTP)
	if err != nil {
		return notify.Result{}, err
	}
	body, err := encodePayload(Payload{
		Title:          m.Subject,
		Body:           m.Text,
		URL:            m.URL,
		NotificationID: m.NotificationID,
		Category:       m.Category,
		Priority:       m.Priority,
	})
	if err != nil {
		return notify.Result{}, err
	}
	urgency := wp.UrgencyNormal
	if m.Priority == notify.PriorityCritical {
		urgency = wp.UrgencyHigh
	}

	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	resp, err := wp.SendNotificationWithContext(ctx, body, sub, &wp.Options{
		HTTPClient:      p.client,
		Subscriber:      p.subscriber,
		TTL:             p.ttl,
		Urgency:         urgency,
		VAPIDPublicKey:  p.publicKey,
		VAPIDPrivateKey: p.privateKey,
	})
	if err != nil {
		return notify.Result{}, p.sendError(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return p.result(resp)
}

// sendError classifies an error from building or sending the request. The
// endpoint URL that *url.Error carries is dropped: it is the subscription's
// capability and does not belong in logs.
func (p *Provider) sendError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	if errors.Is(err, netguard.ErrBlockedAddress) || errors.Is(err, netguard.ErrInsecureScheme) ||
		errors.Is(err, netguard.ErrInvalidURL) {
		return notify.BadRecipient("push_subscription.endpoint", "is refused by the SSRF guard (%v)", err)
	}
	var ne net.Error
	timeout := errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
	return &notify.ProviderError{Provider: p.name, Timeout: timeout, Err: err}
}

// result maps the push service's answer (RFC 8030, section 5).
func (p *Provider) result(resp *http.Response) (notify.Result, error) {
	code := resp.StatusCode
	switch {
	case code == http.StatusCreated || code == http.StatusOK || code == http.StatusAccepted:
		return notify.Result{ExternalID: resp.Header.Get("Location")}, nil
	case code == http.StatusNotFound || code == http.StatusGone:
		return notify.Result{}, fmt.Errorf("%s: status %d: %w", p.name, code, notify.ErrSubscriptionGone)
	}
	pe := &notify.ProviderError{Provider: p.name, StatusCode: code}
	if ra, ok := backoff.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		pe.RetryAfter = ra
	}
	switch {
	case code == http.StatusRequestEntityTooLarge:
		pe.Err = ErrPayloadTooLarge
	case code >= 300 && code < 400:
		pe.Err = errors.New("redirect not followed")
	}
	return notify.Result{}, pe
}
