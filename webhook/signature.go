package webhook

// This file holds the Standard Webhooks signer and verifier. It imports the
// standard library only, so that third parties can embed the verifier without
// pulling in the rest of the SDK.

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Header names defined by the Standard Webhooks specification. They are
// written in the spec's lower case; [http.Header] canonicalises them
// ("Webhook-Id") when set through its methods.
const (
	// HeaderWebhookID carries the unique message id. The id must not contain
	// a '.'; receivers use it to drop replays.
	HeaderWebhookID = "webhook-id"
	// HeaderWebhookTimestamp carries the send time in decimal Unix seconds.
	HeaderWebhookTimestamp = "webhook-timestamp"
	// HeaderWebhookSignature carries a space-separated list of signatures,
	// each "<version>,<base64>", for example "v1,K5oZ... v1a,hnO3...".
	HeaderWebhookSignature = "webhook-signature"
)

// Canonical forms of the header names, for allocation-free map look-ups.
const (
	canonID        = "Webhook-Id"
	canonTimestamp = "Webhook-Timestamp"
	canonSignature = "Webhook-Signature"
)

// Secret prefixes.
const (
	// PrefixHMACSecret starts a symmetric secret: "whsec_" + base64 of 24 to
	// 64 random bytes. It signs "v1" (HMAC-SHA256) signatures.
	PrefixHMACSecret = "whsec_"
	// PrefixEd25519SecretKey starts an Ed25519 private key: "whsk_" + base64
	// of a 64-byte private key (seed followed by public key) or of a 32-byte
	// seed. It signs "v1a" signatures.
	PrefixEd25519SecretKey = "whsk_"
	// PrefixEd25519PublicKey starts an Ed25519 public key: "whpk_" + base64
	// of its 32-byte encoding. It verifies "v1a" signatures only.
	PrefixEd25519PublicKey = "whpk_"
)

// Signature versions.
const (
	// VersionHMAC is the version tag of HMAC-SHA256 signatures.
	VersionHMAC = "v1"
	// VersionEd25519 is the version tag of Ed25519 signatures.
	VersionEd25519 = "v1a"
)

// Limits and defaults.
const (
	// DefaultTolerance is how far the webhook-timestamp may lie from the
	// verifier's clock, in either direction, unless [WithTolerance] says
	// otherwise.
	DefaultTolerance = 5 * time.Minute
	// MinHMACSecretLen is the shortest decoded whsec_ secret accepted, in
	// bytes.
	MinHMACSecretLen = 24
	// MaxHMACSecretLen is the longest decoded whsec_ secret accepted, in
	// bytes.
	MaxHMACSecretLen = 64
	// MaxSignatures is the most entries a webhook-signature header may hold;
	// a longer header is rejected with [ErrMalformedSignature] so that a
	// sender cannot make the verifier run unbounded Ed25519 checks.
	MaxSignatures = 32
	// DefaultMaxBodyBytes is the largest request body [Verifier.Middleware]
	// reads unless [WithMaxBodyBytes] says otherwise: 1 MiB.
	DefaultMaxBodyBytes int64 = 1 << 20
	// MaxBodyBytesLimit is the largest value [WithMaxBodyBytes] accepts: 1 GiB.
	MaxBodyBytesLimit int64 = 1 << 30
)

const (
	hmacSigLen       = sha256.Size                         // 32
	ed25519SigB64Len = (ed25519.SignatureSize + 2) / 3 * 4 // 88
	maxTimestampLen  = len("9223372036854775807")          // 19
)

// strictBase64 rejects non-zero padding bits, so each signature has exactly
// one encoding. It is never modified.
var strictBase64 = base64.StdEncoding.Strict()

