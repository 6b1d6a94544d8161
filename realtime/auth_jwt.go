package realtime

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jonboulle/clockwork"

	"github.com/wedsync/integrations/internal/telemetry"
	"github.com/wedsync/integrations/internal/validate"
)

// The algorithms a JWTAuthenticator accepts. Anything else, "none" above
// all, is refused before any key is looked at.
const (
	jwtAlgHS256 = "HS256"
	jwtAlgES256 = "ES256"
	jwtAlgRS256 = "RS256"
)

const (
	// jwtMinSecretLen is the shortest HS256 secret accepted: 256 bits, the
	// size of the HMAC-SHA256 output (RFC 7518 section 3.2).
	jwtMinSecretLen = 32
	// jwtMaxTokenLen bounds the work a single token can cause. Supabase
	// tokens are a few hundred bytes to a few kilobytes.
	jwtMaxTokenLen = 16 << 10
	// jwksMinRefetchInterval is the least time between two JWKS fetches that
	// a token can trigger (an unknown kid, or a retry after a failure), so
	// that a stream of made-up kids cannot hammer the key server.
	jwksMinRefetchInterval = 30 * time.Second
	// jwksMaxBody caps the size of a fetched JWK set.
	jwksMaxBody = 1 << 20
	// jwksMinRSABits is the smallest RSA modulus accepted in a JWK set.
	jwksMinRSABits = 2048
)

type jwtOptions struct {
	sharedOptions
	secret     []byte
	secretSet  bool
	jwks       []byte
	jwksSet    bool
	jwksURL    string
	jwksURLSet bool
	httpClient *http.Client
	cacheTTL   time.Duration
	claimPath  string
	audience   string
	audSet     bool
	issuer     string
	issSet     bool
	leeway     time.Duration
	requireExp bool
}

func defaultJWTOptions() jwtOptions {
	return jwtOptions{
		sharedOptions: defaultSharedOptions(),
		cacheTTL:      10 * time.Minute,
		claimPath:     "app_metadata.supplier_id",
		leeway:        30 * time.Second,
		requireExp:    true,
	}
}

// WithHS256Secret accepts HS256 tokens signed with secret, such as those a
// Supabase project signs with its legacy JWT secret. The secret must be at
// least 32 bytes. The authenticator keeps its own copy. Defaults to none:
// HS256 tokens are refused.
func WithHS256Secret(secret []byte) JWTOption {
	s := append([]byte(nil), secret...)
	return jwtOption(func(o *jwtOptions) { o.secret, o.secretSet = s, true })
}

// WithJWKS accepts ES256 (EC P-256) and RS256 tokens signed by a key in the
// static JWK set jwksJSON ({"keys":[...]}, RFC 7517), such as a Supabase
// project's signing keys. A token's kid header picks the key; a token
// without a kid is accepted only when exactly one key fits its algorithm.
// Keys of other types (oct, OKP) are skipped; a malformed EC or RSA key, an
// RSA key under 2048 bits, or a set without a usable key is a configuration
// error. It may be combined with WithHS256Secret but not with WithJWKSURL.
// Defaults to none.
func WithJWKS(jwksJSON []byte) JWTOption {
	b := append([]byte(nil), jwksJSON...)
	return jwtOption(func(o *jwtOptions) { o.jwks, o.jwksSet = b, true })
}

// WithJWKSURL accepts ES256 and RS256 tokens signed by a key in the JWK set
// served at rawURL, such as
// https://<project>.supabase.co/auth/v1/.well-known/jwks.json. The set is
// fetched on first use and cached for WithJWKSCacheTTL; a token with an
// unknown kid triggers a refetch, but at most one every 30 seconds, and so
// does a retry after a failed fetch. When a refresh fails the previous keys
// stay in use. Keys it cannot use are skipped.
//
// client makes the requests; nil means an http.Client with a 10-second
// timeout. The URL is host configuration, so the client need not be
// SSRF-guarded. It may be combined with WithHS256Secret but not with
// WithJWKS. Defaults to none.
func WithJWKSURL(rawURL string, client *http.Client) JWTOption {
	return jwtOption(func(o *jwtOptions) { o.jwksURL, o.httpClient, o.jwksURLSet = rawURL, client, true })
}

