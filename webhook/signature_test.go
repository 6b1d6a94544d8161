package webhook_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/webhook"
)

// The test vector from the reference Go library (see REFERENCE.md).
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = 1614265330
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

var vecTime = time.Unix(vecTS, 0)

func fixedNow(t time.Time) webhook.VerifierOption {
	return webhook.WithClock(fixedClock(t))
}

func b64(n int, fill byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, n))
}

// hex64 is the base64 of the bytes that h spells in hex.
func hex64(h string) string {
	b, err := hex.DecodeString(h)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func headers(id, ts, sig string) http.Header {
	h := http.Header{}
	if id != "" {
		h.Set(webhook.HeaderWebhookID, id)
	}
	if ts != "" {
		h.Set(webhook.HeaderWebhookTimestamp, ts)
	}
	if sig != "" {
		h.Set(webhook.HeaderWebhookSignature, sig)
	}
	return h
}

func newSigner(t *testing.T, secret string, opts ...webhook.SignerOption) *webhook.Signer {
	t.Helper()
	s, err := webhook.NewSigner(secret, opts...)
	require.NoError(t, err)
	return s
}

func newVerifier(t *testing.T, secret string, opts ...webhook.VerifierOption) *webhook.Verifier {
	t.Helper()
	v, err := webhook.NewVerifier(secret, opts...)
	require.NoError(t, err)
	return v
}

func TestSpecVector(t *testing.T) {
	s := newSigner(t, vecSecret)
	require.Equal(t, vecSig, s.Sign(vecID, vecTime, []byte(vecBody)))

	v := newVerifier(t, vecSecret, fixedNow(vecTime))
	require.NoError(t, v.Verify(headers(vecID, strconv.Itoa(vecTS), vecSig), []byte(vecBody)))

	// The bare base64 form (no prefix) is the same key, as in the reference library.
	bare := newSigner(t, strings.TrimPrefix(vecSecret, webhook.PrefixHMACSecret))
	require.Equal(t, vecSig, bare.Sign(vecID, vecTime, []byte(vecBody)))
}

func TestInteropWithReference(t *testing.T) {
	ref, err := standardwebhooks.NewWebhook(vecSecret)
	require.NoError(t, err)
	body := []byte(`{"type":"booking.confirmed","data":{"id":42}}`)
	now := time.Now()

	t.Run("ours signs, reference verifies", func(t *testing.T) {
		h, err := newSigner(t, vecSecret).Headers("msg_1", now, body)
		require.NoError(t, err)
		require.NoError(t, ref.Verify(body, h))
	})
	t.Run("reference signs, ours verifies", func(t *testing.T) {
		sig, err := ref.Sign("msg_2", now, body)
		require.NoError(t, err)
		h := headers("msg_2", strconv.FormatInt(now.Unix(), 10), sig)
		require.NoError(t, newVerifier(t, vecSecret).Verify(h, body))
	})
	t.Run("ours signs with two secrets, reference verifies with either", func(t *testing.T) {
		other, err := webhook.GenerateSecret()
		require.NoError(t, err)
		h, err := newSigner(t, other, webhook.WithAdditionalSecrets(vecSecret)).Headers("msg_3", now, body)
		require.NoError(t, err)
		require.Contains(t, h.Get(webhook.HeaderWebhookSignature), " ")
		require.NoError(t, ref.Verify(body, h))
		refOther, err := standardwebhooks.NewWebhook(other)
		require.NoError(t, err)
		require.NoError(t, refOther.Verify(body, h))
	})
}

func TestVerifyErrors(t *testing.T) {
	body := []byte(vecBody)
	ts := strconv.Itoa(vecTS)
	v := newVerifier(t, vecSecret, fixedNow(vecTime))
	long := strings.TrimSpace(strings.Repeat(vecSig+" ", webhook.MaxSignatures+1))

	cases := []struct {
		name   string
		h      http.Header
		body   []byte
		want   error
		notErr error  // must not match
		names  string // the message must contain this
	}{
		{name: "missing id", h: headers("", ts, vecSig), want: webhook.ErrMissingHeader, names: "webhook-id"},
		{name: "missing timestamp", h: headers(vecID, "", vecSig), want: webhook.ErrMissingHeader, names: "webhook-timestamp"},
		{name: "missing signature", h: headers(vecID, ts, ""), want: webhook.ErrMissingHeader, names: "webhook-signature"},
		{name: "empty id value", h: http.Header{"Webhook-Id": {""}, "Webhook-Timestamp": {ts}, "Webhook-Signature": {vecSig}},
			want: webhook.ErrMissingHeader, names: "webhook-id"},
		{name: "dotted id", h: headers("msg.1", ts, vecSig), want: webhook.ErrMalformedID, names: "webhook-id"},
		{name: "timestamp letters", h: headers(vecID, "abc", vecSig), want: webhook.ErrMalformedTimestamp, names: "webhook-timestamp"},
		{name: "timestamp sign", h: headers(vecID, "+"+ts, vecSig), want: webhook.ErrMalformedTimestamp, names: "decimal"},
		{name: "timestamp negative", h: headers(vecID, "-1", vecSig), want: webhook.ErrMalformedTimestamp},
		{name: "timestamp leading zero", h: headers(vecID, "0"+ts, vecSig), want: webhook.ErrMalformedTimestamp},
		{name: "timestamp fraction", h: headers(vecID, ts+".5", vecSig), want: webhook.ErrMalformedTimestamp},
		{name: "timestamp overflow", h: headers(vecID, "99999999999999999999", vecSig), want: webhook.ErrMalformedTimestamp},
		{name: "too old", h: headers(vecID, strconv.Itoa(vecTS-301), vecSig), want: webhook.ErrTimestampTooOld, names: "tolerance"},
		{name: "too new", h: headers(vecID, strconv.Itoa(vecTS+301), vecSig), want: webhook.ErrTimestampTooNew, names: "tolerance"},
		{name: "tampered body", h: headers(vecID, ts, vecSig), body: []byte(`{"test": 2432232315}`),
			want: webhook.ErrNoMatchingSignature, notErr: webhook.ErrMalformedSignature},
		{name: "non-canonical body", h: headers(vecID, ts, vecSig), body: []byte(`{"test":2432232314}`),
			want: webhook.ErrNoMatchingSignature},
		{name: "other id", h: headers("msg_other", ts, vecSig), want: webhook.ErrNoMatchingSignature},
		{name: "wrong signature", h: headers(vecID, ts, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="),
			want: webhook.ErrNoMatchingSignature, notErr: webhook.ErrMalformedSignature},
		{name: "unknown version only", h: headers(vecID, ts, "v2,"+strings.TrimPrefix(vecSig, "v1,")),
			want: webhook.ErrNoMatchingSignature, notErr: webhook.ErrMalformedSignature},
		{name: "v1a with no public key", h: headers(vecID, ts, "v1a,"+b64(64, 1)),
			want: webhook.ErrNoMatchingSignature, notErr: webhook.ErrMalformedSignature},
		{name: "garbage", h: headers(vecID, ts, "garbage"), want: webhook.ErrMalformedSignature, names: "webhook-signature"},
		{name: "bad base64", h: headers(vecID, ts, "v1,!!!!"), want: webhook.ErrMalformedSignature},
		{name: "short signature", h: headers(vecID, ts, "v1,"+b64(31, 7)), want: webhook.ErrMalformedSignature},
		{name: "unpadded v1a", h: headers(vecID, ts, "v1a,"+strings.Repeat("A", 88)), want: webhook.ErrMalformedSignature},
		{name: "unpadded v1", h: headers(vecID, ts, "v1,"+strings.Repeat("A", 44)), want: webhook.ErrMalformedSignature},
		{name: "no value", h: headers(vecID, ts, "v1,"), want: webhook.ErrMalformedSignature},
		{name: "spaces only", h: headers(vecID, ts, "   "), want: webhook.ErrMalformedSignature},
		{name: "too many entries", h: headers(vecID, ts, long), want: webhook.ErrMalformedSignature, names: "entries"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := body
			if tc.body != nil {
				b = tc.body
			}
			err := v.Verify(tc.h, b)
			require.ErrorIs(t, err, tc.want)
			if tc.notErr != nil {
				require.NotErrorIs(t, err, tc.notErr)
			}
			if errors.Is(err, webhook.ErrMalformedSignature) {
				require.ErrorIs(t, err, webhook.ErrNoMatchingSignature, "a malformed header also matches no signature")
			}
			require.Contains(t, err.Error(), tc.names)
		})
	}
}

func TestVerifyTolerance(t *testing.T) {
	s := newSigner(t, vecSecret)
	body := []byte(vecBody)
	for _, tc := range []struct {
		name string
		tol  time.Duration
		skew time.Duration // now minus sent
		want error
	}{
		{"default, exactly old edge", 0, 5 * time.Minute, nil},
		{"default, exactly new edge", 0, -5 * time.Minute, nil},
		{"default, one second too old", 0, 5*time.Minute + time.Second, webhook.ErrTimestampTooOld},
		{"default, one second too new", 0, -5*time.Minute - time.Second, webhook.ErrTimestampTooNew},
		{"10s, 10s old", 10 * time.Second, 10 * time.Second, nil},
		{"10s, 11s old", 10 * time.Second, 11 * time.Second, webhook.ErrTimestampTooOld},
		{"10s, 11s new", 10 * time.Second, -11 * time.Second, webhook.ErrTimestampTooNew},
		{"1h, 59m old", time.Hour, 59 * time.Minute, nil},
		{"1h, 59m new", time.Hour, -59 * time.Minute, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []webhook.VerifierOption{fixedNow(vecTime.Add(tc.skew))}
			if tc.tol != 0 {
				opts = append(opts, webhook.WithTolerance(tc.tol))
			}
			v := newVerifier(t, vecSecret, opts...)
			h, err := s.Headers(vecID, vecTime, body)
			require.NoError(t, err)
			err = v.Verify(h, body)
			if tc.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.want)
			}
		})
	}

	for _, d := range []time.Duration{0, -time.Second} {
		_, err := webhook.NewVerifier(vecSecret, webhook.WithTolerance(d))
		require.ErrorContains(t, err, "WithTolerance")
	}
	// WithClock(nil) falls back to the wall clock.
	v := newVerifier(t, vecSecret, webhook.WithClock(nil))
	h, err := s.Headers(vecID, time.Now(), body)
	require.NoError(t, err)
	require.NoError(t, v.Verify(h, body))
}