// Errors returned by this file's functions. Match them with [errors.Is]; the
// returned errors wrap them with a message that names the field and the rule.
var (
	// ErrMissingHeader means a required header is absent or empty. The
	// message names the header, e.g. "webhook: missing header: webhook-id".
	ErrMissingHeader = errors.New("webhook: missing header")
	// ErrMalformedID means the webhook-id (or the id passed to a Signer) is
	// empty or contains a '.', which would make the signed content ambiguous.
	ErrMalformedID = errors.New("webhook: malformed webhook-id")
	// ErrMalformedTimestamp means the webhook-timestamp is not decimal Unix
	// seconds (digits only, no sign, no leading zeros, at most 19 digits).
	ErrMalformedTimestamp = errors.New("webhook: malformed webhook-timestamp")
	// ErrTimestampTooOld means the webhook-timestamp lies further in the past
	// than the tolerance allows.
	ErrTimestampTooOld = errors.New("webhook: timestamp too old")
	// ErrTimestampTooNew means the webhook-timestamp lies further in the
	// future than the tolerance allows.
	ErrTimestampTooNew = errors.New("webhook: timestamp too new")
	// ErrNoMatchingSignature means no signature in the webhook-signature
	// header was made by any of the verifier's secrets over this exact body.
	// Every signature failure matches it, including [ErrMalformedSignature].
	ErrNoMatchingSignature = errors.New("webhook: no matching signature")
	// ErrMalformedSignature means the webhook-signature header holds no
	// well-formed "<version>,<value>" entry at all, or more than
	// [MaxSignatures] entries. Errors that match it also match
	// [ErrNoMatchingSignature].
	ErrMalformedSignature error = &childError{"webhook: malformed webhook-signature", ErrNoMatchingSignature}
	// ErrMalformedSecret means a secret string has an unknown prefix, is not
	// valid base64, decodes to the wrong length for its kind, or (for a whpk_
	// key) is not a usable Ed25519 public key. Errors that match it also
	// match [ErrInvalid].
	ErrMalformedSecret error = &childError{"webhook: malformed secret", ErrInvalid}
)

// ErrInvalid is matched by every error that reports bad input to
// [NewSigner] or [NewVerifier]: a [*ValidationError] for an option, an error
// matching [ErrMalformedSecret] for a secret.
var ErrInvalid = errors.New("webhook: invalid input")

// ValidationError names the input that broke a rule and the rule it broke;
// it matches [ErrInvalid] with [errors.Is]. Its message is
// "webhook: <Field>: <Rule>", for example
// "webhook: WithTolerance: must be positive, got 0s".
//
// It has the shape of the validation error of every other package of this
// module (each re-exports the same ValidationError and ErrInvalid, with a
// Package field besides Field and Rule); package webhook declares its own
// because it imports the standard library only.
type ValidationError struct {
	// Field names the bad input as the caller wrote it, such as the option
	// "WithMaxBodyBytes".
	Field string
	// Rule says what the value must be, and what it was.
	Rule string
}

func (e *ValidationError) Error() string { return "webhook: " + e.Field + ": " + e.Rule }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// childError is a sentinel error that also matches its parent.
type childError struct {
	msg    string
	parent error
}

func (e *childError) Error() string { return e.msg }
func (e *childError) Unwrap() error { return e.parent }

// ---------------------------------------------------------------------------
// Secrets

type keyKind int

const (
	kindHMAC keyKind = iota + 1
	kindEd25519Secret
	kindEd25519Public
)

// parsedSecret is one decoded secret.
type parsedSecret struct {
	kind keyKind
	hmac []byte             // kindHMAC
	priv ed25519.PrivateKey // kindEd25519Secret
	pub  ed25519.PublicKey  // kindEd25519Secret and kindEd25519Public
}

// decodeBase64 accepts standard base64 with or without padding.
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil && len(s)%4 != 0 {
		if b2, err2 := base64.RawStdEncoding.DecodeString(s); err2 == nil {
			return b2, nil
		}
	}
	return b, err
}