// WithJWKSCacheTTL sets how long a fetched JWK set is used before it is
// fetched again. Defaults to 10 minutes. Refetches are never more frequent
// than one every 30 seconds, whatever the TTL.
func WithJWKSCacheTTL(d time.Duration) JWTOption {
	return jwtOption(func(o *jwtOptions) { o.cacheTTL = d })
}

// WithSupplierClaim sets the dot-separated path, into the token's claims, of
// the claim that names the principal's supplier. The claim may be a JSON
// string or number; a number is formatted in plain decimal (42 becomes "42",
// 4.2e1 too). A token without the claim, or with a claim of another type,
// authenticates with an empty SupplierID and is left to the Authorizer.
// Defaults to "app_metadata.supplier_id".
func WithSupplierClaim(path string) JWTOption {
	return jwtOption(func(o *jwtOptions) { o.claimPath = path })
}

// WithAudience requires the token's aud claim to be, or to contain, aud.
// Supabase user tokens carry "authenticated". Defaults to no audience check.
func WithAudience(aud string) JWTOption {
	return jwtOption(func(o *jwtOptions) { o.audience, o.audSet = aud, true })
}

// WithIssuer requires the token's iss claim to equal iss, such as
// "https://<project>.supabase.co/auth/v1". Defaults to no issuer check.
func WithIssuer(iss string) JWTOption {
	return jwtOption(func(o *jwtOptions) { o.issuer, o.issSet = iss, true })
}

// WithLeeway sets the clock skew tolerated in the exp, nbf and iat checks.
// Defaults to 30 seconds.
func WithLeeway(d time.Duration) JWTOption {
	return jwtOption(func(o *jwtOptions) { o.leeway = d })
}

// WithRequireExpiry sets whether a token without an exp claim is refused.
// Defaults to true.
func WithRequireExpiry(require bool) JWTOption {
	return jwtOption(func(o *jwtOptions) { o.requireExp = require })
}

// validate reports every bad option at once.
func (o *jwtOptions) validate() error {
	c := validate.NewChecker(pkg)
	c.Check(o.secretSet || o.jwksSet || o.jwksURLSet, "NewJWTAuthenticator", "needs a key source: use WithHS256Secret, WithJWKS or WithJWKSURL")
	c.Check(!o.secretSet || len(o.secret) >= jwtMinSecretLen, "WithHS256Secret", "the secret must be at least %d bytes, got %d", jwtMinSecretLen, len(o.secret))
	c.Check(!o.jwksSet || !o.jwksURLSet, "WithJWKS", "cannot be used together with WithJWKSURL")
	if o.jwksURLSet {
		u, err := url.Parse(o.jwksURL)
		c.Check(err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "", "WithJWKSURL", "the URL must be an absolute http or https URL")
	}
	c.Check(o.cacheTTL > 0, "WithJWKSCacheTTL", "the TTL must be positive, got %s", o.cacheTTL)
	c.Check(o.claimPath != "" && !strings.Contains("."+o.claimPath+".", ".."), "WithSupplierClaim", "%q is not a dot path of claim names", o.claimPath)
	c.Check(!o.audSet || o.audience != "", "WithAudience", "the audience must not be empty")
	c.Check(!o.issSet || o.issuer != "", "WithIssuer", "the issuer must not be empty")
	c.Check(o.leeway >= 0, "WithLeeway", "the leeway must not be negative, got %s", o.leeway)
	o.sharedOptions.validate(c)
	return c.Err()
}

