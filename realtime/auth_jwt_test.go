package realtime_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/realtimetest"
)

var (
	jwtTestSecret = []byte("wedsync-test-secret-0123456789-abcdef")
	// jwtTestNow is the fake clock's start: tokens are minted around it.
	jwtTestNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
)

// jwtTestECKey is a fixed P-256 key, so that fuzz workers share it.
func jwtTestECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	d := sha256.Sum256([]byte("wedsync jwt test ec key"))
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	require.NoError(t, err)
	return k
}

var (
	jwtRSAOnce sync.Once
	jwtRSAKey  *rsa.PrivateKey
)

func jwtTestRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	jwtRSAOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		jwtRSAKey = k
	})
	return jwtRSAKey
}

func jwtB64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jwtECJWK(kid string, pub *ecdsa.PublicKey) map[string]any {
	b, err := pub.Bytes()
	if err != nil {
		panic(err)
	}
	return map[string]any{"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid, "x": jwtB64(b[1:33]), "y": jwtB64(b[33:65])}
}

func jwtRSAJWK(kid string, pub *rsa.PublicKey) map[string]any {
	return map[string]any{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": jwtB64(pub.N.Bytes()), "e": jwtB64(big.NewInt(int64(pub.E)).Bytes())}
}

func jwtSet(keys ...map[string]any) []byte {
	if keys == nil {
		keys = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	return b
}

// jwtClaims are a valid Supabase-style claim set at jwtTestNow.
func jwtClaims(supplierID any) jwt.MapClaims {
	return jwt.MapClaims{
		"sub":          "user-1",
		"role":         "authenticated",
		"aud":          "authenticated",
		"iss":          "https://demo.supabase.co/auth/v1",
		"iat":          jwtTestNow.Unix(),
		"exp":          jwtTestNow.Add(time.Hour).Unix(),
		"app_metadata": map[string]any{"supplier_id": supplierID},
	}
}

func jwtSign(t testing.TB, method jwt.SigningMethod, kid string, claims jwt.MapClaims, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

func jwtNew(t testing.TB, opts ...realtime.JWTOption) (*realtime.JWTAuthenticator, *clockwork.FakeClock) {
	t.Helper()
	fc := clockwork.NewFakeClockAt(jwtTestNow)
	a, err := realtime.NewJWTAuthenticator(append([]realtime.JWTOption{realtime.WithClock(fc)}, opts...)...)
	require.NoError(t, err)
	return a, fc
}

// requireRefused checks that err is an ErrUnauthenticated refusal that says
// why and does not quote the token.
func requireRefused(t testing.TB, err error, token, why string) {
	t.Helper()
	require.ErrorIs(t, err, realtime.ErrUnauthenticated)
	require.ErrorContains(t, err, why)
	if token != "" {
		require.NotContains(t, err.Error(), token)
		for _, part := range strings.Split(token, ".") {
			if len(part) > 8 {
				require.NotContains(t, err.Error(), part)
			}
		}
	}
}

func TestJWTHS256Valid(t *testing.T) {
	a, _ := jwtNew(t, realtime.WithHS256Secret(jwtTestSecret))
	tok := jwtSign(t, jwt.SigningMethodHS256, "", jwtClaims("42"), jwtTestSecret)
	p, err := a.Authenticate(context.Background(), tok)
	require.NoError(t, err)
	require.Equal(t, "user-1", p.Subject)
	require.Equal(t, "authenticated", p.Role)
	require.Equal(t, "42", p.SupplierID)
	require.True(t, p.ExpiresAt.Equal(jwtTestNow.Add(time.Hour)), "ExpiresAt %v", p.ExpiresAt)
	require.Equal(t, "https://demo.supabase.co/auth/v1", p.Claims["iss"])
	require.Equal(t, map[string]any{"supplier_id": "42"}, p.Claims["app_metadata"])
}

func TestJWTRealtimetestToken(t *testing.T) {
	a, _ := jwtNew(t, realtime.WithHS256Secret(jwtTestSecret), realtime.WithAudience("authenticated"))
	tok, err := realtimetest.HS256Token(jwtTestSecret, "supplier-9", jwtTestNow.Add(time.Hour))
	require.NoError(t, err)
	p, err := a.Authenticate(context.Background(), tok)
	require.NoError(t, err)
	require.Equal(t, "supplier-9", p.SupplierID)
	require.Equal(t, "authenticated", p.Role)
	require.NotEmpty(t, p.Subject)
}

func TestJWTEmptyToken(t *testing.T) {
	a, _ := jwtNew(t, realtime.WithHS256Secret(jwtTestSecret))
	_, err := a.Authenticate(context.Background(), "")
	requireRefused(t, err, "", "no token")
}

func TestJWTExpired(t *testing.T) {
	a, fc := jwtNew(t, realtime.WithHS256Secret(jwtTestSecret))
	tok := jwtSign(t, jwt.SigningMethodHS256, "", jwtClaims("42"), jwtTestSecret)

	fc.Advance(time.Hour + 20*time.Second) // past exp, within the 30s leeway
	_, err := a.Authenticate(context.Background(), tok)
	require.NoError(t, err)

	fc.Advance(11 * time.Second) // past exp+leeway
	_, err = a.Authenticate(context.Background(), tok)
	requireRefused(t, err, tok, "expired")
	require.ErrorIs(t, err, jwt.ErrTokenExpired)
}

func TestJWTLeewayOption(t *testing.T) {
	a, fc := jwtNew(t, realtime.WithHS256Secret(jwtTestSecret), realtime.WithLeeway(0))
	tok := jwtSign(t, jwt.SigningMethodHS256, "", jwtClaims("42"), jwtTestSecret)
	fc.Advance(time.Hour + time.Second)
	_, err := a.Authenticate(context.Background(), tok)
	requireRefused(t, err, tok, "expired")
}

func TestJWTNotYetValidAndIssuedInFuture(t *testing.T) {
	a, _ := jwtNew(t, realtime.WithHS256Secret(jwtTestSecret))
	c := jwtClaims("42")
	c["nbf"] = jwtTestNow.Add(time.Minute).Unix()
	tok := jwtSign(t, jwt.SigningMethodHS256, "", c, jwtTestSecret)
	_, err := a.Authenticate(context.Background(), tok)
	requireRefused(t, err, tok, "not valid yet")

	c = jwtClaims("42")
	c["iat"] = jwtTestNow.Add(time.Minute).Unix()
	tok = jwtSign(t, jwt.SigningMethodHS256, "", c, jwtTestSecret)
	_, err = a.Authenticate(context.Background(), tok)
	requireRefused(t, err, tok, "issued in the future")
}

func TestJWTWrongSecret(t *testing.T) {
	a, _ := jwtNew(t, realtime.WithHS256Secret(jwtTestSecret))
	tok := jwtSign(t, jwt.SigningMethodHS256, "", jwtClaims("42"), []byte("another-secret-that-is-32-bytes-long!!"))
	_, err := a.Authenticate(context.Background(), tok)
	requireRefused(t, err, tok, "bad signature")
}

func TestJWTAlgNoneRefused(t *testing.T) {
	a, _ := jwtNew(t, realtime.WithHS256Secret(jwtTestSecret), realtime.WithJWKS(jwtSet(jwtECJWK("k1", &jwtTestECKey(t).PublicKey))))
	tok := jwtSign(t, jwt.SigningMethodNone, "", jwtClaims("42"), jwt.UnsafeAllowNoneSignatureType)
	_, err := a.Authenticate(context.Background(), tok)
	requireRefused(t, err, tok, `algorithm "none" not accepted`)

	// Hand-made variants: "None", and "none" with the HS256 signature left on.
	hs := jwtSign(t, jwt.SigningMethodHS256, "", jwtClaims("42"), jwtTestSecret)
	parts := strings.Split(hs, ".")
	for _, alg := range []string{"none", "None", "NONE", ""} {
		h := jwtB64([]byte(`{"alg":"` + alg + `","typ":"JWT"}`))
		for _, sig := range []string{"", parts[2]} {
			forged := h + "." + parts[1] + "." + sig
			_, err := a.Authenticate(context.Background(), forged)
			requireRefused(t, err, forged, "")
		}
	}
}

func TestJWTOtherAlgorithmsRefused(t *testing.T) {
	a, _ := jwtNew(t, realtime.WithHS256Secret(jwtTestSecret))
	tok := jwtSign(t, jwt.SigningMethodHS512, "", jwtClaims("42"), jwtTestSecret)
	_, err := a.Authenticate(context.Background(), tok)
	requireRefused(t, err, tok, `algorithm "HS512" not accepted`)

	// ES256 without any JWKS configured.
	tok = jwtSign(t, jwt.SigningMethodES256, "k1", jwtClaims("42"), jwtTestECKey(t))
	_, err = a.Authenticate(context.Background(), tok)
	requireRefused(t, err, tok, `algorithm "ES256" not accepted`)

	// An algorithm golang-jwt does not know.
	h := jwtB64([]byte(`{"alg":"XS999","typ":"JWT"}`))
	forged := h + "." + strings.Split(tok, ".")[1] + ".c2ln"
	_, err = a.Authenticate(context.Background(), forged)
	requireRefused(t, err, forged, "unsupported algorithm")
}

// TestJWTAlgConfusionRefused is the classic attack: the attacker takes the
// server's RSA public key, uses its bytes as an HMAC secret, and sends an
// HS256 token with the RSA key's kid. It must never verify.
func TestJWTAlgConfusionRefused(t *testing.T) {
	rk := jwtTestRSAKey(t)
	set := jwtSet(jwtRSAJWK("rsa1", &rk.PublicKey))
	der, err := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	require.NoError(t, err)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	nBytes := rk.N.Bytes()

	for name, opts := range map[string][]realtime.JWTOption{
		"jwks only":         {realtime.WithJWKS(set)},
		"jwks and secret":   {realtime.WithJWKS(set), realtime.WithHS256Secret(jwtTestSecret)},
		"jwks url":          nil, // filled below
		"jwks url+secret":   nil,
		"jwks only, no kid": {realtime.WithJWKS(set)},
	} {
		t.Run(name, func(t *testing.T) {
			if strings.HasPrefix(name, "jwks url") {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(set) }))
				t.Cleanup(srv.Close)
				opts = []realtime.JWTOption{realtime.WithJWKSURL(srv.URL, srv.Client())}
				if name == "jwks url+secret" {
					opts = append(opts, realtime.WithHS256Secret(jwtTestSecret))
				}
			}
			a, _ := jwtNew(t, opts...)
			// The RS256 token itself verifies.
			good := jwtSign(t, jwt.SigningMethodRS256, "rsa1", jwtClaims("42"), rk)
			_, err := a.Authenticate(context.Background(), good)
			require.NoError(t, err)

			kid := "rsa1"
			if strings.HasSuffix(name, "no kid") {
				kid = ""
			}
			for _, secret := range [][]byte{pemBytes, der, nBytes} {
				forged := jwtSign(t, jwt.SigningMethodHS256, kid, jwtClaims("42"), secret)
				_, err := a.Authenticate(context.Background(), forged)
				if strings.Contains(name, "secret") {
					requireRefused(t, err, forged, "bad signature")
				} else {
					requireRefused(t, err, forged, `algorithm "HS256" not accepted`)
				}
			}
		})
	}
}

func TestJWTES256StaticJWKS(t *testing.T) {
	ek := jwtTestECKey(t)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	rk := jwtTestRSAKey(t)
	set := jwtSet(jwtECJWK("ec-old", &other.PublicKey), jwtECJWK("ec1", &ek.PublicKey), jwtRSAJWK("rsa1", &rk.PublicKey))
	a, _ := jwtNew(t, realtime.WithJWKS(set))

	tok := jwtSign(t, jwt.SigningMethodES256, "ec1", jwtClaims("7"), ek)
	p, err := a.Authenticate(context.Background(), tok)
	require.NoError(t, err)
	require.Equal(t, "7", p.SupplierID)

	// Signed by ec1 but naming ec-old: the kid picks the key.
	wrong := jwtSign(t, jwt.SigningMethodES256, "ec-old", jwtClaims("7"), ek)
	_, err = a.Authenticate(context.Background(), wrong)
	requireRefused(t, err, wrong, "bad signature")

	unknown := jwtSign(t, jwt.SigningMethodES256, "nope", jwtClaims("7"), ek)
	_, err = a.Authenticate(context.Background(), unknown)
	requireRefused(t, err, unknown, "unknown kid")

	// An ES256 token naming the RSA key.
	mismatch := jwtSign(t, jwt.SigningMethodES256, "rsa1", jwtClaims("7"), ek)
	_, err = a.Authenticate(context.Background(), mismatch)
	requireRefused(t, err, mismatch, "not for ES256")

	// Two EC keys: a token without kid is ambiguous.
	nokid := jwtSign(t, jwt.SigningMethodES256, "", jwtClaims("7"), ek)
	_, err = a.Authenticate(context.Background(), nokid)
	requireRefused(t, err, nokid, "no kid")

	// A tampered payload.
	parts := strings.Split(tok, ".")
	c := jwtClaims("8")
	payload, err := json.Marshal(c)
	require.NoError(t, err)
	tampered := parts[0] + "." + jwtB64(payload) + "." + parts[2]
	_, err = a.Authenticate(context.Background(), tampered)
	requireRefused(t, err, tampered, "bad signature")

	// With a single EC key, a token without kid is fine.
	single, _ := jwtNew(t, realtime.WithJWKS(jwtSet(jwtECJWK("ec1", &ek.PublicKey))))
	_, err = single.Authenticate(context.Background(), nokid)
	require.NoError(t, err)
}

func TestJWTRS256StaticJWKS(t *testing.T) {
	rk := jwtTestRSAKey(t)
	ek := jwtTestECKey(t)
	a, _ := jwtNew(t, realtime.WithJWKS(jwtSet(jwtECJWK("ec1", &ek.PublicKey), jwtRSAJWK("rsa1", &rk.PublicKey))))
	tok := jwtSign(t, jwt.SigningMethodRS256, "rsa1", jwtClaims("99"), rk)
	p, err := a.Authenticate(context.Background(), tok)
	require.NoError(t, err)
	require.Equal(t, "99", p.SupplierID)
	require.Equal(t, "user-1", p.Subject)

	mismatch := jwtSign(t, jwt.SigningMethodRS256, "ec1", jwtClaims("99"), rk)
	_, err = a.Authenticate(context.Background(), mismatch)
	requireRefused(t, err, mismatch, "not for RS256")

	// RS384 and PS256 are not accepted even with a fitting key.
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodRS384, jwt.SigningMethodPS256} {
		other := jwtSign(t, m, "rsa1", jwtClaims("99"), rk)
		_, err = a.Authenticate(context.Background(), other)
		requireRefused(t, err, other, "not accepted")
	}
}

func TestJWTStaticJWKSSkipsForeignKeys(t *testing.T) {
	ek := jwtTestECKey(t)
	set := jwtSet(
		map[string]any{"kty": "oct", "kid": "sym", "k": jwtB64(jwtTestSecret)},
		map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": jwtB64(make([]byte, 32))},
		map[string]any{"kty": "EC", "crv": "P-384", "alg": "ES384", "kid": "p384", "x": "AA", "y": "AA"},
		func() map[string]any { k := jwtECJWK("enc", &ek.PublicKey); k["use"] = "enc"; return k }(),
		jwtECJWK("ec1", &ek.PublicKey),
	)
	a, _ := jwtNew(t, realtime.WithJWKS(set))
	tok := jwtSign(t, jwt.SigningMethodES256, "ec1", jwtClaims("1"), ek)
	_, err := a.Authenticate(context.Background(), tok)
	require.NoError(t, err)

	enc := jwtSign(t, jwt.SigningMethodES256, "enc", jwtClaims("1"), ek)
	_, err = a.Authenticate(context.Background(), enc)
	requireRefused(t, err, enc, "unknown kid")
}

// jwksServer serves a JWK set that the test can change, and counts requests.
type jwksServer struct {
	*httptest.Server
	hits   atomic.Int64
	mu     sync.Mutex
	body   []byte
	status int
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	s := &jwksServer{body: body, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, status := s.body, s.status
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

func TestJWTJWKSURLCacheAndRateLimit(t *testing.T) {
	ek := jwtTestECKey(t)
	k2, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	srv := newJWKSServer(t, jwtSet(jwtECJWK("k1", &ek.PublicKey)))
	// A nil client: the default client with a timeout.
	a, fc := jwtNew(t, realtime.WithJWKSURL(srv.URL+"/auth/v1/.well-known/jwks.json", nil))
	ctx := context.Background()
	require.Zero(t, srv.hits.Load(), "the set is fetched lazily")

	tok1 := jwtSign(t, jwt.SigningMethodES256, "k1", jwtClaims("5"), ek)
	for range 3 {
		p, err := a.Authenticate(ctx, tok1)
		require.NoError(t, err)
		require.Equal(t, "5", p.SupplierID)
	}
	require.EqualValues(t, 1, srv.hits.Load(), "cached")

	// Garbage kids: the first refetch waits 30s after the last fetch, and
	// then there is at most one every 30s.
	garbage := func(i int) string {
		return jwtSign(t, jwt.SigningMethodES256, fmt.Sprintf("garbage-%d", i), jwtClaims("5"), ek)
	}
	for i := range 20 {
		tok := garbage(i)
		_, err := a.Authenticate(ctx, tok)
		requireRefused(t, err, tok, "unknown kid")
	}
	require.EqualValues(t, 1, srv.hits.Load(), "unknown kids within 30s of a fetch do not refetch")
	fc.Advance(30 * time.Second)
	for i := range 20 {
		_, err := a.Authenticate(ctx, garbage(i))
		require.ErrorIs(t, err, realtime.ErrUnauthenticated)
	}
	require.EqualValues(t, 2, srv.hits.Load(), "one refetch per 30s")
	fc.Advance(29 * time.Second)
	_, err = a.Authenticate(ctx, garbage(99))
	require.ErrorIs(t, err, realtime.ErrUnauthenticated)
	require.EqualValues(t, 2, srv.hits.Load())

	// Key rotation: a new kid is picked up by the refetch it triggers.
	srv.set(http.StatusOK, jwtSet(jwtECJWK("k1", &ek.PublicKey), jwtECJWK("k2", &k2.PublicKey)))
	fc.Advance(time.Second)
	tok2 := jwtSign(t, jwt.SigningMethodES256, "k2", jwtClaims("6"), k2)
	p, err := a.Authenticate(ctx, tok2)
	require.NoError(t, err)
	require.Equal(t, "6", p.SupplierID)
	require.EqualValues(t, 3, srv.hits.Load())

	// The cache TTL (10 minutes by default) ends with a refetch.
	fc.Advance(10 * time.Minute)
	_, err = a.Authenticate(ctx, tok1)
	require.NoError(t, err)
	require.EqualValues(t, 4, srv.hits.Load())
	_, err = a.Authenticate(ctx, tok1)
	require.NoError(t, err)
	require.EqualValues(t, 4, srv.hits.Load())

	// A failed refresh keeps the old keys, and is not retried for 30s.
	srv.set(http.StatusInternalServerError, []byte("oops"))
	fc.Advance(10 * time.Minute)
	for range 5 {
		_, err = a.Authenticate(ctx, tok2)
		require.NoError(t, err)
	}
	require.EqualValues(t, 5, srv.hits.Load())
	srv.set(http.StatusOK, jwtSet(jwtECJWK("k1", &ek.PublicKey)))
	fc.Advance(30 * time.Second)
	_, err = a.Authenticate(ctx, tok1)
	require.NoError(t, err)
	require.EqualValues(t, 6, srv.hits.Load())
	// k2 was rotated out.
	_, err = a.Authenticate(ctx, tok2)
	requireRefused(t, err, tok2, "unknown kid")
	require.EqualValues(t, 6, srv.hits.Load())
}

func TestJWTJWKSURLCacheTTLOption(t *testing.T) {
	ek := jwtTestECKey(t)
	srv := newJWKSServer(t, jwtSet(jwtECJWK("k1", &ek.PublicKey)))
	a, fc := jwtNew(t, realtime.WithJWKSURL(srv.URL, srv.Client()), realtime.WithJWKSCacheTTL(time.Hour))
	tok := jwtSign(t, jwt.SigningMethodES256, "k1", jwtClaims("5"), ek)
	_, err := a.Authenticate(context.Background(), tok)
	require.NoError(t, err)
	fc.Advance(59 * time.Minute)
	_, err = a.Authenticate(context.Background(), tok)
	require.NoError(t, err)
	require.EqualValues(t, 1, srv.hits.Load())
	fc.Advance(time.Minute)
	_, err = a.Authenticate(context.Background(), tok)
	require.NoError(t, err)
	require.EqualValues(t, 2, srv.hits.Load())
}

func TestJWTJWKSURLUnavailable(t *testing.T) {
	ek := jwtTestECKey(t)
	srv := newJWKSServer(t, []byte("not json"))
	a, fc := jwtNew(t, realtime.WithJWKSURL(srv.URL, srv.Client()))
	tok := jwtSign(t, jwt.SigningMethodES256, "k1", jwtClaims("5"), ek)
	for range 3 {
		_, err := a.Authenticate(context.Background(), tok)
		requireRefused(t, err, tok, "signing keys unavailable")
	}
	require.EqualValues(t, 1, srv.hits.Load(), "a failed fetch is not retried for 30s")

	srv.set(http.StatusNotFound, nil)
	fc.Advance(30 * time.Second)
	_, err := a.Authenticate(context.Background(), tok)
	requireRefused(t, err, tok, "signing keys unavailable")
	require.EqualValues(t, 2, srv.hits.Load())

	srv.set(http.StatusOK, jwtSet(jwtECJWK("k1", &ek.PublicKey)))
	fc.Advance(30 * time.Second)
	_, err = a.Authenticate(context.Background(), tok)
	require.NoError(t, err)
	require.EqualValues(t, 3, srv.hits.Load())
}

func TestJWTJWKSURLConcurrentSingleFetch(t *testing.T) {
	ek := jwtTestECKey(t)
	srv := newJWKSServer(t, jwtSet(jwtECJWK("k1", &ek.PublicKey)))
	a, _ := jwtNew(t, realtime.WithJWKSURL(srv.URL, srv.Client()))
	good := jwtSign(t, jwt.SigningMethodES256, "k1", jwtClaims("5"), ek)
	bad := jwtSign(t, jwt.SigningMethodES256, "zz", jwtClaims("5"), ek)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			tok := good
			if i%2 == 1 {
				tok = bad
			}
			_, err := a.Authenticate(context.Background(), tok)
			if tok == good {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, realtime.ErrUnauthenticated)
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, 1, srv.hits.Load())
}

func TestJWTJWKSURLCanceledContext(t *testing.T) {
	ek := jwtTestECKey(t)
	srv := newJWKSServer(t, jwtSet(jwtECJWK("k1", &ek.PublicKey)))
	a, _ := jwtNew(t, realtime.WithJWKSURL(srv.URL, srv.Client()))
	tok := jwtSign(t, jwt.SigningMethodES256, "k1", jwtClaims("5"), ek)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := a.Authenticate(ctx, tok)
	requireRefused(t, err, tok, "signing keys unavailable")
	// A canceled caller does not count against the rate limit.
	_, err = a.Authenticate(context.Background(), tok)
	require.NoError(t, err)
}

func TestJWTNumericSupplierID(t *testing.T) {
	a, _ := jwtNew(t, realtime.WithHS256Secret(jwtTestSecret))
	for _, c := range []struct {
		value any
		want  string
	}{
		{42, "42"},
		{float64(42), "42"},
		{uint64(12345678901234567890), "12345678901234567890"},
		{1e21, "1000000000000000000000"},
		{42.5, "42.5"},
		{-3, "-3"},
		{"0042", "0042"},
		{true, ""},
		{map[string]any{"id": 1}, ""},
		{nil, ""},
	} {
		tok := jwtSign(t, jwt.SigningMethodHS256, "", jwtClaims(c.value), jwtTestSecret)
		p, err := a.Authenticate(context.Background(), tok)
		require.NoError(t, err, "%v", c.value)
		require.Equal(t, c.want, p.SupplierID, "%v", c.value)
	}
	// The exponent form, as another issuer might write it.
	payload := `{"sub":"u","exp":` + fmt.Sprint(jwtTestNow.Add(time.Hour).Unix()) + `,"app_metadata":{"supplier_id":4.2e1}}`
	tok := jwtSignRaw(t, `{"alg":"HS256","typ":"JWT"}`, payload)
	p, err := a.Authenticate(context.Background(), tok)
	require.NoError(t, err)
	require.Equal(t, "42", p.SupplierID)
}

// jwtSignRaw signs header and payload JSON, byte for byte, with HS256.
func jwtSignRaw(t testing.TB, header, payload string) string {
	t.Helper()
	s := jwtB64([]byte(header)) + "." + jwtB64([]byte(payload))
	m := hmac.New(sha256.New, jwtTestSecret)
	m.Write([]byte(s))
	return s + "." + jwtB64(m.Sum(nil))
}

func TestJWTMissingSupplierIsNotAnError(t *testing.T) {
	a, _ := jwtNew(t, realtime.WithHS256Secret(jwtTestSecret))
	c := jwtClaims("1")
	delete(c, "app_metadata")
	c["role"] = "anon"
	tok := jwtSign(t, jwt.SigningMethodHS256, "", c, jwtTestSecret)
	p, err := a.Authenticate(context.Background(), tok)
	require.NoError(t, err)
	require.Empty(t, p.SupplierID)
	require.Equal(t, "anon", p.Role)
	require.ErrorIs(t, realtime.SupplierAuthorizer{}.AuthorizeJoin(context.Background(), p, "supplier:1"), realtime.ErrForbidden)
}

func TestJWTCustomClaimPath(t *testing.T) {
	a, _ := jwtNew(t, realtime.WithHS256Secret(jwtTestSecret), realtime.WithSupplierClaim("wedsync.tenant.supplier"))
	c := jwtClaims("ignored")
	c["wedsync"] = map[string]any{"tenant": map[string]any{"supplier": "s-77"}}
	tok := jwtSign(t, jwt.SigningMethodHS256, "", c, jwtTestSecret)
	p, err := a.Authenticate(context.Background(), tok)
	require.NoError(t, err)
	require.Equal(t, "s-77", p.SupplierID)

	top, _ := jwtNew(t, realtime.WithHS256Secret(jwtTestSecret), realtime.WithSupplierClaim("supplier_id"))
	c = jwtClaims("ignored")
	c["supplier_id"] = 8
	tok = jwtSign(t, jwt.SigningMethodHS256, "", c, jwtTestSecret)
	p, err = top.Authenticate(context.Background(), tok)
	require.NoError(t, err)
	require.Equal(t, "8", p.SupplierID)

	// The path runs into a string: no supplier.
	c = jwtClaims("ignored")
	c["wedsync"] = "flat"
	tok = jwtSign(t, jwt.SigningMethodHS256, "", c, jwtTestSecret)
	p, err = a.Authenticate(context.Background(), tok)
	require.NoError(t, err)
	require.Empty(t, p.SupplierID)
}

func TestJWTMissingExpiry(t *testing.T) {
	c := jwtClaims("1")
	delete(c, "exp")
	tok := jwtSign(t, jwt.SigningMethodHS256, "", c, jwtTestSecret)

	a, _ := jwtNew(t, realtime.WithHS256Secret(jwtTestSecret))
	_, err := a.Authenticate(context.Background(), tok)
	requireRefused(t, err, tok, "missing required claim")

	lax, _ := jwtNew(t, realtime.WithHS256Secret(jwtTestSecret), realtime.WithRequireExpiry(false))
	p, err := lax.Authenticate(context.Background(), tok)
	require.NoError(t, err)
	require.True(t, p.ExpiresAt.IsZero())
}

func TestJWTMalformedClaims(t *testing.T) {
	a, _ := jwtNew(t, realtime.WithHS256Secret(jwtTestSecret))
	exp := fmt.Sprint(jwtTestNow.Add(time.Hour).Unix())
	for payload, why := range map[string]string{
		`{"exp":"tomorrow"}`:               "malformed claims",
		`{"exp":` + exp + `,"sub":42}`:     "sub is not a string",
		`{"exp":` + exp + `,"role":["x"]}`: "role is not a string",
		`[1,2,3]`:                          "malformed token",
		`not json`:                         "malformed token",
	} {
		tok := jwtSignRaw(t, `{"alg":"HS256","typ":"JWT"}`, payload)
		_, err := a.Authenticate(context.Background(), tok)
		requireRefused(t, err, tok, why)
	}
	for _, tok := range []string{"x", "a.b", "a.b.c.d", "....", "eyJ.eyJ.sig", strings.Repeat("a", 20000)} {
		_, err := a.Authenticate(context.Background(), tok)
		requireRefused(t, err, "", "malformed token")
	}
	// A non-canonical base64 signature (trailing bits set) is refused.
	good := jwtSign(t, jwt.SigningMethodHS256, "", jwtClaims("1"), jwtTestSecret)
	last := good[len(good)-1]
	alt := strings.IndexByte("AEIMQUYcgkosw048", last) // 43-char signature: 2 unused bits
	require.GreaterOrEqual(t, alt, 0)
	mutated := good[:len(good)-1] + string(last+1)
	_, err := a.Authenticate(context.Background(), mutated)
	requireRefused(t, err, mutated, "malformed token")
}

func TestJWTAudienceAndIssuer(t *testing.T) {
	a, _ := jwtNew(t, realtime.WithHS256Secret(jwtTestSecret),
		realtime.WithAudience("authenticated"), realtime.WithIssuer("https://demo.supabase.co/auth/v1"))
	ok := jwtSign(t, jwt.SigningMethodHS256, "", jwtClaims("1"), jwtTestSecret)
	_, err := a.Authenticate(context.Background(), ok)
	require.NoError(t, err)

	c := jwtClaims("1")
	c["aud"] = []string{"other", "authenticated"}
	tok := jwtSign(t, jwt.SigningMethodHS256, "", c, jwtTestSecret)
	_, err = a.Authenticate(context.Background(), tok)
	require.NoError(t, err, "aud may be a list")

	c["aud"] = "anon"
	tok = jwtSign(t, jwt.SigningMethodHS256, "", c, jwtTestSecret)
	_, err = a.Authenticate(context.Background(), tok)
	requireRefused(t, err, tok, "wrong audience")

	c = jwtClaims("1")
	delete(c, "aud")
	tok = jwtSign(t, jwt.SigningMethodHS256, "", c, jwtTestSecret)
	_, err = a.Authenticate(context.Background(), tok)
	requireRefused(t, err, tok, "missing required claim")

	c = jwtClaims("1")
	c["iss"] = "https://evil.supabase.co/auth/v1"
	tok = jwtSign(t, jwt.SigningMethodHS256, "", c, jwtTestSecret)
	_, err = a.Authenticate(context.Background(), tok)
	requireRefused(t, err, tok, "wrong issuer")

	// Several reasons at once are all named.
	c["aud"] = "anon"
	tok = jwtSign(t, jwt.SigningMethodHS256, "", c, jwtTestSecret)
	_, err = a.Authenticate(context.Background(), tok)
	requireRefused(t, err, tok, "wrong audience, wrong issuer")

	// Without the options, neither is checked.
	lax, _ := jwtNew(t, realtime.WithHS256Secret(jwtTestSecret))
	_, err = lax.Authenticate(context.Background(), tok)
	require.NoError(t, err)
}

func TestJWTConfigErrors(t *testing.T) {
	ek := jwtTestECKey(t)
	good := jwtSet(jwtECJWK("ec1", &ek.PublicKey))
	for _, c := range []struct {
		name string
		opts []realtime.JWTOption
		want string
	}{
		{"no key source", nil, "needs a key source"},
		{"short secret", []realtime.JWTOption{realtime.WithHS256Secret([]byte("short"))}, "WithHS256Secret"},
		{"empty secret", []realtime.JWTOption{realtime.WithHS256Secret(nil)}, "WithHS256Secret"},
		{"both jwks", []realtime.JWTOption{realtime.WithJWKS(good), realtime.WithJWKSURL("https://x.test/jwks", nil)}, "WithJWKSURL"},
		{"bad url", []realtime.JWTOption{realtime.WithJWKSURL("ftp://x.test/jwks", nil)}, "WithJWKSURL"},
		{"relative url", []realtime.JWTOption{realtime.WithJWKSURL("/jwks", nil)}, "WithJWKSURL"},
		{"bad jwks json", []realtime.JWTOption{realtime.WithJWKS([]byte("{"))}, "WithJWKS"},
		{"empty jwks", []realtime.JWTOption{realtime.WithJWKS(jwtSet())}, "WithJWKS"},
		{"only foreign keys", []realtime.JWTOption{realtime.WithJWKS(jwtSet(map[string]any{"kty": "oct", "k": "AA"}))}, "WithJWKS"},
		{"bad ec point", []realtime.JWTOption{realtime.WithJWKS(jwtSet(map[string]any{"kty": "EC", "crv": "P-256", "kid": "x", "x": jwtB64(make([]byte, 32)), "y": jwtB64(make([]byte, 32))}))}, "WithJWKS"},
		{"small rsa", []realtime.JWTOption{realtime.WithJWKS(jwtSet(map[string]any{"kty": "RSA", "kid": "r", "n": jwtB64(bytesOf(0xff, 128)), "e": "AQAB"}))}, "WithJWKS"},
		{"private key", []realtime.JWTOption{realtime.WithJWKS(jwtSet(func() map[string]any { k := jwtECJWK("p", &ek.PublicKey); k["d"] = "AA"; return k }()))}, "WithJWKS"},
		{"ttl", []realtime.JWTOption{realtime.WithJWKS(good), realtime.WithJWKSCacheTTL(0)}, "WithJWKSCacheTTL"},
		{"claim path", []realtime.JWTOption{realtime.WithJWKS(good), realtime.WithSupplierClaim("a..b")}, "WithSupplierClaim"},
		{"empty claim path", []realtime.JWTOption{realtime.WithJWKS(good), realtime.WithSupplierClaim("")}, "WithSupplierClaim"},
		{"audience", []realtime.JWTOption{realtime.WithJWKS(good), realtime.WithAudience("")}, "WithAudience"},
		{"issuer", []realtime.JWTOption{realtime.WithJWKS(good), realtime.WithIssuer("")}, "WithIssuer"},
		{"leeway", []realtime.JWTOption{realtime.WithJWKS(good), realtime.WithLeeway(-time.Second)}, "WithLeeway"},
		{"clock", []realtime.JWTOption{realtime.WithJWKS(good), realtime.WithClock(nil)}, "WithClock"},
		{"logger", []realtime.JWTOption{realtime.WithJWKS(good), realtime.WithLogger(nil)}, "WithLogger"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := realtime.NewJWTAuthenticator(c.opts...)
			require.Nil(t, a)
			require.ErrorContains(t, err, c.want)
			require.ErrorIs(t, err, realtime.ErrInvalid)
			var ve *realtime.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, "realtime", ve.Package)
		})
	}
}