// parseSecret decodes one secret. field names it in error messages, e.g.
// "secret" or "WithSecrets[1]". The message never echoes the secret.
func parseSecret(field, s string) (parsedSecret, error) {
	switch {
	case strings.HasPrefix(s, PrefixEd25519SecretKey):
		b, err := decodeBase64(s[len(PrefixEd25519SecretKey):])
		if err != nil {
			return parsedSecret{}, fmt.Errorf("%w: %s: whsk_ key is not valid base64", ErrMalformedSecret, field)
		}
		var priv ed25519.PrivateKey
		switch len(b) {
		case ed25519.SeedSize:
			priv = ed25519.NewKeyFromSeed(b)
		case ed25519.PrivateKeySize:
			priv = ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
			if !hmac.Equal(priv[ed25519.SeedSize:], b[ed25519.SeedSize:]) {
				return parsedSecret{}, fmt.Errorf("%w: %s: whsk_ key's public half does not match its seed", ErrMalformedSecret, field)
			}
		default:
			return parsedSecret{}, fmt.Errorf("%w: %s: whsk_ key must decode to %d or %d bytes, got %d",
				ErrMalformedSecret, field, ed25519.SeedSize, ed25519.PrivateKeySize, len(b))
		}
		return parsedSecret{kind: kindEd25519Secret, priv: priv, pub: priv.Public().(ed25519.PublicKey)}, nil

	case strings.HasPrefix(s, PrefixEd25519PublicKey):
		b, err := decodeBase64(s[len(PrefixEd25519PublicKey):])
		if err != nil {
			return parsedSecret{}, fmt.Errorf("%w: %s: whpk_ key is not valid base64", ErrMalformedSecret, field)
		}
		if len(b) != ed25519.PublicKeySize {
			return parsedSecret{}, fmt.Errorf("%w: %s: whpk_ key must decode to %d bytes, got %d",
				ErrMalformedSecret, field, ed25519.PublicKeySize, len(b))
		}
		if reason := checkEd25519PublicKey(b); reason != "" {
			return parsedSecret{}, fmt.Errorf("%w: %s: whpk_ key %s", ErrMalformedSecret, field, reason)
		}
		return parsedSecret{kind: kindEd25519Public, pub: ed25519.PublicKey(b)}, nil

	default:
		raw := strings.TrimPrefix(s, PrefixHMACSecret)
		if raw == "" {
			return parsedSecret{}, fmt.Errorf("%w: %s: empty", ErrMalformedSecret, field)
		}
		b, err := decodeBase64(raw)
		if err != nil {
			return parsedSecret{}, fmt.Errorf("%w: %s: want whsec_, whsk_ or whpk_ followed by base64 (or bare base64 for an HMAC secret)",
				ErrMalformedSecret, field)
		}
		if len(b) < MinHMACSecretLen || len(b) > MaxHMACSecretLen {
			return parsedSecret{}, fmt.Errorf("%w: %s: whsec_ secret must decode to %d to %d bytes, got %d",
				ErrMalformedSecret, field, MinHMACSecretLen, MaxHMACSecretLen, len(b))
		}
		return parsedSecret{kind: kindHMAC, hmac: b}, nil
	}
}

// ---------------------------------------------------------------------------
// Ed25519 public key checks

// smallOrderPoints are the canonical encodings of the 8 points of the
// Ed25519 curve whose order divides 8: with such a public key A, [k]A takes
// at most 8 values whatever the message, so a signature (R, S) made without
// any private key, such as R = the identity and S = 0, verifies for a
// good share of messages (all of them for the identity). crypto/ed25519
// accepts these keys, as RFC 8032 allows. The list is the one libsodium
// blocks; TestSmallOrderPointsAreTheTorsionSubgroup recomputes it. Their
// non-canonical encodings are refused by checkEd25519PublicKey's canonical
// checks before this list is consulted.
var smallOrderPoints = [...]string{
	"0100000000000000000000000000000000000000000000000000000000000000", // the identity (0, 1)
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2: (0, -1)
	"0000000000000000000000000000000000000000000000000000000000000000", // order 4: (sqrt(-1), 0)
	"0000000000000000000000000000000000000000000000000000000000000080", // order 4: (-sqrt(-1), 0)
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
}

// edwards25519 holds the field prime p = 2^255 - 19 and the curve constant
// d = -121665/121666 mod p of -x^2 + y^2 = 1 + d x^2 y^2, computed on first
// use.
var edwards25519 = sync.OnceValue(func() (c struct{ p, d *big.Int }) {
	c.p = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	c.d = new(big.Int).ModInverse(big.NewInt(121666), c.p)
	c.d.Mul(c.d, big.NewInt(-121665)).Mod(c.d, c.p)
	return c
})