// JWTAuthenticator is the default Authenticator: it accepts Supabase-style
// JWTs signed with HS256 (a shared secret) or ES256/RS256 (a JWK set, static
// or fetched). It is safe for concurrent use.
//
// Only HS256, ES256 and RS256 are accepted, and the algorithm must fit the
// key: an HS256 token is checked against the shared secret and nothing
// else, so a token "signed" with a public key as an HMAC secret (algorithm
// confusion) is refused, as is "none".
//
// A refused token gets an error that wraps ErrUnauthenticated and says why
// (expired, bad signature, unknown kid, malformed, wrong audience, ...); its
// message never quotes the token. The golang-jwt error, when there is one,
// is in the chain too.
type JWTAuthenticator struct {
	opts      jwtOptions
	parser    *jwt.Parser
	methods   []string // the algorithms accepted
	claimPath []string
	static    []jwksKey // from WithJWKS
	remote    *jwksRemote
}

var _ Authenticator = (*JWTAuthenticator)(nil)

// NewJWTAuthenticator returns a JWTAuthenticator. At least one key source
// (WithHS256Secret, WithJWKS, WithJWKSURL) is required; a misconfigured
// option gets an error that names it.
func NewJWTAuthenticator(opts ...JWTOption) (*JWTAuthenticator, error) {
	o := defaultJWTOptions()
	for _, opt := range opts {
		if opt != nil {
			opt.applyJWT(&o)
		}
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	a := &JWTAuthenticator{opts: o, claimPath: strings.Split(o.claimPath, ".")}
	if o.jwksSet {
		keys, err := jwksParse(o.jwks, true)
		if err != nil {
			return nil, validate.New(pkg, "WithJWKS", "%v", err)
		}
		a.static = keys
	}
	if o.jwksURLSet {
		client := o.httpClient
		if client == nil {
			client = &http.Client{Timeout: 10 * time.Second}
		}
		tel := telemetry.New(scope, o.meterProvider, o.tracerProvider)
		a.remote = &jwksRemote{url: o.jwksURL, client: client, ttl: o.cacheTTL, clock: o.clock, log: o.logger, http: tel.HTTPClient()}
		telemetry.Handle(tel.Err())
	}
	var methods []string
	if o.secretSet {
		methods = append(methods, jwtAlgHS256)
	}
	if o.jwksSet || o.jwksURLSet {
		methods = append(methods, jwtAlgES256, jwtAlgRS256)
	}
	popts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithTimeFunc(o.clock.Now),
		jwt.WithLeeway(o.leeway),
		jwt.WithIssuedAt(),
		jwt.WithJSONNumber(),
		jwt.WithStrictDecoding(),
	}
	if o.requireExp {
		popts = append(popts, jwt.WithExpirationRequired())
	}
	if o.audSet {
		popts = append(popts, jwt.WithAudience(o.audience))
	}
	if o.issSet {
		popts = append(popts, jwt.WithIssuer(o.issuer))
	}
	a.methods = methods
	a.parser = jwt.NewParser(popts...)
	return a, nil
}

// Authenticate implements Authenticator. Numbers in Principal.Claims are
// json.Number, so that large ids survive exactly.
func (a *JWTAuthenticator) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if token == "" {
		return nil, jwtRefuse("no token", nil)
	}
	if len(token) > jwtMaxTokenLen {
		return nil, jwtRefuse("malformed token: too long", nil)
	}
	claims := jwt.MapClaims{}
	parsed, err := a.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		return a.key(ctx, t)
	})
	if err != nil {
		return nil, jwtRefuse(jwtReason(parsed, err, a.methods), err)
	}
	if !parsed.Valid {
		return nil, jwtRefuse("token not valid", nil)
	}
	p := &Principal{Claims: map[string]any(claims)}
	var ok bool
	if v, present := claims["sub"]; present {
		if p.Subject, ok = v.(string); !ok {
			return nil, jwtRefuse("malformed claims: sub is not a string", nil)
		}
	}
	if v, present := claims["role"]; present {
		if p.Role, ok = v.(string); !ok {
			return nil, jwtRefuse("malformed claims: role is not a string", nil)
		}
	}
	exp, err := claims.GetExpirationTime()
	if err != nil {
		return nil, jwtRefuse("malformed claims: exp is not a number", err)
	}
	if exp != nil {
		p.ExpiresAt = exp.Time
	}
	p.SupplierID = jwtSupplierID(claims, a.claimPath)
	return p, nil
}