func TestRotation(t *testing.T) {
	oldSecret, err := webhook.GenerateSecret()
	require.NoError(t, err)
	newSecret, err := webhook.GenerateSecret()
	require.NoError(t, err)
	body := []byte(`{"rotate":true}`)
	now := vecTime

	both, err := newSigner(t, newSecret, webhook.WithAdditionalSecrets(oldSecret)).Headers("msg_rot", now, body)
	require.NoError(t, err)
	require.Len(t, strings.Fields(both.Get(webhook.HeaderWebhookSignature)), 2)
	onlyNew, err := newSigner(t, newSecret).Headers("msg_rot", now, body)
	require.NoError(t, err)
	onlyOld, err := newSigner(t, oldSecret).Headers("msg_rot", now, body)
	require.NoError(t, err)

	// Receivers that know only one secret accept a header signed with both.
	require.NoError(t, newVerifier(t, oldSecret, fixedNow(now)).Verify(both, body))
	require.NoError(t, newVerifier(t, newSecret, fixedNow(now)).Verify(both, body))

	// A receiver that accepts both secrets takes either sender.
	v := newVerifier(t, oldSecret, fixedNow(now), webhook.WithSecrets(newSecret))
	require.NoError(t, v.Verify(onlyNew, body))
	require.NoError(t, v.Verify(onlyOld, body))

	// Many secrets (more than fit the verifier's stack buffer).
	var many []string
	for range 6 {
		s, err := webhook.GenerateSecret()
		require.NoError(t, err)
		many = append(many, s)
	}
	vm := newVerifier(t, many[0], fixedNow(now), webhook.WithSecrets(append(many[1:], newSecret)...))
	require.NoError(t, vm.Verify(onlyNew, body))
	require.ErrorIs(t, vm.Verify(onlyOld, body), webhook.ErrNoMatchingSignature)

	// After rotation the old secret is refused.
	require.ErrorIs(t, newVerifier(t, newSecret, fixedNow(now)).Verify(onlyOld, body), webhook.ErrNoMatchingSignature)
}