// checkEd25519PublicKey returns why the 32-byte Ed25519 public key pub must
// not be used, or "" when it is a canonical encoding of a curve point whose
// order does not divide 8. The reason never quotes the key.
//
// An encoding (RFC 8032, 5.1.3) is the little-endian y coordinate with the
// sign (low bit) of x in its top bit. crypto/ed25519 also accepts y >= p and
// x = 0 with the sign bit set, which are other spellings of the same points;
// a key that any genuine key pair generates never looks like that.
func checkEd25519PublicKey(pub []byte) string {
	c := edwards25519()
	var be [ed25519.PublicKeySize]byte // big-endian y, for big.Int
	for i, b := range pub {
		be[len(be)-1-i] = b
	}
	sign := be[0] >> 7
	be[0] &= 0x7f
	y := new(big.Int).SetBytes(be[:])
	if y.Cmp(c.p) >= 0 {
		return "is not a canonical encoding: its y coordinate is not below 2^255-19"
	}
	// x^2 = (y^2 - 1) / (d y^2 + 1). The denominator is never 0: -1/d is
	// not a square mod p.
	y2 := new(big.Int).Mul(y, y)
	y2.Mod(y2, c.p)
	u := new(big.Int).Sub(y2, big.NewInt(1))
	v := new(big.Int).Mul(c.d, y2)
	v.Add(v, big.NewInt(1)).Mod(v, c.p)
	x2 := u.Mul(u, v.ModInverse(v, c.p))
	x2.Mod(x2, c.p)
	if x2.Sign() == 0 {
		if sign != 0 {
			return "is not a canonical encoding: x is 0 but its sign bit is set"
		}
	} else if big.Jacobi(x2, c.p) != 1 {
		return "is not a point on the Ed25519 curve"
	}
	enc := hex.EncodeToString(pub)
	for _, p := range smallOrderPoints {
		if enc == p {
			return "is a point of small order, which would verify signatures made without the private key"
		}
	}
	return ""
}

// GenerateSecret returns a new symmetric secret: "whsec_" followed by the
// base64 of 32 bytes from crypto/rand.
func GenerateSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("webhook: generate secret: %w", err)
	}
	return PrefixHMACSecret + base64.StdEncoding.EncodeToString(b[:]), nil
}

// GenerateKeyPair returns a new Ed25519 key pair: secretKey is "whsk_"
// followed by the base64 of the 64-byte private key (for [NewSigner]),
// publicKey is "whpk_" followed by the base64 of the 32-byte public key (for
// [NewVerifier] on the receiving side).
func GenerateKeyPair() (secretKey, publicKey string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("webhook: generate key pair: %w", err)
	}
	return PrefixEd25519SecretKey + base64.StdEncoding.EncodeToString(priv),
		PrefixEd25519PublicKey + base64.StdEncoding.EncodeToString(pub), nil
}

// ---------------------------------------------------------------------------
// HMAC with a pre-keyed state

// hmacKey computes HMAC-SHA256 under one key without allocating: each pooled
// hmacState holds an HMAC whose keyed inner and outer states were computed
// once (crypto/hmac restores them on Reset), plus scratch space.
type hmacKey struct {
	pool sync.Pool // of *hmacState
}

type hmacState struct {
	h   hash.Hash
	buf [64]byte // scratch for writing strings without converting them
	sum []byte   // cap sha256.Size, reused by Sum
}

func newHMACKey(key []byte) *hmacKey {
	key = append([]byte(nil), key...)
	k := &hmacKey{}
	k.pool.New = func() any {
		h := hmac.New(sha256.New, key)
		// The first Reset makes crypto/hmac save the keyed states, so that
		// later Resets and Sums restore them instead of rehashing the pads.
		h.Reset()
		return &hmacState{h: h, sum: make([]byte, 0, sha256.Size)}
	}
	return k
}

// writeString feeds s to st.h through st.buf.
func (st *hmacState) writeString(s string) {
	for len(s) > 0 {
		n := copy(st.buf[:], s)
		st.h.Write(st.buf[:n])
		s = s[n:]
	}
}

// sum writes HMAC(id "." ts "." body) to out.
func (k *hmacKey) sum(out *[hmacSigLen]byte, id, ts string, body []byte) {
	st := k.pool.Get().(*hmacState)
	st.h.Reset()
	st.writeString(id)
	if len(ts)+2 <= len(st.buf) {
		st.buf[0] = '.'
		n := 1 + copy(st.buf[1:], ts)
		st.buf[n] = '.'
		st.h.Write(st.buf[:n+1])
	} else {
		st.writeString("." + ts + ".")
	}
	st.h.Write(body)
	copy(out[:], st.h.Sum(st.sum[:0]))
	k.pool.Put(st)
}

