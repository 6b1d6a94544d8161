package delivery_test

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/webhook/delivery"
	"github.com/wedsync/integrations/webhook/webhooktest"
)

func TestBadInputNamesFieldAndRule(t *testing.T) {
	ctx := context.Background()
	m, err := delivery.NewManager() // default rules: https only, no private addresses
	require.NoError(t, err)

	endpointCases := []struct {
		in    delivery.EndpointInput
		field string
		rule  string
	}{
		{delivery.EndpointInput{URL: "https://crm.example/h"}, "supplier_id", "required"},
		{delivery.EndpointInput{SupplierID: "s 1", URL: "https://crm.example/h"}, "supplier_id", "letters, digits"},
		{delivery.EndpointInput{SupplierID: "s1"}, "url", "required"},
		{delivery.EndpointInput{SupplierID: "s1", URL: "http://crm.example/h"}, "url", "https"},
		{delivery.EndpointInput{SupplierID: "s1", URL: "https://127.0.0.1/h"}, "url", "loopback"},
		{delivery.EndpointInput{SupplierID: "s1", URL: "https://169.254.169.254/latest"}, "url", "metadata"},
		{delivery.EndpointInput{SupplierID: "s1", URL: "https://[::ffff:10.0.0.1]/h"}, "url", "IPv4-mapped"},
		{delivery.EndpointInput{SupplierID: "s1", URL: "https://crm.example/h", EventTypes: []string{"booking.**"}}, "event_types", "pattern"},
		{delivery.EndpointInput{SupplierID: "s1", URL: "https://crm.example/h", RateLimit: -1}, "rate_limit", "at least"},
		// A rate so low the endpoint would never deliver again.
		{delivery.EndpointInput{SupplierID: "s1", URL: "https://crm.example/h", RateLimit: 1e-300}, "rate_limit", "one a minute"},
		{delivery.EndpointInput{SupplierID: "s1", URL: "https://crm.example/h", RateLimit: math.Inf(1)}, "rate_limit", "finite"},
	}
	for _, c := range endpointCases {
		_, err := m.CreateEndpoint(ctx, c.in)
		var ve *delivery.ValidationError
		require.ErrorAs(t, err, &ve, "%+v", c.in)
		require.ErrorIs(t, err, delivery.ErrInvalid)
		require.Equal(t, c.field, ve.Field, "%+v", c.in)
		require.Contains(t, strings.ToLower(err.Error()), strings.ToLower(c.rule), "%+v", c.in)
	}

	messageCases := []struct {
		msg   delivery.Message
		field string
	}{
		{delivery.Message{EventType: "a.b", Payload: json.RawMessage(`{}`)}, "supplier_id"},
		{delivery.Message{SupplierID: "s1", Payload: json.RawMessage(`{}`)}, "event_type"},
		{delivery.Message{SupplierID: "s1", EventType: "booking.*", Payload: json.RawMessage(`{}`)}, "event_type"},
		{delivery.Message{SupplierID: "s1", EventType: "a.b"}, "payload"},
		{delivery.Message{SupplierID: "s1", EventType: "a.b", Payload: json.RawMessage(`{"a":`)}, "payload"},
		{delivery.Message{SupplierID: "s1", EventType: "a.b", Payload: json.RawMessage(`{}`), IdempotencyKey: strings.Repeat("k", 300)}, "idempotency_key"},
	}
	for _, c := range messageCases {
		_, err := m.Send(ctx, c.msg)
		var ve *delivery.ValidationError
		require.ErrorAs(t, err, &ve, "%+v", c.msg)
		require.Equal(t, c.field, ve.Field)
	}

	big := json.RawMessage(`"` + strings.Repeat("x", 256<<10) + `"`)
	_, err = m.Send(ctx, delivery.Message{SupplierID: "s1", EventType: "a.b", Payload: big})
	require.ErrorIs(t, err, delivery.ErrPayloadTooLarge)
	require.ErrorContains(t, err, "limit is 262144")

	_, err = m.SendTx(ctx, nil, delivery.Message{SupplierID: "s1", EventType: "a.b", Payload: json.RawMessage(`{}`)})
	require.ErrorIs(t, err, delivery.ErrNoDatabase)

	ep, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "s1", URL: "https://crm.example/h", RateLimit: 1.0 / 60})
	require.NoError(t, err, "one a minute is the slowest rate allowed")
	tiny := 1e-300
	_, err = m.UpdateEndpoint(ctx, ep.ID, delivery.EndpointUpdate{RateLimit: &tiny})
	require.ErrorIs(t, err, delivery.ErrInvalid)
	got, err := m.GetEndpoint(ctx, ep.ID)
	require.NoError(t, err)
	require.Equal(t, 1.0/60, got.RateLimit, "a refused update changes nothing")

	_, err = delivery.NewManager(delivery.WithRetention(time.Hour))
	require.ErrorIs(t, err, delivery.ErrInvalid)
	require.ErrorContains(t, err, "WithRetention: must be at least 48h")
	_, err = delivery.NewManager(delivery.WithRetrySchedule(), delivery.WithTimeout(-1))
	require.ErrorContains(t, err, "WithRetrySchedule: needs at least one delay")
	require.ErrorContains(t, err, "WithTimeout: must be positive", "every bad option is reported at once")
}

func TestSendBatchIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	log := newAttempts()
	m := newMemManager(t, log.hook())
	recv := webhooktest.NewReceiver(t)
	_, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "s1", URL: recv.URL})
	require.NoError(t, err)
	batch := []delivery.Message{
		{SupplierID: "s1", EventType: "a.b", Payload: json.RawMessage(`{}`)},
		{SupplierID: "s1", EventType: "a.b", Payload: json.RawMessage(`nope`)},
	}
	_, err = m.SendBatch(ctx, batch)
	var ve *delivery.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "messages[1].payload", ve.Field)
	batch[1].Payload = json.RawMessage(`{"ok":true}`)
	ids, err := m.SendBatch(ctx, batch)
	require.NoError(t, err)
	require.Len(t, ids, 2)
	got := map[string]bool{log.next(t).MessageID: true, log.next(t).MessageID: true}
	require.True(t, got[ids[0]] && got[ids[1]])
	require.Equal(t, 2, recv.Count(), "the rejected batch sent nothing")
}

func TestDefaultClientRefusesPrivateAddressesAtDialTime(t *testing.T) {
	// An endpoint whose name resolves to loopback passes the URL check
	// (no DNS at save time) but the dial is refused.
	ctx := context.Background()
	log := newAttempts()
	m, err := delivery.NewManager(delivery.WithInsecureHTTP(true), delivery.WithRetrySchedule(0), log.hook())
	require.NoError(t, err)
	require.NoError(t, m.Start(ctx))
	defer func() { require.NoError(t, m.Stop(ctx)) }()
	recv := webhooktest.NewReceiver(t)
	url := strings.Replace(recv.URL, "127.0.0.1", "localhost", 1)
	_, err = m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "s1", URL: url})
	require.NoError(t, err)
	_, err = m.Send(ctx, delivery.Message{SupplierID: "s1", EventType: "a.b", Payload: json.RawMessage(`{}`)})
	require.NoError(t, err)
	a := log.next(t)
	require.Equal(t, delivery.AttemptFailed, a.Status)
	require.Contains(t, a.Error, "loopback")
	require.Zero(t, recv.Count())
}