func TestEd25519(t *testing.T) {
	sk, pk, err := webhook.GenerateKeyPair()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(sk, webhook.PrefixEd25519SecretKey))
	require.True(t, strings.HasPrefix(pk, webhook.PrefixEd25519PublicKey))
	body := []byte(`{"asym":1}`)

	h, err := newSigner(t, sk).Headers("msg_ed", vecTime, body)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(h.Get(webhook.HeaderWebhookSignature), "v1a,"))

	require.NoError(t, newVerifier(t, pk, fixedNow(vecTime)).Verify(h, body))
	require.NoError(t, newVerifier(t, sk, fixedNow(vecTime)).Verify(h, body), "whsk_ verifies with its derived public key")
	require.ErrorIs(t, newVerifier(t, pk, fixedNow(vecTime)).Verify(h, []byte(`{"asym":2}`)), webhook.ErrNoMatchingSignature)

	_, otherPK, err := webhook.GenerateKeyPair()
	require.NoError(t, err)
	require.ErrorIs(t, newVerifier(t, otherPK, fixedNow(vecTime)).Verify(h, body), webhook.ErrNoMatchingSignature)

	// A 32-byte seed is the same key as the 64-byte private key.
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sk, webhook.PrefixEd25519SecretKey))
	require.NoError(t, err)
	seed := webhook.PrefixEd25519SecretKey + base64.StdEncoding.EncodeToString(raw[:ed25519.SeedSize])
	require.Equal(t, h.Get(webhook.HeaderWebhookSignature), newSigner(t, seed).Sign("msg_ed", vecTime, body))

	// The signature is plain Ed25519 over id.ts.body.
	sig, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h.Get(webhook.HeaderWebhookSignature), "v1a,"))
	require.NoError(t, err)
	pub := ed25519.PrivateKey(raw).Public().(ed25519.PublicKey)
	require.True(t, ed25519.Verify(pub, []byte(fmt.Sprintf("msg_ed.%d.%s", vecTS, body)), sig))

	// A public key cannot sign.
	_, err = webhook.NewSigner(pk)
	require.ErrorIs(t, err, webhook.ErrMalformedSecret)
}

