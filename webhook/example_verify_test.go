package webhook_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/wedsync/integrations/webhook"
)

// A receiver checks a delivery against its endpoint secret. WithClock pins the
// clock to the message's time so that the example's output does not change;
// real receivers leave the default wall clock.
func ExampleVerifier_Verify() {
	v, err := webhook.NewVerifier("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		webhook.WithClock(clockwork.NewFakeClockAt(time.Unix(1614265330, 0))))
	if err != nil {
		panic(err)
	}

	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")

	fmt.Println(v.Verify(h, []byte(`{"test": 2432232314}`)))

	// The same JSON re-encoded is a different body: always verify raw bytes.
	err = v.Verify(h, []byte(`{"test":2432232314}`))
	fmt.Println(errors.Is(err, webhook.ErrNoMatchingSignature))
	// Output:
	// <nil>
	// true
}

// A sender signs a message; during a secret rotation it adds the old secret
// with WithAdditionalSecrets and the header carries both signatures.
func ExampleNewSigner() {
	s, err := webhook.NewSigner("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		panic(err)
	}
	ts := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)
	fmt.Println(s.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body))

	h, err := s.Headers("msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body)
	if err != nil {
		panic(err)
	}
	fmt.Println(h.Get("webhook-id"), h.Get("webhook-timestamp"))

	_, err = s.Headers("msg.1", ts, body)
	fmt.Println(err)
	// Output:
	// v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
	// msg_p5jXN8AQM9LWM0D4loKWxJek 1614265330
	// webhook: malformed webhook-id: id must be non-empty and contain no '.'
}

// The middleware verifies before the handler runs, and hands it the exact
// bytes that were signed. Its options (here a 64 KiB body cap) are the
// verifier's, so v.Middleware has the plain func(http.Handler) http.Handler
// shape that routers' Use methods take.
func ExampleVerifier_Middleware() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	v, err := webhook.NewVerifier(secret, webhook.WithMaxBodyBytes(64<<10))
	if err != nil {
		panic(err)
	}
	var verify func(http.Handler) http.Handler = v.Middleware // e.g. router.Use(v.Middleware)
	handler := verify(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Printf("handler got %q\n", body)
	}))

	s, err := webhook.NewSigner(secret)
	if err != nil {
		panic(err)
	}
	body := `{ "event" : "booking.confirmed" }`

	req := httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader(body))
	if err := s.SetHeaders(req.Header, "msg_1", time.Now(), []byte(body)); err != nil {
		panic(err)
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	fmt.Println(rec.Code)

	forged := httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader(`{"event":"refund"}`))
	forged.Header = req.Header.Clone()
	rec = httptest.NewRecorder()
	handler.ServeHTTP(rec, forged)
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// handler got "{ \"event\" : \"booking.confirmed\" }"
	// 200
	// 401 webhook: no matching signature: no entry was made by a configured secret over this id, timestamp and body
}

// An Ed25519 pair lets receivers hold only the public key.
func ExampleGenerateKeyPair() {
	secretKey, publicKey, err := webhook.GenerateKeyPair()
	if err != nil {
		panic(err)
	}
	s, _ := webhook.NewSigner(secretKey)   // sender side
	v, _ := webhook.NewVerifier(publicKey) // receiver side
	body := []byte(`{"ok":true}`)
	h, _ := s.Headers("msg_ed", time.Now(), body)
	fmt.Println(strings.HasPrefix(h.Get("webhook-signature"), "v1a,"), v.Verify(h, body))
	// Output: true <nil>
}