func bytesOf(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func TestJWTSecretIsCopied(t *testing.T) {
	secret := append([]byte(nil), jwtTestSecret...)
	a, _ := jwtNew(t, realtime.WithHS256Secret(secret))
	secret[0] ^= 0xff
	tok := jwtSign(t, jwt.SigningMethodHS256, "", jwtClaims("1"), jwtTestSecret)
	_, err := a.Authenticate(context.Background(), tok)
	require.NoError(t, err)
}

func TestSupplierAuthorizer(t *testing.T) {
	ctx := context.Background()
	var az realtime.SupplierAuthorizer
	p := &realtime.Principal{SupplierID: "1"}
	require.NoError(t, az.AuthorizeJoin(ctx, p, "supplier:1"))
	require.NoError(t, az.AuthorizeJoin(ctx, p, realtime.SupplierTopic("1")))
	require.NoError(t, az.AuthorizeJoin(ctx, p, "supplier:1:bookings"))
	for _, topic := range []string{"supplier:2", "supplier:10", "supplier:10:bookings", "supplier:", "supplier", "supplier:1x", "Supplier:1", "admin", ""} {
		require.ErrorIs(t, az.AuthorizeJoin(ctx, p, topic), realtime.ErrForbidden, topic)
	}
	// The prefix trick the other way round.
	require.ErrorIs(t, az.AuthorizeJoin(ctx, &realtime.Principal{SupplierID: "10"}, "supplier:1"), realtime.ErrForbidden)
	// No supplier, or none at all.
	require.ErrorIs(t, az.AuthorizeJoin(ctx, &realtime.Principal{}, "supplier:"), realtime.ErrForbidden)
	require.ErrorIs(t, az.AuthorizeJoin(ctx, nil, "supplier:1"), realtime.ErrForbidden)
	// A colon in the id would let "1" and "1:x" read each other's topics.
	require.ErrorIs(t, az.AuthorizeJoin(ctx, &realtime.Principal{SupplierID: "1:x"}, "supplier:1:x"), realtime.ErrForbidden)

	// Broadcasts: refused by default, allowed on own topics when enabled.
	require.ErrorIs(t, az.AuthorizeBroadcast(ctx, p, "supplier:1", "typing"), realtime.ErrForbidden)
	open := realtime.SupplierAuthorizer{AllowClientBroadcast: true}
	require.NoError(t, open.AuthorizeBroadcast(ctx, p, "supplier:1:chat", "typing"))
	require.ErrorIs(t, open.AuthorizeBroadcast(ctx, p, "supplier:10", "typing"), realtime.ErrForbidden)
}

// FuzzJWTAuthenticate feeds the authenticator mutated tokens. It must never
// panic, every refusal must wrap ErrUnauthenticated without quoting the
// token, and a token it accepts must verify by an independent check.
func FuzzJWTAuthenticate(f *testing.F) {
	ek := jwtTestECKey(f)
	fc := clockwork.NewFakeClockAt(jwtTestNow)
	a, err := realtime.NewJWTAuthenticator(
		realtime.WithHS256Secret(jwtTestSecret),
		realtime.WithJWKS(jwtSet(jwtECJWK("ec1", &ek.PublicKey))),
		realtime.WithClock(fc),
	)
	require.NoError(f, err)

	valid := jwtSign(f, jwt.SigningMethodHS256, "", jwtClaims("42"), jwtTestSecret)
	f.Add(valid)
	f.Add(jwtSign(f, jwt.SigningMethodES256, "ec1", jwtClaims("7"), ek))
	f.Add(jwtSign(f, jwt.SigningMethodES256, "", jwtClaims(12.5), ek))
	f.Add(jwtSign(f, jwt.SigningMethodHS256, "", jwtClaims(map[string]any{"a": []any{1, "b"}}), jwtTestSecret))
	f.Add(jwtSign(f, jwt.SigningMethodHS256, "ec1", jwtClaims(42), jwtTestSecret))
	f.Add(jwtSign(f, jwt.SigningMethodHS512, "", jwtClaims("42"), jwtTestSecret))
	f.Add(jwtSign(f, jwt.SigningMethodNone, "", jwtClaims("42"), jwt.UnsafeAllowNoneSignatureType))
	f.Add(jwtSign(f, jwt.SigningMethodHS256, "", jwtClaims("42"), []byte("wrong-secret-wrong-secret-wrong-secret")))
	expired := jwtClaims("42")
	expired["exp"] = jwtTestNow.Add(-time.Hour).Unix()
	f.Add(jwtSign(f, jwt.SigningMethodHS256, "", expired, jwtTestSecret))
	f.Add(jwtSignRaw(f, `{"alg":"HS256"}`, `{"exp":1e400,"sub":"x"}`))
	f.Add(jwtSignRaw(f, `{"alg":"HS256","kid":7}`, `{"exp":99999999999,"app_metadata":{"supplier_id":-0.0}}`))
	f.Add(jwtSignRaw(f, `{"alg":"HS256"}`, `{"exp":99999999999,"nbf":"x","iat":-1}`))
	f.Add(strings.TrimSuffix(valid, valid[len(valid)-4:]))
	f.Add(valid + "=")
	f.Add("")
	f.Add("..")
	f.Add("eyJhbGciOiJIUzI1NiJ9..")
	f.Add("a.b.c")

	f.Fuzz(func(t *testing.T, tok string) {
		p, err := a.Authenticate(context.Background(), tok)
		if err != nil {
			require.Nil(t, p)
			require.ErrorIs(t, err, realtime.ErrUnauthenticated)
			if strings.Contains(tok, ".") { // no refusal message contains a dot
				require.NotContains(t, err.Error(), tok)
			}
			return
		}
		require.NotNil(t, p)
		jwtIndependentVerify(t, tok, &ek.PublicKey)
		require.False(t, p.ExpiresAt.IsZero(), "exp is required")
		require.True(t, fc.Now().Before(p.ExpiresAt.Add(30*time.Second)), "accepted an expired token")
	})
}

// jwtIndependentVerify checks a token's signature without golang-jwt.
func jwtIndependentVerify(t *testing.T, tok string, ecPub *ecdsa.PublicKey) {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	dec := base64.RawURLEncoding.Strict()
	hb, err := dec.DecodeString(parts[0])
	require.NoError(t, err)
	sig, err := dec.DecodeString(parts[2])
	require.NoError(t, err)
	var h struct {
		Alg string `json:"alg"`
	}
	require.NoError(t, json.Unmarshal(hb, &h))
	signed := []byte(parts[0] + "." + parts[1])
	switch h.Alg {
	case "HS256":
		m := hmac.New(sha256.New, jwtTestSecret)
		m.Write(signed)
		require.True(t, hmac.Equal(m.Sum(nil), sig), "accepted an HS256 token with a bad signature")
	case "ES256":
		require.Len(t, sig, 64)
		sum := sha256.Sum256(signed)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		require.True(t, ecdsa.Verify(ecPub, sum[:], r, s), "accepted an ES256 token with a bad signature")
	default:
		t.Fatalf("accepted algorithm %q", h.Alg)
	}
}

func ExampleNewJWTAuthenticator() {
	// The Supabase project's legacy JWT secret (Settings > API).
	secret := []byte("super-secret-jwt-token-with-at-least-32-characters")
	auth, err := realtime.NewJWTAuthenticator(
		realtime.WithHS256Secret(secret),
		realtime.WithAudience("authenticated"),
	)
	if err != nil {
		panic(err)
	}

	token, err := realtimetest.HS256Token(secret, "42", time.Now().Add(time.Hour))
	if err != nil {
		panic(err)
	}
	p, err := auth.Authenticate(context.Background(), token)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Subject, p.Role, p.SupplierID)
	fmt.Println(realtime.SupplierAuthorizer{}.AuthorizeJoin(context.Background(), p, realtime.SupplierTopic(p.SupplierID)))

	forged, err := realtimetest.HS256Token([]byte("not-the-project-secret-but-32-bytes-long"), "42", time.Now().Add(time.Hour))
	if err != nil {
		panic(err)
	}
	_, err = auth.Authenticate(context.Background(), forged)
	fmt.Println(err)
	// Output:
	// supplier-user-42 authenticated 42
	// <nil>
	// realtime: unauthenticated: bad signature
}
