package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/wedsync/integrations/webhook"
)

// benchMessage is the benchmarks' shared input: a 1 KiB body, signed now, with
// two v1 signatures in the header (a rotated-out secret's first, the valid
// one second, so the verifier has to look at both).
type benchMessage struct {
	id, ts string
	body   []byte
	header http.Header
}

func newBenchMessage(b *testing.B) benchMessage {
	b.Helper()
	old, err := webhook.GenerateSecret()
	if err != nil {
		b.Fatal(err)
	}
	s, err := webhook.NewSigner(old, webhook.WithAdditionalSecrets(vecSecret))
	if err != nil {
		b.Fatal(err)
	}
	m := benchMessage{id: vecID, body: bytes.Repeat([]byte(`{"k":"v"},`), 103)[:1024]}
	now := time.Now()
	m.ts = strconv.FormatInt(now.Unix(), 10)
	if m.header, err = s.Headers(m.id, now, m.body); err != nil {
		b.Fatal(err)
	}
	if n := len(strings.Fields(m.header.Get(webhook.HeaderWebhookSignature))); n != 2 {
		b.Fatalf("want 2 signatures, got %d", n)
	}
	return m
}

// BenchmarkVerify is our Verifier (wall clock, as the reference library uses).
func BenchmarkVerify(b *testing.B) {
	m := newBenchMessage(b)
	v, err := webhook.NewVerifier(vecSecret)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(m.body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(m.header, m.body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyParallel is BenchmarkVerify from GOMAXPROCS goroutines.
func BenchmarkVerifyParallel(b *testing.B) {
	m := newBenchMessage(b)
	v, err := webhook.NewVerifier(vecSecret)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(m.body)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := v.Verify(m.header, m.body); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerifyReference is the reference library on the same input.
func BenchmarkVerifyReference(b *testing.B) {
	m := newBenchMessage(b)
	wh, err := standardwebhooks.NewWebhook(vecSecret)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(m.body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := wh.Verify(m.body, m.header); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareHMAC is the floor: hmac.New, one Write of the ready-made
// signed content id.ts.body, Sum.
func BenchmarkBareHMAC(b *testing.B) {
	m := newBenchMessage(b)
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(vecSecret, webhook.PrefixHMACSecret))
	if err != nil {
		b.Fatal(err)
	}
	content := []byte(m.id + "." + m.ts + "." + string(m.body))
	b.SetBytes(int64(len(m.body)))
	b.ReportAllocs()
	var sink []byte
	for b.Loop() {
		h := hmac.New(sha256.New, key)
		h.Write(content)
		sink = h.Sum(nil)
	}
	_ = sink
}

// BenchmarkSign signs the same message with one HMAC secret.
func BenchmarkSign(b *testing.B) {
	m := newBenchMessage(b)
	s, err := webhook.NewSigner(vecSecret)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.SetBytes(int64(len(m.body)))
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Sign(m.id, now, m.body)
	}
}
