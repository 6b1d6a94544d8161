package delivery_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/webhook/delivery"
	"github.com/wedsync/integrations/webhook/webhooktest"
)

// burst queues n messages for one supplier in batches.
func burst(t *testing.T, m *delivery.Manager, supplier string, n int) {
	t.Helper()
	const batch = 10_000
	msgs := make([]delivery.Message, 0, batch)
	for sent := 0; sent < n; {
		msgs = msgs[:0]
		for i := 0; i < batch && sent+i < n; i++ {
			msgs = append(msgs, delivery.Message{SupplierID: supplier, EventType: "client.imported", Payload: json.RawMessage(`{"x":1}`)})
		}
		_, err := m.SendBatch(context.Background(), msgs)
		require.NoError(t, err)
		sent += len(msgs)
	}
}

// checkFair sends one message for a quiet supplier behind a 100,000-message
// burst from a busy one, and checks that it is delivered long before the
// burst drains.
func checkFair(t *testing.T, m *delivery.Manager, busyRecv, quietRecv *webhooktest.Receiver) {
	ctx := context.Background()
	const n = 100_000
	_, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_busy", URL: busyRecv.URL})
	require.NoError(t, err)
	_, err = m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_quiet", URL: quietRecv.URL})
	require.NoError(t, err)
	burst(t, m, "sup_busy", n)
	quietID, err := m.Send(ctx, delivery.Message{SupplierID: "sup_quiet", EventType: "booking.confirmed", Payload: json.RawMessage(`{}`)})
	require.NoError(t, err)

	require.NoError(t, m.Start(ctx))
	d := quietRecv.Wait(t, 1)[0]
	busyDone := busyRecv.Count()
	require.NoError(t, m.Stop(ctx))
	require.Equal(t, quietID, d.ID)
	t.Logf("the quiet supplier's message arrived after %d of the busy supplier's %d", busyDone, n)
	require.Less(t, busyDone, n/10, "the quiet supplier waited behind at most the busy one's fair share")
}

func TestFairnessMemory(t *testing.T) {
	m, err := delivery.NewManager(delivery.WithAllowedNetworks(loopback...), delivery.WithInsecureHTTP(true))
	require.NoError(t, err)
	checkFair(t, m, webhooktest.NewReceiver(t), webhooktest.NewReceiver(t))
}

func TestPostgresFairness(t *testing.T) {
	if testing.Short() {
		t.Skip("queues 100,000 messages")
	}
	db := migrated(t)
	checkFair(t, newPGManager(t, db), webhooktest.NewReceiver(t), webhooktest.NewReceiver(t))
}