func TestMixedHeader(t *testing.T) {
	sk, pk, err := webhook.GenerateKeyPair()
	require.NoError(t, err)
	body := []byte(`{"mixed":true}`)
	h, err := newSigner(t, vecSecret, webhook.WithAdditionalSecrets(sk)).Headers("msg_mix", vecTime, body)
	require.NoError(t, err)
	fields := strings.Fields(h.Get(webhook.HeaderWebhookSignature))
	require.Len(t, fields, 2)
	require.True(t, strings.HasPrefix(fields[0], "v1,"))
	require.True(t, strings.HasPrefix(fields[1], "v1a,"))

	require.NoError(t, newVerifier(t, vecSecret, fixedNow(vecTime)).Verify(h, body))
	require.NoError(t, newVerifier(t, pk, fixedNow(vecTime)).Verify(h, body))
	require.NoError(t, newVerifier(t, pk, fixedNow(vecTime), webhook.WithSecrets(vecSecret)).Verify(h, body))

	// Unknown versions and stray spaces or tabs are ignored.
	h.Set(webhook.HeaderWebhookSignature, "  v9,abc\t"+fields[1]+"   garbage  ")
	require.NoError(t, newVerifier(t, pk, fixedNow(vecTime)).Verify(h, body))

	// Signatures spread over several header lines are all read.
	h[http.CanonicalHeaderKey(webhook.HeaderWebhookSignature)] = []string{"v1," + b64(32, 9), fields[0]}
	require.NoError(t, newVerifier(t, vecSecret, fixedNow(vecTime)).Verify(h, body))
}

func TestLowerCaseHeaderMap(t *testing.T) {
	h := http.Header{
		webhook.HeaderWebhookID:        {vecID},
		webhook.HeaderWebhookTimestamp: {strconv.Itoa(vecTS)},
		webhook.HeaderWebhookSignature: {vecSig},
	}
	require.NoError(t, newVerifier(t, vecSecret, fixedNow(vecTime)).Verify(h, []byte(vecBody)))
}

