package oauthflow

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/wedsync/integrations/internal/keyring"
	"github.com/wedsync/integrations/internal/validate"
)

// DefaultTTL is how long a begun flow may take to finish.
const DefaultTTL = 15 * time.Minute

// ErrState: the state parameter is not one this flow sealed, or it
// expired.
var ErrState = errors.New("oauthflow: the state parameter is invalid or expired")

// Flow runs the authorisation-code flow for one provider's OAuth2 client.
type Flow struct {
	cfg  *oauth2.Config
	keys *keyring.Keyring
	ttl  time.Duration
	now  func() time.Time
}

// Option configures a Flow.
type Option func(*Flow)

// WithTTL sets how long a begun flow may take. Default DefaultTTL.
func WithTTL(d time.Duration) Option { return func(f *Flow) { f.ttl = d } }

// WithNow sets the clock. Default time.Now.
func WithNow(now func() time.Time) Option { return func(f *Flow) { f.now = now } }

// New returns a flow for cfg (client id and secret, the provider's
// endpoint, the redirect URL and the scopes: google.Scopes and
// outlook.Scopes say which) whose state is sealed with key (32 bytes; the
// host's WEDSYNC_ENCRYPTION_KEY does).
func New(cfg *oauth2.Config, key []byte, opts ...Option) (*Flow, error) {
	f := &Flow{cfg: cfg, ttl: DefaultTTL, now: time.Now}
	for _, o := range opts {
		o(f)
	}
	var errs []error
	if cfg == nil || cfg.ClientID == "" || cfg.Endpoint.AuthURL == "" || cfg.Endpoint.TokenURL == "" || cfg.RedirectURL == "" {
		errs = append(errs, validate.New("oauthflow", "cfg", "needs ClientID, Endpoint.AuthURL, Endpoint.TokenURL and RedirectURL"))
	}
	k, err := keyring.New(key)
	if err != nil {
		errs = append(errs, validate.New("oauthflow", "key", "must be %d bytes", keyring.KeySize))
	}
	if f.ttl < time.Minute || f.ttl > time.Hour {
		errs = append(errs, validate.New("oauthflow", "WithTTL", "must be 1m to 1h, got %s", f.ttl))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	f.keys = k
	return f, nil
}

type state struct {
	Supplier string `json:"s"`
	Verifier string `json:"v"`
	Expires  int64  `json:"e"`
	Nonce    string `json:"n"`
}

const stateAAD = "wedsync/calendar/oauthflow/state"

// Begin returns the URL to send supplier to (offline access, so that a
// refresh token comes back; consent prompted, so that it comes back on a
// reconnect too) and the state it carries.
func (f *Flow) Begin(supplier string) (authURL string, err error) {
	if supplier == "" || len(supplier) > 200 {
		return "", validate.New("oauthflow", "supplier", "must be 1 to 200 bytes, got %d", len(supplier))
	}
	var n [16]byte
	_, _ = rand.Read(n[:])
	st := state{Supplier: supplier, Verifier: oauth2.GenerateVerifier(), Expires: f.now().Add(f.ttl).Unix(), Nonce: hex.EncodeToString(n[:])}
	raw, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	sealed := base64.RawURLEncoding.EncodeToString(f.keys.Seal(raw, []byte(stateAAD)))
	return f.cfg.AuthCodeURL(sealed, oauth2.AccessTypeOffline, oauth2.SetAuthURLParam("prompt", "consent"),
		oauth2.S256ChallengeOption(st.Verifier)), nil
}

// Finish exchanges the code the provider sent to the redirect URL (with
// the state it carried) for a token, and returns the token as JSON (the
// credentials calendar.Sync.Connect takes) and the supplier the flow was
// begun for. The host must check that supplier is the one signed in.
func (f *Flow) Finish(ctx context.Context, code, sealedState string) (creds []byte, supplier string, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(sealedState)
	if err != nil || len(sealedState) > 4096 {
		return nil, "", ErrState
	}
	plain, err := f.keys.Open(raw, []byte(stateAAD))
	if err != nil {
		return nil, "", ErrState
	}
	var st state
	if err := json.Unmarshal(plain, &st); err != nil || f.now().Unix() > st.Expires {
		return nil, "", ErrState
	}
	if code == "" {
		return nil, "", validate.New("oauthflow", "code", "is required")
	}
	tok, err := f.cfg.Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return nil, "", fmt.Errorf("oauthflow: exchanging the code: %w", err)
	}
	if tok.RefreshToken == "" {
		return nil, "", errors.New("oauthflow: the provider sent no refresh token (offline access refused): the connection would stop within the hour")
	}
	creds, err = json.Marshal(tok)
	return creds, st.Supplier, err
}
