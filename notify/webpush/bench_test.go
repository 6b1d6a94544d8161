package webpush_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/notify/webpush"
)

// BenchmarkSend measures one Send to a push service on 127.0.0.1 that
// answers 201 at once: encryption (one ECDH key pair per message), the
// VAPID signature and a loopback HTTP round trip.
func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	pub, priv, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		b.Fatal(err)
	}
	p, err := webpush.New(pub, priv, testSubscriber, webpush.WithAllowedNetworks(loopback...), webpush.WithInsecureHTTP(true))
	if err != nil {
		b.Fatal(err)
	}
	defer p.CloseIdleConnections()
	m := message(newBrowser(b).subscription(srv.URL + "/push/1"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Send(b.Context(), m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodePayloadTruncate measures the worst case of the payload
// encoder: a 64 KiB body cut to fit.
func BenchmarkEncodePayloadTruncate(b *testing.B) {
	pl := webpush.Payload{
		Title: "Booking confirmed", Body: strings.Repeat("Café 💍 ", 8192),
		NotificationID: "ntf_1", Category: notify.CategoryBooking, Priority: notify.PriorityNormal,
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := webpush.EncodePayload(pl); err != nil {
			b.Fatal(err)
		}
	}
}
