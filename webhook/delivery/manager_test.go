package delivery_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/webhook/delivery"
	"github.com/wedsync/integrations/webhook/webhooktest"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

var t0 = time.Date(2026, 6, 6, 9, 0, 0, 0, time.UTC)

// attempts collects logged attempts through WithAttemptHook so tests can
// wait for them instead of polling.
type attempts struct{ ch chan delivery.Attempt }

func newAttempts() *attempts { return &attempts{ch: make(chan delivery.Attempt, 1<<16)} }

func (a *attempts) hook() delivery.Option {
	return delivery.WithAttemptHook(func(at delivery.Attempt) { a.ch <- at })
}

// next waits for the next logged attempt.
func (a *attempts) next(t *testing.T) delivery.Attempt {
	t.Helper()
	select {
	case at := <-a.ch:
		return at
	case <-time.After(time.Minute):
		t.Fatal("no attempt logged within a minute")
		return delivery.Attempt{}
	}
}

// newMemManager starts a memory-mode manager allowed to reach loopback.
func newMemManager(t *testing.T, opts ...delivery.Option) *delivery.Manager {
	t.Helper()
	base := []delivery.Option{delivery.WithAllowedNetworks(loopback...), delivery.WithInsecureHTTP(true)}
	m, err := delivery.NewManager(append(base, opts...)...)
	require.NoError(t, err)
	require.NoError(t, m.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, m.Stop(context.Background())) })
	return m
}

func TestSendDeliversSignedPayloadToMatchingEndpoints(t *testing.T) {
	ctx := context.Background()
	log := newAttempts()
	m := newMemManager(t, log.hook())
	recvA := webhooktest.NewReceiver(t)
	recvB := webhooktest.NewReceiver(t)
	epA, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_1", URL: recvA.URL + "/hooks", EventTypes: []string{"booking.*"}})
	require.NoError(t, err)
	epB, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_1", URL: recvB.URL, EventTypes: []string{"payment.received"}})
	require.NoError(t, err)
	_, err = m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_2", URL: recvB.URL})
	require.NoError(t, err)
	secretA, err := m.EndpointSecret(ctx, epA.ID)
	require.NoError(t, err)
	require.NoError(t, recvA.Verify(secretA))
	secretB, err := m.EndpointSecret(ctx, epB.ID)
	require.NoError(t, err)
	require.NoError(t, recvB.Verify(secretB))

	payload := json.RawMessage(`{"booking_id": "bk_1",   "date":"2027-05-01"}`)
	id, err := m.Send(ctx, delivery.Message{SupplierID: "sup_1", EventType: "booking.confirmed", Payload: payload})
	require.NoError(t, err)
	id2, err := m.Send(ctx, delivery.Message{SupplierID: "sup_1", EventType: "payment.received", Payload: json.RawMessage(`{"amount":100}`)})
	require.NoError(t, err)

	got := recvA.Wait(t, 1)[0]
	require.Equal(t, id, got.ID)
	require.NoError(t, got.VerifyErr)
	require.Equal(t, string(payload), string(got.Body), "payload is sent byte for byte")
	require.Equal(t, "application/json", got.Header.Get("Content-Type"))
	require.Contains(t, got.Header.Get("User-Agent"), "WedSync-Webhooks")
	require.NotEmpty(t, got.Header.Get("webhook-timestamp"))
	gotB := recvB.Wait(t, 1)[0]
	require.Equal(t, id2, gotB.ID)
	require.NoError(t, gotB.VerifyErr)

	log.next(t)
	log.next(t)
	all, err := m.ListAttempts(ctx, delivery.AttemptQuery{SupplierID: "sup_1"})
	require.NoError(t, err)
	require.Len(t, all, 2)
	a, err := m.ListAttempts(ctx, delivery.AttemptQuery{MessageID: id})
	require.NoError(t, err)
	require.Len(t, a, 1)
	require.Equal(t, delivery.AttemptSucceeded, a[0].Status)
	require.Equal(t, 204, a[0].ResponseStatus)
	require.Equal(t, epA.ID, a[0].EndpointID)
	require.Equal(t, 1, recvA.Count(), "endpoint A's filter excludes payment.received")
}

// Message.EndpointID sends to that one endpoint whatever its filter, and
// to no other; an endpoint of another supplier is refused before anything
// is stored.
func TestSendToOneEndpoint(t *testing.T) {
	ctx := context.Background()
	log := newAttempts()
	m := newMemManager(t, log.hook())
	recvA := webhooktest.NewReceiver(t)
	recvB := webhooktest.NewReceiver(t)
	_, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_1", URL: recvA.URL, EventTypes: []string{"booking.*"}})
	require.NoError(t, err)
	epB, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_1", URL: recvB.URL, EventTypes: []string{"payment.received"}})
	require.NoError(t, err)
	other, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_2", URL: recvA.URL})
	require.NoError(t, err)

	// Both sends carry one idempotency key: had the refused message been
	// stored, the second would be taken for its repeat and sent nowhere.
	const key = "one-key"
	_, err = m.Send(ctx, delivery.Message{SupplierID: "sup_1", EventType: "booking.test", Payload: json.RawMessage(`{}`), EndpointID: other.ID, IdempotencyKey: key})
	var ve *delivery.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "endpoint_id", ve.Field)
	require.Contains(t, err.Error(), "is not an endpoint of supplier")

	// booking.test matches A's filter and not B's: only B, named, gets it.
	id, err := m.Send(ctx, delivery.Message{SupplierID: "sup_1", EventType: "booking.test", Payload: json.RawMessage(`{"test":true}`), EndpointID: epB.ID, IdempotencyKey: key})
	require.NoError(t, err)
	require.Equal(t, epB.ID, log.next(t).EndpointID)
	require.Equal(t, id, recvB.Wait(t, 1)[0].ID)
	require.NoError(t, m.WaitIdle(ctx))
	require.Equal(t, 0, recvA.Count(), "the endpoint not named gets nothing, although its filter takes the type")
	all, err := m.ListAttempts(ctx, delivery.AttemptQuery{SupplierID: "sup_1"})
	require.NoError(t, err)
	require.Len(t, all, 1, "the refused message left no attempt")
}
