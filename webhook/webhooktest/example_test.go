package webhooktest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/wedsync/integrations/webhook"
	"github.com/wedsync/integrations/webhook/delivery"
	"github.com/wedsync/integrations/webhook/webhooktest"
)

// A host's test of its webhooks: a receiver that verifies signatures and
// fails the first request, and a fake clock that runs the retry at once
// instead of in five seconds.
func ExampleReceiver() {
	ctx := context.Background()
	clk := webhooktest.NewClock(time.Date(2027, 5, 1, 9, 0, 0, 0, time.UTC))
	m, err := delivery.NewManager(
		delivery.WithClock(clk),
		delivery.WithAllowedNetworks(netip.MustParsePrefix("127.0.0.0/8")),
		delivery.WithInsecureHTTP(true),
	)
	if err != nil {
		panic(err)
	}
	recv := webhooktest.StartReceiver()
	defer recv.Close()
	recv.Respond(func(n int, _ *http.Request) webhooktest.Response {
		if n == 1 {
			return webhooktest.Response{Status: http.StatusServiceUnavailable}
		}
		return webhooktest.Response{Status: http.StatusNoContent}
	})
	ep, _ := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_1", URL: recv.URL})
	secret, _ := m.EndpointSecret(ctx, ep.ID)
	v, _ := webhook.NewVerifier(secret, webhook.WithClock(clk)) // the receiver checks on the same clock
	recv.SetVerifier(v)

	_ = m.Start(ctx)
	defer func() { _ = m.Stop(ctx) }()
	_, _ = m.Send(ctx, delivery.Message{SupplierID: "sup_1", EventType: "booking.confirmed", Payload: json.RawMessage(`{}`)})
	if _, err := recv.WaitFor(ctx, 1); err != nil {
		panic(err)
	}
	_ = m.WaitIdle(ctx)      // the retry is scheduled...
	clk.Advance(time.Minute) // ...and its time comes at once
	got, _ := recv.WaitFor(ctx, 2)
	for _, d := range got {
		fmt.Println(d.N, d.Status, d.VerifyErr == nil)
	}
	// Output:
	// 1 503 true
	// 2 204 true
}