func TestMalformedSecrets(t *testing.T) {
	sk, _, err := webhook.GenerateKeyPair()
	require.NoError(t, err)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sk, webhook.PrefixEd25519SecretKey))
	require.NoError(t, err)
	raw[len(raw)-1] ^= 1
	mismatched := webhook.PrefixEd25519SecretKey + base64.StdEncoding.EncodeToString(raw)

	bad := map[string]string{
		"empty":               "",
		"prefix only":         "whsec_",
		"unknown prefix":      "whxx_" + b64(32, 1),
		"bad base64":          "whsec_!!!notbase64!!!",
		"23 bytes":            "whsec_" + b64(23, 1),
		"65 bytes":            "whsec_" + b64(65, 1),
		"bare 23 bytes":       b64(23, 1),
		"whpk 31 bytes":       "whpk_" + b64(31, 1),
		"whpk 33 bytes":       "whpk_" + b64(33, 1),
		"whpk bad base64":     "whpk_***",
		"whsk 33 bytes":       "whsk_" + b64(33, 1),
		"whsk bad base64":     "whsk_***",
		"whsk mismatched pub": mismatched,
		"whpk all zero":       "whpk_" + b64(32, 0), // a point of order 4
		"whpk not on curve":   "whpk_" + hex64("0200000000000000000000000000000000000000000000000000000000000000"),
		"whpk y >= p":         "whpk_" + hex64("f0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
	}
	for name, secret := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := webhook.NewVerifier(secret)
			require.ErrorIs(t, err, webhook.ErrMalformedSecret)
			require.Contains(t, err.Error(), "secret")
			if secret != "" && len(secret) > 8 {
				require.NotContains(t, err.Error(), secret[6:], "the message must not echo the secret")
			}
			_, err = webhook.NewSigner(secret)
			require.ErrorIs(t, err, webhook.ErrMalformedSecret)
		})
	}

	// The bad one is named when it comes through an option.
	_, err = webhook.NewVerifier(vecSecret, webhook.WithSecrets(vecSecret, "whsec_"+b64(65, 1)))
	require.ErrorIs(t, err, webhook.ErrMalformedSecret)
	require.ErrorContains(t, err, "WithSecrets[1]")
	require.ErrorContains(t, err, "24 to 64 bytes, got 65")
	_, err = webhook.NewSigner(vecSecret, webhook.WithAdditionalSecrets("whsec_"+b64(23, 1)))
	require.ErrorContains(t, err, "WithAdditionalSecrets[0]")

	_, pk, err := webhook.GenerateKeyPair()
	require.NoError(t, err)
	good := []string{
		pk,
		"whpk_" + hex64("0300000000000000000000000000000000000000000000000000000000000000"), // y = 3: a point, and not a small one
		"whsec_" + b64(24, 1),
		"whsec_" + b64(64, 1),
		"whsec_" + strings.TrimRight(b64(32, 1), "="), // unpadded
		b64(40, 2),           // bare base64
		"whsk_" + b64(32, 4), // a seed
	}
	for _, secret := range good {
		_, err := webhook.NewVerifier(secret)
		require.NoError(t, err, secret)
	}
}

func TestGenerateSecret(t *testing.T) {
	a, err := webhook.GenerateSecret()
	require.NoError(t, err)
	b, err := webhook.GenerateSecret()
	require.NoError(t, err)
	require.NotEqual(t, a, b)
	require.True(t, strings.HasPrefix(a, "whsec_"))
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "whsec_"))
	require.NoError(t, err)
	require.Len(t, raw, 32)

	sk, pk, err := webhook.GenerateKeyPair()
	require.NoError(t, err)
	rawSK, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sk, "whsk_"))
	require.NoError(t, err)
	require.Len(t, rawSK, ed25519.PrivateKeySize)
	rawPK, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(pk, "whpk_"))
	require.NoError(t, err)
	require.Equal(t, []byte(ed25519.PrivateKey(rawSK).Public().(ed25519.PublicKey)), rawPK)
}