// key is the jwt.Keyfunc: it hands the parser the one key that fits the
// token's algorithm, and never a key of another type.
func (a *JWTAuthenticator) key(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg() // the parser derived Method from the alg header
	switch alg {
	case jwtAlgHS256:
		if !a.opts.secretSet {
			return nil, &jwtKeyError{"HS256 tokens are not accepted"}
		}
		return a.opts.secret, nil
	case jwtAlgES256, jwtAlgRS256:
	default:
		return nil, &jwtKeyError{"algorithm not accepted"}
	}
	var kid string
	if v, present := t.Header["kid"]; present {
		s, ok := v.(string)
		if !ok {
			return nil, &jwtKeyError{"malformed token: kid is not a string"}
		}
		kid = s
	}
	if a.static != nil {
		return jwksFind(a.static, kid, alg)
	}
	if a.remote != nil {
		return a.remote.find(ctx, kid, alg)
	}
	return nil, &jwtKeyError{alg + " tokens are not accepted"}
}

// jwtKeyError is a refusal decided while choosing the key.
type jwtKeyError struct{ reason string }

func (e *jwtKeyError) Error() string { return e.reason }

// jwtError is a refusal: it reads "realtime: unauthenticated: <reason>" and
// wraps ErrUnauthenticated and the cause.
type jwtError struct {
	reason string
	cause  error
}

func jwtRefuse(reason string, cause error) error { return &jwtError{reason: reason, cause: cause} }

func (e *jwtError) Error() string { return ErrUnauthenticated.Error() + ": " + e.reason }

func (e *jwtError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrUnauthenticated}
	}
	return []error{ErrUnauthenticated, e.cause}
}

// jwtReason turns a golang-jwt error into a short reason that quotes
// nothing from the token but the algorithm name.
func jwtReason(t *jwt.Token, err error, accepted []string) string {
	var ke *jwtKeyError
	switch {
	case errors.As(err, &ke):
		return ke.reason
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// ParseUnverified found no signing method for the alg header.
		return "unsupported algorithm"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if t != nil && t.Method != nil {
			// The parser refused the method before looking for a key. Its
			// name is a registered one, such as "none" or "HS512", so it is
			// safe to quote.
			if alg := t.Method.Alg(); !slices.Contains(accepted, alg) {
				return fmt.Sprintf("algorithm %q not accepted", alg)
			}
		}
		return "bad signature"
	}
	var reasons []string
	for _, c := range []struct {
		err    error
		reason string
	}{
		{jwt.ErrTokenExpired, "token expired"},
		{jwt.ErrTokenNotValidYet, "token not valid yet (nbf)"},
		{jwt.ErrTokenUsedBeforeIssued, "token issued in the future (iat)"},
		{jwt.ErrTokenInvalidAudience, "wrong audience"},
		{jwt.ErrTokenInvalidIssuer, "wrong issuer"},
		{jwt.ErrTokenRequiredClaimMissing, "missing required claim (exp, aud or iss)"},
		{jwt.ErrInvalidType, "malformed claims"},
	} {
		if errors.Is(err, c.err) {
			reasons = append(reasons, c.reason)
		}
	}
	if len(reasons) == 0 {
		return "invalid token"
	}
	return strings.Join(reasons, ", ")
}

