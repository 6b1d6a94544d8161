package webpush

import (
	"bytes"
	"crypto/ecdh"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"

	wp "github.com/SherClockHolmes/webpush-go"

	"github.com/wedsync/integrations/notify"
)

// Field names of subscription errors.
const (
	fieldSubscription = "push_subscription"
	fieldKind         = "push_subscription.kind"
	fieldEndpoint     = "push_subscription.endpoint"
	fieldP256DH       = "push_subscription.p256dh"
	fieldAuth         = "push_subscription.auth"
)

// checkSubscription checks s before anything is sent and returns it in
// webpush-go's form, keys re-encoded as unpadded base64url. Errors are
// *notify.RecipientError values; they never repeat the endpoint or keys.
func checkSubscription(s *notify.PushSubscription, allowHTTP bool) (*wp.Subscription, error) {
	if s == nil {
		return nil, notify.BadRecipient(fieldSubscription, "is required")
	}
	if s.Kind != "" && s.Kind != notify.PushWeb {
		return nil, notify.BadRecipient(fieldKind, "must be %q for a Web Push provider", notify.PushWeb)
	}
	if err := checkEndpoint(s.Endpoint, allowHTTP); err != nil {
		return nil, err
	}
	p256dh, err := decodeSubscriptionKey(s.P256DH)
	switch {
	case s.P256DH == "":
		return nil, notify.BadRecipient(fieldP256DH, "is required")
	case err != nil:
		return nil, notify.BadRecipient(fieldP256DH, "must be base64url")
	case len(p256dh) != 65 || p256dh[0] != 4:
		return nil, notify.BadRecipient(fieldP256DH, "must be an uncompressed P-256 point (65 bytes starting 0x04), got %d bytes", len(p256dh))
	}
	if _, err := ecdh.P256().NewPublicKey(p256dh); err != nil {
		return nil, notify.BadRecipient(fieldP256DH, "must be a point on the P-256 curve")
	}
	auth, err := decodeSubscriptionKey(s.Auth)
	switch {
	case s.Auth == "":
		return nil, notify.BadRecipient(fieldAuth, "is required")
	case err != nil:
		return nil, notify.BadRecipient(fieldAuth, "must be base64url")
	case len(auth) != 16:
		return nil, notify.BadRecipient(fieldAuth, "must be a 16-byte secret, got %d bytes", len(auth))
	}
	return &wp.Subscription{
		Endpoint: s.Endpoint,
		Keys: wp.Keys{
			Auth:   base64.RawURLEncoding.EncodeToString(auth),
			P256dh: base64.RawURLEncoding.EncodeToString(p256dh),
		},
	}, nil
}

func checkEndpoint(endpoint string, allowHTTP bool) error {
	if endpoint == "" {
		return notify.BadRecipient(fieldEndpoint, "is required")
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return notify.BadRecipient(fieldEndpoint, "must be a URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP:
	case allowHTTP:
		return notify.BadRecipient(fieldEndpoint, "must be an https or http URL")
	default:
		return notify.BadRecipient(fieldEndpoint, "must be an https URL")
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return notify.BadRecipient(fieldEndpoint, "must have a host")
	}
	if u.User != nil {
		return notify.BadRecipient(fieldEndpoint, "must not carry user info")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return notify.BadRecipient(fieldEndpoint, "must have a port in 1-65535")
		}
	}
	return nil
}

// decodeSubscriptionKey reads a browser key as webpush-go does: base64 with
// or without padding, standard or URL alphabet (browsers send unpadded
// base64url). Padding is added, then the standard alphabet is tried first.
func decodeSubscriptionKey(key string) ([]byte, error) {
	buf := bytes.NewBufferString(key)
	if rem := len(key) % 4; rem != 0 {
		buf.WriteString(strings.Repeat("=", 4-rem))
	}
	b, err := base64.StdEncoding.DecodeString(buf.String())
	if err == nil {
		return b, nil
	}
	return base64.URLEncoding.DecodeString(buf.String())
}