func TestSignerHeaders(t *testing.T) {
	s := newSigner(t, vecSecret)
	h, err := s.Headers(vecID, vecTime, []byte(vecBody))
	require.NoError(t, err)
	require.Equal(t, vecID, h.Get(webhook.HeaderWebhookID))
	require.Equal(t, strconv.Itoa(vecTS), h.Get(webhook.HeaderWebhookTimestamp))
	require.Equal(t, vecSig, h.Get(webhook.HeaderWebhookSignature))

	req := httptest.NewRequest(http.MethodPost, "/hook", nil)
	require.NoError(t, s.SetHeaders(req.Header, vecID, vecTime, []byte(vecBody)))
	require.Equal(t, vecSig, req.Header.Get(webhook.HeaderWebhookSignature))

	for _, id := range []string{"", "msg.1", "."} {
		_, err := s.Headers(id, vecTime, nil)
		require.ErrorIs(t, err, webhook.ErrMalformedID, "id %q", id)
	}
	_, err = s.Headers("msg_1", time.Unix(-1, 0), nil)
	require.ErrorIs(t, err, webhook.ErrMalformedTimestamp)

	// Sign cannot fail: it signs what it is given, which no verifier accepts.
	sig := s.Sign("msg.1", vecTime, nil)
	err = newVerifier(t, vecSecret, fixedNow(vecTime)).Verify(headers("msg.1", strconv.Itoa(vecTS), sig), nil)
	require.ErrorIs(t, err, webhook.ErrMalformedID)
}

func TestEmptyAndLargeBodies(t *testing.T) {
	s := newSigner(t, vecSecret)
	v := newVerifier(t, vecSecret, fixedNow(vecTime))
	longID := "msg_" + strings.Repeat("x", 300) // longer than the internal scratch buffer
	for _, body := range [][]byte{nil, {}, bytes.Repeat([]byte("é"), 1<<16)} {
		for _, id := range []string{"m", longID} {
			h, err := s.Headers(id, vecTime, body)
			require.NoError(t, err)
			require.NoError(t, v.Verify(h, body))
			ref, err := standardwebhooks.NewWebhook(vecSecret)
			require.NoError(t, err)
			want, err := ref.Sign(id, vecTime, body)
			require.NoError(t, err)
			require.Equal(t, want, h.Get(webhook.HeaderWebhookSignature))
		}
	}
}

func TestVerifyConcurrent(t *testing.T) {
	sk, pk, err := webhook.GenerateKeyPair()
	require.NoError(t, err)
	other, err := webhook.GenerateSecret()
	require.NoError(t, err)
	s := newSigner(t, vecSecret, webhook.WithAdditionalSecrets(sk))
	v := newVerifier(t, other, fixedNow(vecTime), webhook.WithSecrets(vecSecret, pk))
	var wg sync.WaitGroup
	errs := make(chan error, 8*200)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				body := []byte(fmt.Sprintf(`{"g":%d,"i":%d}`, g, i))
				id := fmt.Sprintf("msg_%d_%d", g, i)
				h, err := s.Headers(id, vecTime, body)
				if err == nil {
					err = v.Verify(h, body)
				}
				if err == nil && v.Verify(h, append(body, ' ')) == nil {
					err = errors.New("tampered body verified")
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// TestVerifyAllocs counts allocations (not time): the benchmark figures are in
// signature_bench_test.go.
func TestVerifyAllocs(t *testing.T) {
	if raceEnabled() {
		t.Skip("the race detector makes sync.Pool drop items at random")
	}
	old, err := webhook.GenerateSecret()
	require.NoError(t, err)
	body := bytes.Repeat([]byte("a"), 1024)
	sigOld := newSigner(t, old).Sign(vecID, vecTime, body)
	sigNew := newSigner(t, vecSecret).Sign(vecID, vecTime, body)
	h := headers(vecID, strconv.Itoa(vecTS), sigOld+" "+sigNew)
	v := newVerifier(t, vecSecret, fixedNow(vecTime))
	require.NoError(t, v.Verify(h, body))
	allocs := testing.AllocsPerRun(200, func() {
		if v.Verify(h, body) != nil {
			panic("verify failed")
		}
	})
	require.LessOrEqual(t, allocs, 1.0)
}

// fixedClock is a clock stopped at one instant.
type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }
