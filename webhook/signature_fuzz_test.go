package webhook

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

const (
	fuzzSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	fuzzID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	fuzzTS     = "1614265330"
	fuzzBody   = `{"test": 2432232314}`
	fuzzSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

var fuzzSeed = []byte("wedsync-fuzz-ed25519-seed-32byte") // 32 bytes

// FuzzVerify feeds arbitrary header values and bodies to Verify. It must
// never panic, every error must be one of the typed errors, and whenever
// Verify accepts, an independent recomputation must agree that the message is
// authentic and fresh.
func FuzzVerify(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(fuzzSeed)
	pub := priv.Public().(ed25519.PublicKey)
	pk := PrefixEd25519PublicKey + base64.StdEncoding.EncodeToString(pub)
	other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another-secret-of-32-bytes-long!"))
	now := time.Unix(1614265330, 0)
	v, err := NewVerifier(fuzzSecret, WithSecrets(pk, other), WithClock(clockwork.NewFakeClockAt(now)))
	if err != nil {
		f.Fatal(err)
	}
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(fuzzSecret, PrefixHMACSecret))
	key2, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(other, PrefixHMACSecret))

	edSig := "v1a," + base64.StdEncoding.EncodeToString(
		ed25519.Sign(priv, []byte(fuzzID+"."+fuzzTS+"."+fuzzBody)))
	f.Add(fuzzID, fuzzTS, fuzzSig, []byte(fuzzBody))
	f.Add(fuzzID, fuzzTS, edSig, []byte(fuzzBody))
	f.Add(fuzzID, fuzzTS, "v2,abc "+fuzzSig+" "+edSig, []byte(fuzzBody))
	f.Add(fuzzID, fuzzTS, "  v1,x\t"+fuzzSig+"  ", []byte(fuzzBody))
	f.Add(fuzzID, "1614265031", fuzzSig, []byte(fuzzBody))
	f.Add(fuzzID, "01614265330", fuzzSig, []byte(fuzzBody))
	f.Add("msg.1", fuzzTS, fuzzSig, []byte(fuzzBody))
	f.Add(fuzzID, fuzzTS, "v1,"+strings.Repeat("A", 44), []byte{})
	f.Add("", "", "", []byte(nil))
	f.Add(fuzzID, fuzzTS, ",,, v1, ,v1 v1a,====", []byte("\x00\xff"))

	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{canonID: {id}, canonTimestamp: {ts}, canonSignature: {sig}}
		err := v.Verify(h, body)
		if err != nil {
			for _, want := range []error{ErrMissingHeader, ErrMalformedID, ErrMalformedTimestamp,
				ErrTimestampTooOld, ErrTimestampTooNew, ErrNoMatchingSignature} {
				if errors.Is(err, want) {
					return
				}
			}
			t.Fatalf("untyped error: %v", err)
		}

		// Accepted: check everything again, independently.
		if id == "" || strings.Contains(id, ".") {
			t.Fatalf("accepted bad id %q", id)
		}
		sec, perr := strconv.ParseInt(ts, 10, 64)
		if perr != nil || strconv.FormatInt(sec, 10) != ts {
			t.Fatalf("accepted non-canonical timestamp %q", ts)
		}
		if d := now.Sub(time.Unix(sec, 0)); d > DefaultTolerance || d < -DefaultTolerance {
			t.Fatalf("accepted timestamp %q outside tolerance", ts)
		}
		content := []byte(id + "." + ts + "." + string(body))
		valid := map[string]bool{}
		for _, k := range [][]byte{key, key2} {
			m := hmac.New(sha256.New, k)
			m.Write(content)
			valid["v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil))] = true
		}
		for _, entry := range strings.FieldsFunc(sig, func(r rune) bool { return r == ' ' || r == '\t' }) {
			if valid[entry] {
				return
			}
			if b64, ok := strings.CutPrefix(entry, "v1a,"); ok {
				s, err := base64.StdEncoding.DecodeString(b64)
				if err == nil && ed25519.Verify(pub, content, s) {
					return
				}
			}
		}
		t.Fatalf("accepted a message no entry of %q signs", sig)
	})
}

// FuzzParseSignatureHeader checks the allocation-free header parser against
// strings.FieldsFunc and strings.Cut, its round trip through a re-joined
// header, and the strictness of the value and timestamp decoders.
func FuzzParseSignatureHeader(f *testing.F) {
	f.Add(fuzzSig)
	f.Add("v1,abc v1a,def")
	f.Add("  v1,a\t\tv2,b  ,c v3, v4 ")
	f.Add("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=")
	f.Add("1614265330")
	f.Add("")

	f.Fuzz(func(t *testing.T, header string) {
		var entries []string
		for rest := header; ; {
			var e string
			e, rest = nextSignature(rest)
			if e == "" {
				if strings.Trim(rest, " \t") != "" {
					t.Fatalf("stopped early at %q", rest)
				}
				break
			}
			entries = append(entries, e)
		}
		want := strings.FieldsFunc(header, func(r rune) bool { return r == ' ' || r == '\t' })
		if strings.Join(entries, "\x00") != strings.Join(want, "\x00") || len(entries) != len(want) {
			t.Fatalf("parsed %q, want %q", entries, want)
		}

		// Round trip: re-joining with single spaces parses to the same entries.
		var again []string
		for rest := strings.Join(entries, " "); ; {
			var e string
			if e, rest = nextSignature(rest); e == "" {
				break
			}
			again = append(again, e)
		}
		if strings.Join(again, "\x00") != strings.Join(entries, "\x00") || len(again) != len(entries) {
			t.Fatalf("round trip %q -> %q", entries, again)
		}

		for _, e := range entries {
			version, value, ok := splitSignature(e)
			v2, val2, found := strings.Cut(e, ",")
			if ok != (found && v2 != "" && val2 != "") {
				t.Fatalf("splitSignature(%q) ok=%v", e, ok)
			}
			if !ok {
				continue
			}
			if version+","+value != e || strings.Contains(version, ",") {
				t.Fatalf("splitSignature(%q) = %q, %q", e, version, value)
			}
			var mac [hmacSigLen]byte
			if decodeSig(mac[:], value) && base64.StdEncoding.EncodeToString(mac[:]) != value {
				t.Fatalf("decodeSig accepted non-canonical %q", value)
			}
			var sig [ed25519.SignatureSize]byte
			if decodeSig(sig[:], value) && base64.StdEncoding.EncodeToString(sig[:]) != value {
				t.Fatalf("decodeSig accepted non-canonical %q", value)
			}
		}

		if n, ok := parseTimestamp(header); ok && strconv.FormatInt(n, 10) != header {
			t.Fatalf("parseTimestamp accepted non-canonical %q", header)
		}
	})
}

// FuzzNewVerifier feeds arbitrary strings to NewVerifier as the secret. It
// must never panic; a refusal must match ErrMalformedSecret (and ErrInvalid),
// name the field and not echo the secret, and NewSigner must refuse the
// same string. An accepted whsec_ (or bare base64) or whsk_ secret must
// verify what NewSigner signs with it, and nothing else; an accepted whpk_
// key must be, by the independent curve model of
// ed25519key_internal_test.go, a canonical point not of small order.
func FuzzNewVerifier(f *testing.F) {
	sk := ed25519.NewKeyFromSeed(fuzzSeed)
	f.Add(fuzzSecret)
	f.Add(strings.TrimPrefix(fuzzSecret, PrefixHMACSecret))
	f.Add(PrefixHMACSecret + base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 24)))
	f.Add(PrefixHMACSecret + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 65)))
	f.Add(PrefixEd25519SecretKey + base64.StdEncoding.EncodeToString(sk))
	f.Add(PrefixEd25519SecretKey + base64.StdEncoding.EncodeToString(fuzzSeed))
	f.Add(PrefixEd25519PublicKey + base64.StdEncoding.EncodeToString(sk.Public().(ed25519.PublicKey)))
	for _, h := range smallOrderPoints {
		b, _ := hex.DecodeString(h)
		f.Add(PrefixEd25519PublicKey + base64.StdEncoding.EncodeToString(b))
	}
	yMax := append(bytes.Repeat([]byte{0xff}, 31), 0x7f) // y = 2^255 - 1 = p + 18
	f.Add(PrefixEd25519PublicKey + base64.StdEncoding.EncodeToString(yMax))
	y3 := append([]byte{3}, make([]byte, 31)...) // y = 3: a point, not small
	f.Add(PrefixEd25519PublicKey + base64.RawStdEncoding.EncodeToString(y3))
	f.Add("")
	f.Add("whsec_")
	f.Add("whpk_")
	f.Add("whsk_====")
	f.Add("whsec_ MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	f.Add("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n")

	now := time.Unix(1614265330, 0)
	clock := clockwork.NewFakeClockAt(now)
	f.Fuzz(func(t *testing.T, secret string) {
		v, err := NewVerifier(secret, WithClock(clock))
		if err != nil {
			if !errors.Is(err, ErrMalformedSecret) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not match ErrMalformedSecret and ErrInvalid: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "webhook: malformed secret: secret: ") {
				t.Fatalf("error does not name the field: %v", err)
			}
			payload := secret
			for _, p := range []string{PrefixHMACSecret, PrefixEd25519SecretKey, PrefixEd25519PublicKey} {
				payload = strings.TrimPrefix(payload, p)
			}
			if len(payload) >= 16 && strings.Contains(err.Error(), payload) {
				t.Fatalf("error echoes the secret: %v", err)
			}
			if _, err := NewSigner(secret); err == nil {
				t.Fatal("NewSigner accepts a secret NewVerifier refuses")
			}
			return
		}

		if raw, ok := strings.CutPrefix(secret, PrefixEd25519PublicKey); ok {
			if _, err := NewSigner(secret); err == nil {
				t.Fatal("NewSigner accepts a public key")
			}
			pub, err := decodeBase64(raw)
			if err != nil || len(pub) != ed25519.PublicKeySize {
				t.Fatalf("accepted a whpk_ key that does not decode to 32 bytes")
			}
			P, onCurve, canonical := tDecode(pub)
			if !onCurve || !canonical || tMul(big.NewInt(8), P).equal(tIdentity()) {
				t.Fatalf("accepted whpk_ %x: point=%v canonical=%v (or small order)", pub, onCurve, canonical)
			}
			return
		}

		s, err := NewSigner(secret)
		if err != nil {
			t.Fatalf("NewVerifier accepts a secret NewSigner refuses: %v", err)
		}
		body := []byte(secret)
		h, err := s.Headers("msg_fuzz", now, body)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(h, body); err != nil {
			t.Fatalf("does not verify its own signature: %v", err)
		}
		if err := v.Verify(h, append(body, '!')); !errors.Is(err, ErrNoMatchingSignature) {
			t.Fatalf("verified a tampered body: %v", err)
		}
	})
}