// jwtSupplierID reads the claim at path: a string as is, a number in plain
// decimal, anything else (or nothing) as "".
func jwtSupplierID(claims map[string]any, path []string) string {
	var v any = claims
	for _, name := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		if v, ok = m[name]; !ok {
			return ""
		}
	}
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return jwtFormatNumber(string(x))
	case float64: // only when decoded without UseNumber
		return jwtFormatNumber(strconv.FormatFloat(x, 'g', -1, 64))
	}
	return ""
}

// jwtFormatNumber formats a JSON number literal without an exponent. An
// integer literal is kept digit for digit, however long.
func jwtFormatNumber(lit string) string {
	digits := strings.TrimPrefix(lit, "-")
	if digits != "" && strings.Trim(digits, "0123456789") == "" {
		return lit
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return ""
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// jwksKey is one usable key of a JWK set.
type jwksKey struct {
	kid string
	alg string // jwtAlgES256 or jwtAlgRS256
	key any    // *ecdsa.PublicKey or *rsa.PublicKey
}

// jwksFind returns the key for a token with kid and alg.
func jwksFind(keys []jwksKey, kid, alg string) (any, error) {
	if kid == "" {
		var found any
		n := 0
		for _, k := range keys {
			if k.alg == alg {
				found = k.key
				n++
			}
		}
		if n == 1 {
			return found, nil
		}
		return nil, &jwtKeyError{"token has no kid"}
	}
	known := false
	for _, k := range keys {
		if k.kid != kid {
			continue
		}
		if k.alg == alg {
			return k.key, nil
		}
		known = true
	}
	if known {
		return nil, &jwtKeyError{"the key named by kid is not for " + alg}
	}
	return nil, &jwtKeyError{"unknown kid"}
}

type jwksJSON struct {
	Keys []json.RawMessage `json:"keys"`
}

type jwksJWK struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	D      string   `json:"d"`
}

// jwksParse reads a JWK set. Keys of types other than EC and RSA, and keys
// meant for something other than signatures, are skipped. With strict, a
// malformed EC or RSA key is an error; without, it is skipped. A set
// without a usable key is an error.
func jwksParse(data []byte, strict bool) ([]jwksKey, error) {
	var set jwksJSON
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JWK set: %w", err)
	}
	var keys []jwksKey
	for i, raw := range set.Keys {
		var j jwksJWK
		if err := json.Unmarshal(raw, &j); err != nil {
			if strict {
				return nil, fmt.Errorf("key %d: %w", i, err)
			}
			continue
		}
		if j.Use != "" && j.Use != "sig" {
			continue
		}
		if j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify") {
			continue
		}
		k, err := jwksParseKey(j)
		if err != nil {
			if strict {
				return nil, fmt.Errorf("key %d (kid %q): %w", i, j.Kid, err)
			}
			continue
		}
		if k.key != nil {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("the set has no usable EC P-256 or RSA signing key")
	}
	return keys, nil
}

// jwksParseKey returns the key, or a zero jwksKey for a type it skips.
func jwksParseKey(j jwksJWK) (jwksKey, error) {
	if j.D != "" {
		return jwksKey{}, errors.New("the set holds a private key; publish only public keys")
	}
	switch j.Kty {
	case "EC":
		if j.Alg != "" && j.Alg != jwtAlgES256 {
			return jwksKey{}, nil // ES384, ES512: not accepted, skipped
		}
		if j.Crv != "P-256" {
			if j.Alg == jwtAlgES256 {
				return jwksKey{}, fmt.Errorf("ES256 needs curve P-256, not %q", j.Crv)
			}
			return jwksKey{}, nil
		}
		x, errX := base64.RawURLEncoding.DecodeString(j.X)
		y, errY := base64.RawURLEncoding.DecodeString(j.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			return jwksKey{}, errors.New("x and y must be 32-byte base64url values")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return jwksKey{}, errors.New("the point is not on curve P-256")
		}
		return jwksKey{kid: j.Kid, alg: jwtAlgES256, key: pub}, nil
	case "RSA":
		if j.Alg != "" && j.Alg != jwtAlgRS256 {
			return jwksKey{}, nil // RS384, PS256, ...: not accepted, skipped
		}
		n, errN := base64.RawURLEncoding.DecodeString(j.N)
		e, errE := base64.RawURLEncoding.DecodeString(j.E)
		if errN != nil || errE != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return jwksKey{}, errors.New("n and e must be base64url values, e at most 4 bytes")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < jwksMinRSABits {
			return jwksKey{}, fmt.Errorf("the RSA key is %d bits, at least %d are needed", pub.N.BitLen(), jwksMinRSABits)
		}
		if pub.E < 3 || pub.E%2 == 0 {
			return jwksKey{}, errors.New("the RSA exponent must be odd and at least 3")
		}
		return jwksKey{kid: j.Kid, alg: jwtAlgRS256, key: pub}, nil
	}
	return jwksKey{}, nil
}

// jwksRemote is a JWK set fetched from a URL and cached.
type jwksRemote struct {
	url    string
	client *http.Client
	ttl    time.Duration
	clock  clockwork.Clock
	log    *slog.Logger
	http   *telemetry.HTTPClient // a client span and http.client.request.duration per fetch

	mu        sync.Mutex
	keys      []jwksKey
	fetchedAt time.Time     // last successful fetch
	triedAt   time.Time     // last fetch that finished, successful or not
	tried     bool          // whether any fetch finished
	fetching  chan struct{} // non-nil while a fetch is in flight; closed when it ends
}

// find returns the key for kid and alg, fetching the set when it is stale
// or when kid is unknown, within the refetch rate limit.
func (r *jwksRemote) find(ctx context.Context, kid, alg string) (any, error) {
	for {
		r.mu.Lock()
		if ch := r.fetching; ch != nil {
			r.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, &jwtKeyError{"signing keys unavailable: " + ctx.Err().Error()}
			}
		}
		now := r.clock.Now()
		mayFetch := !r.tried || now.Sub(r.triedAt) >= jwksMinRefetchInterval
		stale := r.keys == nil || now.Sub(r.fetchedAt) >= r.ttl
		var key any
		var err error
		if r.keys != nil {
			key, err = jwksFind(r.keys, kid, alg)
		}
		if (stale || err != nil) && mayFetch {
			ch := make(chan struct{})
			r.fetching = ch
			r.mu.Unlock()
			keys, ferr := r.fetch(ctx)
			r.mu.Lock()
			r.fetching = nil
			close(ch)
			if ferr != nil && ctx.Err() != nil {
				// The caller gave up; that says nothing about the server.
				r.mu.Unlock()
				return nil, &jwtKeyError{"signing keys unavailable: " + ctx.Err().Error()}
			}
			r.tried, r.triedAt = true, r.clock.Now()
			if ferr == nil {
				r.keys, r.fetchedAt = keys, r.triedAt
			}
			cached := len(r.keys)
			r.mu.Unlock()
			if ferr != nil {
				r.log.Warn("realtime: fetching the JWK set failed", "url", r.url, "err", ferr, "cached_keys", cached)
			}
			if ferr != nil && cached == 0 {
				return nil, &jwtKeyError{"signing keys unavailable"}
			}
			// Look again with what is now cached, without fetching: the
			// rate limit now holds.
			continue
		}
		haveKeys := r.keys != nil
		r.mu.Unlock()
		if !haveKeys {
			// The last fetch failed and the rate limit forbids another.
			return nil, &jwtKeyError{"signing keys unavailable"}
		}
		return key, err
	}
}

// fetch GETs and parses the set.
func (r *jwksRemote) fetch(ctx context.Context) ([]jwksKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	rctx, rq := r.http.Start(ctx, req)
	resp, err := r.client.Do(req.WithContext(rctx))
	rq.End(ctx, resp, err)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("jwks: HTTP status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > jwksMaxBody {
		return nil, errors.New("jwks: the set is larger than 1 MiB")
	}
	return jwksParse(body, false)
}
