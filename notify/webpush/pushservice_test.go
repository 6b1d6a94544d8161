package webpush_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/notify/webpush"
)

// loopback is what tests allow the default client to reach.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

const testSubscriber = "mailto:ops@wedsync.example"

// browser is one subscribed browser: its ECDH key pair and auth secret, as
// PushManager.subscribe makes them. Only the push service's test double and
// the browser know the private key.
type browser struct {
	priv *ecdh.PrivateKey
	auth []byte
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	require.NoError(t, err)
	auth := make([]byte, 16)
	_, err = rand.Read(auth)
	require.NoError(t, err)
	return &browser{priv: priv, auth: auth}
}

// subscription returns the subscription the browser hands the host.
func (b *browser) subscription(endpoint string) *notify.PushSubscription {
	return &notify.PushSubscription{
		ID:         "psub_1",
		SupplierID: "sup_1",
		Kind:       notify.PushWeb,
		Endpoint:   endpoint,
		P256DH:     base64.RawURLEncoding.EncodeToString(b.priv.PublicKey().Bytes()),
		Auth:       base64.RawURLEncoding.EncodeToString(b.auth),
	}
}

// received is what the push service saw and made of one request.
type received struct {
	// Err is the first check that failed (VAPID or decryption).
	Err       error
	Payload   []byte // the decrypted plaintext
	BodyLen   int
	TTL       string
	Urgency   string
	Encoding  string
	VAPIDKey  string // the k= parameter
	Sub       string
	Aud       string
	Exp       time.Time
	RecordLen uint32
}

// pushService is a Web Push service on 127.0.0.1 (httptest): for every
// POST to /push/<id> it verifies the VAPID JWT against the k= key and
// decrypts the body with the browser registered under <id> (RFC 8291), then
// answers what respond says (201 with a Location by default).
type pushService struct {
	srv *httptest.Server

	mu       sync.Mutex
	browsers map[string]*browser
	got      []received
	respond  func(w http.ResponseWriter, r *http.Request)
}

func newPushService(t *testing.T) *pushService {
	t.Helper()
	ps := &pushService{browsers: map[string]*browser{}}
	ps.srv = httptest.NewServer(http.HandlerFunc(ps.serve))
	t.Cleanup(ps.srv.Close)
	return ps
}

// subscribe registers a new browser and returns its subscription.
func (ps *pushService) subscribe(t *testing.T) (*browser, *notify.PushSubscription) {
	t.Helper()
	b := newBrowser(t)
	ps.mu.Lock()
	id := fmt.Sprintf("sub%d", len(ps.browsers)+1)
	ps.browsers[id] = b
	ps.mu.Unlock()
	return b, b.subscription(ps.srv.URL + "/push/" + id)
}

func (ps *pushService) setRespond(f func(w http.ResponseWriter, r *http.Request)) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.respond = f
}

func (ps *pushService) requests() []received {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return append([]received(nil), ps.got...)
}

// only returns the one request the service received and fails on a check
// that failed in the service.
func (ps *pushService) only(t *testing.T) received {
	t.Helper()
	got := ps.requests()
	require.Len(t, got, 1)
	require.NoError(t, got[0].Err)
	return got[0]
}

func (ps *pushService) serve(w http.ResponseWriter, r *http.Request) {
	rec := received{
		TTL:      r.Header.Get("TTL"),
		Urgency:  r.Header.Get("Urgency"),
		Encoding: r.Header.Get("Content-Encoding"),
	}
	body, err := io.ReadAll(r.Body)
	rec.BodyLen = len(body)
	ps.mu.Lock()
	b := ps.browsers[strings.TrimPrefix(r.URL.Path, "/push/")]
	respond := ps.respond
	ps.mu.Unlock()
	switch {
	case err != nil:
		rec.Err = err
	case r.Method != http.MethodPost:
		rec.Err = fmt.Errorf("method %s", r.Method)
	case b == nil:
		rec.Err = fmt.Errorf("unknown subscription %s", r.URL.Path)
	default:
		rec.Err = verifyVAPID(r.Header.Get("Authorization"), "http://"+r.Host, &rec)
		if rec.Err == nil {
			rec.Payload, rec.RecordLen, rec.Err = decryptAES128GCM(b, body)
		}
	}
	ps.mu.Lock()
	ps.got = append(ps.got, rec)
	ps.mu.Unlock()
	switch {
	case rec.Err != nil:
		http.Error(w, rec.Err.Error(), http.StatusBadRequest)
	case respond != nil:
		respond(w, r)
	default:
		w.Header().Set("Location", "/message/m1")
		w.WriteHeader(http.StatusCreated)
	}
}