// signedContent returns id "." ts "." body in one new slice, for Ed25519.
func signedContent(id, ts string, body []byte) []byte {
	msg := make([]byte, 0, len(id)+len(ts)+2+len(body))
	msg = append(msg, id...)
	msg = append(msg, '.')
	msg = append(msg, ts...)
	msg = append(msg, '.')
	return append(msg, body...)
}

// ---------------------------------------------------------------------------
// Header parsing

// isSigSpace reports whether c separates entries of webhook-signature.
func isSigSpace(c byte) bool { return c == ' ' || c == '\t' }

// nextSignature returns the first entry of a webhook-signature header value
// and the rest of the value after it. Entries are separated by runs of
// spaces or tabs; entry is "" only when s holds no more entries. It never
// allocates.
func nextSignature(s string) (entry, rest string) {
	i := 0
	for i < len(s) && isSigSpace(s[i]) {
		i++
	}
	j := i
	for j < len(s) && !isSigSpace(s[j]) {
		j++
	}
	return s[i:j], s[j:]
}

// splitSignature splits one entry at its first comma into version and value.
// ok is false when there is no comma, or the version or value is empty.
func splitSignature(entry string) (version, value string, ok bool) {
	version, value, found := strings.Cut(entry, ",")
	if !found || version == "" || value == "" {
		return "", "", false
	}
	return version, value, true
}

// decodeSig decodes a base64 signature value of exactly len(dst) bytes into
// dst without allocating. It reports false for anything else.
func decodeSig(dst []byte, value string) bool {
	var src [ed25519SigB64Len]byte
	want := base64.StdEncoding.EncodedLen(len(dst))
	if len(value) != want || want > len(src) {
		return false
	}
	copy(src[:], value)
	// Decode needs room for DecodedLen(want) bytes, which is more than
	// len(dst) when the value lacks its padding.
	var tmp [ed25519SigB64Len / 4 * 3]byte
	n, err := strictBase64.Decode(tmp[:], src[:want])
	if err != nil || n != len(dst) {
		return false
	}
	copy(dst, tmp[:n])
	return true
}

// parseTimestamp parses decimal Unix seconds: digits only, no sign, no
// leading zeros, at most 19 digits.
func parseTimestamp(s string) (int64, bool) {
	if s == "" || len(s) > maxTimestampLen || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// validID reports whether id may be signed: non-empty and without '.'.
func validID(id string) bool {
	return id != "" && strings.IndexByte(id, '.') < 0
}

// ---------------------------------------------------------------------------
// Signer

// Signer signs webhook messages with one or more secrets. It is safe for
// concurrent use.
type Signer struct {
	keys []signerKey
}

type signerKey struct {
	hmac *hmacKey           // v1, or nil
	priv ed25519.PrivateKey // v1a, or nil
}

// SignerOption configures [NewSigner].
type SignerOption func(*signerOptions)

type signerOptions struct {
	more []string
}

// WithAdditionalSecrets adds secrets that sign alongside the primary one, so
// that the webhook-signature header lists one signature per secret, primary
// first. Use it while rotating: sign with the old and the new secret until
// every receiver has the new one. Each secret follows the rules of
// [NewSigner]. Defaults to none.
func WithAdditionalSecrets(secrets ...string) SignerOption {
	return func(o *signerOptions) { o.more = append(o.more, secrets...) }
}

// NewSigner returns a Signer for secret, which is either
//
//   - "whsec_" + base64 of 24 to 64 bytes (or that base64 alone, as the
//     reference libraries accept): HMAC-SHA256 signatures, version "v1"; or
//   - "whsk_" + base64 of a 64-byte Ed25519 private key or 32-byte seed:
//     Ed25519 signatures, version "v1a".
//
// A "whpk_" public key cannot sign and is rejected. Errors match
// [ErrMalformedSecret].
func NewSigner(secret string, opts ...SignerOption) (*Signer, error) {
	var o signerOptions
	for _, opt := range opts {
		opt(&o)
	}
	s := &Signer{}
	for i, sec := range append([]string{secret}, o.more...) {
		field := "secret"
		if i > 0 {
			field = fmt.Sprintf("WithAdditionalSecrets[%d]", i-1)
		}
		p, err := parseSecret(field, sec)
		if err != nil {
			return nil, err
		}
		switch p.kind {
		case kindHMAC:
			s.keys = append(s.keys, signerKey{hmac: newHMACKey(p.hmac)})
		case kindEd25519Secret:
			s.keys = append(s.keys, signerKey{priv: p.priv})
		default:
			return nil, fmt.Errorf("%w: %s: a whpk_ public key cannot sign; use the whsk_ secret key", ErrMalformedSecret, field)
		}
	}
	return s, nil
}

// Sign returns the webhook-signature header value for a message: one
// "<version>,<base64>" entry per secret, separated by single spaces, e.g.
// "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".
//
// The signed content is id "." ts.Unix() "." body. Sign cannot report an
// error, so it signs id and ts as given: an id that is empty or contains a
// '.', or a ts before 1970, yields a header no [Verifier] accepts. Use
// [Signer.SetHeaders] or [Signer.Headers] to have them checked.
func (s *Signer) Sign(id string, ts time.Time, body []byte) string {
	return s.sign(id, strconv.FormatInt(ts.Unix(), 10), body)
}

func (s *Signer) sign(id, ts string, body []byte) string {
	out := make([]byte, 0, len(s.keys)*(len(VersionEd25519)+1+ed25519SigB64Len+1))
	var msg []byte // built once, for Ed25519 keys only
	for i, k := range s.keys {
		if i > 0 {
			out = append(out, ' ')
		}
		if k.hmac != nil {
			var mac [hmacSigLen]byte
			k.hmac.sum(&mac, id, ts, body)
			out = append(out, VersionHMAC+","...)
			out = base64.StdEncoding.AppendEncode(out, mac[:])
			continue
		}
		if msg == nil {
			msg = signedContent(id, ts, body)
		}
		out = append(out, VersionEd25519+","...)
		out = base64.StdEncoding.AppendEncode(out, ed25519.Sign(k.priv, msg))
	}
	return string(out)
}

// SetHeaders checks id and ts, then sets webhook-id, webhook-timestamp and
// webhook-signature on h (typically an outgoing request's Header). The id
// must be non-empty and contain no '.' ([ErrMalformedID]); ts must not be
// before 1970 ([ErrMalformedTimestamp]).
func (s *Signer) SetHeaders(h http.Header, id string, ts time.Time, body []byte) error {
	if !validID(id) {
		return fmt.Errorf("%w: id must be non-empty and contain no '.'", ErrMalformedID)
	}
	sec := ts.Unix()
	if sec < 0 {
		return fmt.Errorf("%w: timestamp must not be before 1970", ErrMalformedTimestamp)
	}
	tsStr := strconv.FormatInt(sec, 10)
	h[canonID] = []string{id}
	h[canonTimestamp] = []string{tsStr}
	h[canonSignature] = []string{s.sign(id, tsStr, body)}
	return nil
}

// Headers is [Signer.SetHeaders] on a new [http.Header].
func (s *Signer) Headers(id string, ts time.Time, body []byte) (http.Header, error) {
	h := make(http.Header, 3)
	if err := s.SetHeaders(h, id, ts, body); err != nil {
		return nil, err
	}
	return h, nil
}

// ---------------------------------------------------------------------------
// Verifier

// Verifier checks the Standard Webhooks headers of incoming messages against
// one or more secrets. It is safe for concurrent use and must not be copied
// after first use.
type Verifier struct {
	hmacKeys  []*hmacKey
	pubKeys   []ed25519.PublicKey
	tolerance time.Duration
	now       func() time.Time
	maxBody   int64 // for Middleware
}

// VerifierOption configures [NewVerifier].
type VerifierOption func(*verifierOptions)

type verifierOptions struct {
	more      []string
	tolerance time.Duration
	now       func() time.Time
	maxBody   int64
}

// WithSecrets adds secrets the verifier accepts besides the first one; a
// message passes when any secret matches any of its signatures. Use it while
// rotating: accept the old and the new secret until the sender has switched.
// Each secret follows the rules of [NewVerifier]. Defaults to none.
func WithSecrets(more ...string) VerifierOption {
	return func(o *verifierOptions) { o.more = append(o.more, more...) }
}

// WithTolerance sets how far the webhook-timestamp may lie from the clock in
// either direction: older than now-d fails with [ErrTimestampTooOld], newer
// than now+d with [ErrTimestampTooNew]. d must be positive; otherwise
// [NewVerifier] returns a [*ValidationError]. Defaults to [DefaultTolerance]
// (5 minutes).
func WithTolerance(d time.Duration) VerifierOption {
	return func(o *verifierOptions) { o.tolerance = d }
}

// WithMaxBodyBytes sets the largest request body [Verifier.Middleware]
// reads; a larger body is answered with 413 Request Entity Too Large without
// calling the next handler. n must be between 1 and [MaxBodyBytesLimit]
// (1 GiB); otherwise [NewVerifier] returns a [*ValidationError]. It does not
// affect [Verifier.Verify], which checks the body it is given. Defaults to
// [DefaultMaxBodyBytes] (1 MiB).
func WithMaxBodyBytes(n int64) VerifierOption {
	return func(o *verifierOptions) { o.maxBody = n }
}

// Clock tells the time. A *clockwork.FakeClock (github.com/jonboulle/clockwork)
// satisfies it, and so does any type with a Now method.
type Clock interface {
	Now() time.Time
}

// WithClock sets the clock the verifier compares timestamps with; tests
// pass a fake or fixed one. A nil Clock restores the default. Defaults to
// the wall clock ([time.Now]).
func WithClock(c Clock) VerifierOption {
	return func(o *verifierOptions) {
		if c == nil {
			o.now = nil
			return
		}
		o.now = c.Now
	}
}

// NewVerifier returns a Verifier for secret, which is one of
//
//   - "whsec_" + base64 of 24 to 64 bytes (or that base64 alone):
//     checks "v1" (HMAC-SHA256) signatures;
//   - "whpk_" + base64 of a 32-byte Ed25519 public key: checks "v1a"
//     signatures. The key must be the canonical encoding of a curve point
//     outside the 8 points of small order, as every generated key is: a
//     small-order key (such as 32 zero bytes) would verify signatures that
//     nobody made with a private key;
//   - "whsk_" + base64 of an Ed25519 private key or seed: checks "v1a"
//     signatures with the derived public key.
//
// A bad option is reported as a [*ValidationError] naming it (all bad
// options at once, joined with [errors.Join]); a bad secret as an error
// matching [ErrMalformedSecret] that names it ("secret", "WithSecrets[0]")
// without echoing it. Both match [ErrInvalid].
func NewVerifier(secret string, opts ...VerifierOption) (*Verifier, error) {
	o := verifierOptions{tolerance: DefaultTolerance, maxBody: DefaultMaxBodyBytes}
	for _, opt := range opts {
		opt(&o)
	}
	var errs []error
	if o.tolerance <= 0 {
		errs = append(errs, &ValidationError{Field: "WithTolerance", Rule: fmt.Sprintf("must be positive, got %v", o.tolerance)})
	}
	if o.maxBody < 1 || o.maxBody > MaxBodyBytesLimit {
		errs = append(errs, &ValidationError{Field: "WithMaxBodyBytes",
			Rule: fmt.Sprintf("must be between 1 and %d bytes, got %d", MaxBodyBytesLimit, o.maxBody)})
	}
	switch len(errs) {
	case 0:
	case 1:
		return nil, errs[0]
	default:
		return nil, errors.Join(errs...)
	}
	if o.now == nil {
		o.now = time.Now
	}
	v := &Verifier{tolerance: o.tolerance, now: o.now, maxBody: o.maxBody}
	for i, sec := range append([]string{secret}, o.more...) {
		field := "secret"
		if i > 0 {
			field = fmt.Sprintf("WithSecrets[%d]", i-1)
		}
		p, err := parseSecret(field, sec)
		if err != nil {
			return nil, err
		}
		if p.kind == kindHMAC {
			v.hmacKeys = append(v.hmacKeys, newHMACKey(p.hmac))
		} else {
			v.pubKeys = append(v.pubKeys, p.pub)
		}
	}
	return v, nil
}

// firstHeader returns the first value of a Standard Webhooks header, looking
// under its canonical name and then under the spec's lower-case spelling (for
// headers built as map literals).
func firstHeader(h http.Header, canon, lower string) string {
	v, ok := h[canon]
	if !ok {
		v = h[lower]
	}
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// Verify checks a message's headers and its raw body, exactly as received:
// never a re-encoded copy. It returns nil when webhook-id and
// webhook-timestamp are well formed, the timestamp lies within the
// tolerance, and at least one entry of webhook-signature was made by one of
// the verifier's secrets over id "." timestamp "." body. Entries with
// unknown versions are skipped; all values of webhook-signature are read.
//
// Errors match [ErrMissingHeader], [ErrMalformedID], [ErrMalformedTimestamp],
// [ErrTimestampTooOld], [ErrTimestampTooNew], [ErrNoMatchingSignature] or
// [ErrMalformedSignature]. Drop replays by remembering the webhook-id of
// accepted messages for at least twice the tolerance.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	id := firstHeader(h, canonID, HeaderWebhookID)
	if id == "" {
		return fmt.Errorf("%w: %s", ErrMissingHeader, HeaderWebhookID)
	}
	ts := firstHeader(h, canonTimestamp, HeaderWebhookTimestamp)
	if ts == "" {
		return fmt.Errorf("%w: %s", ErrMissingHeader, HeaderWebhookTimestamp)
	}
	sigs, ok := h[canonSignature]
	if !ok {
		sigs = h[HeaderWebhookSignature]
	}
	if len(sigs) == 0 || (len(sigs) == 1 && sigs[0] == "") {
		return fmt.Errorf("%w: %s", ErrMissingHeader, HeaderWebhookSignature)
	}
	if !validID(id) {
		return fmt.Errorf("%w: must contain no '.'", ErrMalformedID)
	}
	sec, ok := parseTimestamp(ts)
	if !ok {
		return fmt.Errorf("%w: must be decimal Unix seconds (digits only, no sign or leading zeros)", ErrMalformedTimestamp)
	}
	now := v.now()
	sent := time.Unix(sec, 0)
	if age := now.Sub(sent); age > v.tolerance {
		return fmt.Errorf("%w: webhook-timestamp is %v before now, tolerance is %v",
			ErrTimestampTooOld, age.Truncate(time.Second), v.tolerance)
	}
	if ahead := sent.Sub(now); ahead > v.tolerance {
		return fmt.Errorf("%w: webhook-timestamp is %v after now, tolerance is %v",
			ErrTimestampTooNew, ahead.Truncate(time.Second), v.tolerance)
	}
	return v.verifySignatures(sigs, id, ts, body)
}

func (v *Verifier) verifySignatures(sigs []string, id, ts string, body []byte) error {
	var (
		small      [4][hmacSigLen]byte
		macs       [][hmacSigLen]byte // HMACs under each key, computed at the first v1 entry
		msg        []byte             // signed content for Ed25519, built at the first v1a entry
		entries    int
		wellFormed bool
	)
	for _, s := range sigs {
		for {
			var entry string
			if entry, s = nextSignature(s); entry == "" {
				break
			}
			if entries++; entries > MaxSignatures {
				return fmt.Errorf("%w: more than %d entries", ErrMalformedSignature, MaxSignatures)
			}
		}
	}
	for _, s := range sigs {
		for {
			var entry string
			entry, s = nextSignature(s)
			if entry == "" {
				break
			}
			version, value, ok := splitSignature(entry)
			if !ok {
				continue
			}
			switch version {
			case VersionHMAC:
				var got [hmacSigLen]byte
				if !decodeSig(got[:], value) {
					continue
				}
				wellFormed = true
				if macs == nil {
					if len(v.hmacKeys) <= len(small) {
						macs = small[:len(v.hmacKeys)]
					} else {
						macs = make([][hmacSigLen]byte, len(v.hmacKeys))
					}
					for i, k := range v.hmacKeys {
						k.sum(&macs[i], id, ts, body)
					}
				}
				for i := range macs {
					if hmac.Equal(got[:], macs[i][:]) {
						return nil
					}
				}
			case VersionEd25519:
				var got [ed25519.SignatureSize]byte
				if !decodeSig(got[:], value) {
					continue
				}
				wellFormed = true
				if len(v.pubKeys) == 0 {
					continue
				}
				if msg == nil {
					msg = signedContent(id, ts, body)
				}
				for _, pub := range v.pubKeys {
					if ed25519.Verify(pub, msg, got[:]) {
						return nil
					}
				}
			default:
				wellFormed = true // a future version: well formed, not ours to check
			}
		}
	}
	if !wellFormed {
		return fmt.Errorf("%w: want space-separated \"<version>,<base64>\" entries", ErrMalformedSignature)
	}
	return fmt.Errorf("%w: no entry was made by a configured secret over this id, timestamp and body", ErrNoMatchingSignature)
}
