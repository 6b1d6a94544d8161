package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/wedsync/integrations/webhook"
	"github.com/wedsync/integrations/webhook/delivery"
)

// A memory-mode manager delivering one signed message to a vendor's
// receiver that verifies it with the same package.
func ExampleManager() {
	ctx := context.Background()
	m, err := delivery.NewManager(
		// The receiver below listens on loopback, which the default SSRF
		// rules refuse; a demo allows it explicitly.
		delivery.WithAllowedNetworks(netip.MustParsePrefix("127.0.0.0/8")),
		delivery.WithInsecureHTTP(true),
	)
	if err != nil {
		panic(err)
	}

	received := make(chan string, 1)
	var verifier *webhook.Verifier
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		verifier.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			received <- r.Header.Get("webhook-id")
			w.WriteHeader(http.StatusNoContent)
		})).ServeHTTP(w, r)
	}))
	defer vendor.Close()

	ep, _ := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_florist", URL: vendor.URL, EventTypes: []string{"booking.*"}})
	secret, _ := m.EndpointSecret(ctx, ep.ID) // the vendor configures this
	verifier, _ = webhook.NewVerifier(secret)

	_ = m.Start(ctx)
	defer func() { _ = m.Stop(ctx) }()
	id, err := m.Send(ctx, delivery.Message{
		SupplierID: "sup_florist",
		EventType:  "booking.confirmed",
		Payload:    json.RawMessage(`{"booking_id":"bk_123","ceremony":"2027-05-01T14:00:00Z"}`),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("delivered and verified:", <-received == id)
	// Output: delivered and verified: true
}