// verifyVAPID checks an RFC 8292 Authorization header: "vapid t=<JWT>,
// k=<public key>", the JWT signed ES256 with the key k, for audience aud.
func verifyVAPID(header, aud string, rec *received) error {
	params, ok := strings.CutPrefix(header, "vapid ")
	if !ok {
		return fmt.Errorf("authorization scheme is not vapid: %q", header)
	}
	var token string
	for p := range strings.SplitSeq(params, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch k {
		case "t":
			token = v
		case "k":
			rec.VAPIDKey = v
		}
	}
	keyBytes, err := base64.RawURLEncoding.DecodeString(rec.VAPIDKey)
	if err != nil {
		return fmt.Errorf("k: %w", err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), keyBytes)
	if err != nil {
		return fmt.Errorf("k: %w", err)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("t: not a JWS compact serialisation")
	}
	var hdr struct{ Alg, Typ string }
	if err := decodeJSONPart(parts[0], &hdr); err != nil {
		return fmt.Errorf("jwt header: %w", err)
	}
	if hdr.Alg != "ES256" {
		return fmt.Errorf("jwt alg %q", hdr.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return fmt.Errorf("jwt signature: %d bytes, %v", len(sig), err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return errors.New("jwt signature does not verify with k")
	}
	var claims struct {
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Sub string `json:"sub"`
	}
	if err := decodeJSONPart(parts[1], &claims); err != nil {
		return fmt.Errorf("jwt claims: %w", err)
	}
	rec.Aud, rec.Sub, rec.Exp = claims.Aud, claims.Sub, time.Unix(claims.Exp, 0)
	if claims.Aud != aud {
		return fmt.Errorf("jwt aud %q, want %q", claims.Aud, aud)
	}
	now := time.Now()
	if !rec.Exp.After(now) || rec.Exp.After(now.Add(24*time.Hour)) {
		return fmt.Errorf("jwt exp %s is not within 24 h of now", rec.Exp)
	}
	if claims.Sub == "" {
		return errors.New("jwt sub is empty")
	}
	return nil
}

func decodeJSONPart(part string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// decryptAES128GCM decrypts a Web Push message (RFC 8291, on the aes128gcm
// content coding of RFC 8188) as the browser b would, and returns the
// plaintext and the record size of the header.
func decryptAES128GCM(b *browser, body []byte) ([]byte, uint32, error) {
	// Header: salt(16) | rs(4) | idlen(1) | keyid(idlen) = as_public.
	if len(body) < 21 {
		return nil, 0, errors.New("body shorter than the aes128gcm header")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if idlen != 65 || len(body) < 21+idlen {
		return nil, rs, fmt.Errorf("keyid is %d bytes, want the 65-byte application server key", idlen)
	}
	asPublicBytes, ciphertext := body[21:21+idlen], body[21+idlen:]
	if uint32(len(ciphertext)) > rs {
		return nil, rs, fmt.Errorf("ciphertext %d bytes is more than one %d-byte record", len(ciphertext), rs)
	}
	asPublic, err := ecdh.P256().NewPublicKey(asPublicBytes)
	if err != nil {
		return nil, rs, fmt.Errorf("keyid: %w", err)
	}
	ecdhSecret, err := b.priv.ECDH(asPublic)
	if err != nil {
		return nil, rs, err
	}
	// IKM = HKDF(salt=auth_secret, ikm=ecdh_secret,
	//            info="WebPush: info\0" || ua_public || as_public, 32)
	keyInfo := append([]byte("WebPush: info\x00"), b.priv.PublicKey().Bytes()...)
	keyInfo = append(keyInfo, asPublicBytes...)
	ikm, err := hkdf.Key(sha256.New, ecdhSecret, b.auth, string(keyInfo), 32)
	if err != nil {
		return nil, rs, err
	}
	cek, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, rs, err
	}
	nonce, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, rs, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, rs, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, rs, err
	}
	plain, err := gcm.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, rs, fmt.Errorf("decrypt: %w", err)
	}
	// The last (here the only) record ends with 0x02 then zero padding.
	plain = bytes.TrimRight(plain, "\x00")
	if len(plain) == 0 || plain[len(plain)-1] != 0x02 {
		return nil, rs, errors.New("no 0x02 padding delimiter of a last record")
	}
	return plain[:len(plain)-1], rs, nil
}

// newProvider returns a provider with fresh keys that may reach 127.0.0.1
// over http.
func newProvider(t *testing.T, opts ...webpush.Option) *webpush.Provider {
	t.Helper()
	pub, priv, err := webpush.GenerateVAPIDKeys()
	require.NoError(t, err)
	opts = append([]webpush.Option{webpush.WithAllowedNetworks(loopback...), webpush.WithInsecureHTTP(true)}, opts...)
	p, err := webpush.New(pub, priv, testSubscriber, opts...)
	require.NoError(t, err)
	t.Cleanup(p.CloseIdleConnections)
	return p
}
