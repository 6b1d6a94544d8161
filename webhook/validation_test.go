package webhook_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/webhook"
	"github.com/wedsync/integrations/webhook/webhooktest"
)

func TestBadInputNamesFieldAndRule(t *testing.T) {
	ctx := context.Background()
	m, err := webhook.NewManager() // default rules: https only, no private addresses
	require.NoError(t, err)

	endpointCases := []struct {
		in    webhook.EndpointInput
		field string
		rule  string
	}{
		{webhook.EndpointInput{URL: "https://crm.example/h"}, "supplier_id", "required"},
		{webhook.EndpointInput{SupplierID: "s 1", URL: "https://crm.example/h"}, "supplier_id", "letters, digits"},
		{webhook.EndpointInput{SupplierID: "s1"}, "url", "required"},
		{webhook.EndpointInput{SupplierID: "s1", URL: "http://crm.example/h"}, "url", "https"},
		{webhook.EndpointInput{SupplierID: "s1", URL: "https://127.0.0.1/h"}, "url", "loopback"},
		{webhook.EndpointInput{SupplierID: "s1", URL: "https://169.254.169.254/latest"}, "url", "metadata"},
		{webhook.EndpointInput{SupplierID: "s1", URL: "https://[::ffff:10.0.0.1]/h"}, "url", "IPv4-mapped"},
		{webhook.EndpointInput{SupplierID: "s1", URL: "https://crm.example/h", EventTypes: []string{"booking.**"}}, "event_types", "pattern"},
		{webhook.EndpointInput{SupplierID: "s1", URL: "https://crm.example/h", RateLimit: -1}, "rate_limit", ">= 0"},
	}
	for _, c := range endpointCases {
		_, err := m.CreateEndpoint(ctx, c.in)
		var ve *webhook.ValidationError
		require.ErrorAs(t, err, &ve, "%+v", c.in)
		require.ErrorIs(t, err, webhook.ErrInvalid)
		require.Equal(t, c.field, ve.Field, "%+v", c.in)
		require.Contains(t, strings.ToLower(err.Error()), strings.ToLower(c.rule), "%+v", c.in)
	}

	messageCases := []struct {
		msg   webhook.Message
		field string
	}{
		{webhook.Message{EventType: "a.b", Payload: json.RawMessage(`{}`)}, "supplier_id"},
		{webhook.Message{SupplierID: "s1", Payload: json.RawMessage(`{}`)}, "event_type"},
		{webhook.Message{SupplierID: "s1", EventType: "booking.*", Payload: json.RawMessage(`{}`)}, "event_type"},
		{webhook.Message{SupplierID: "s1", EventType: "a.b"}, "payload"},
		{webhook.Message{SupplierID: "s1", EventType: "a.b", Payload: json.RawMessage(`{"a":`)}, "payload"},
		{webhook.Message{SupplierID: "s1", EventType: "a.b", Payload: json.RawMessage(`{}`), IdempotencyKey: strings.Repeat("k", 300)}, "idempotency_key"},
	}
	for _, c := range messageCases {
		_, err := m.Send(ctx, c.msg)
		var ve *webhook.ValidationError
		require.ErrorAs(t, err, &ve, "%+v", c.msg)
		require.Equal(t, c.field, ve.Field)
	}

	big := json.RawMessage(`"` + strings.Repeat("x", 256<<10) + `"`)
	_, err = m.Send(ctx, webhook.Message{SupplierID: "s1", EventType: "a.b", Payload: big})
	require.ErrorIs(t, err, webhook.ErrPayloadTooLarge)
	require.ErrorContains(t, err, "limit is 262144")

	_, err = m.SendTx(ctx, nil, webhook.Message{SupplierID: "s1", EventType: "a.b", Payload: json.RawMessage(`{}`)})
	require.ErrorIs(t, err, webhook.ErrNoDatabase)

	_, err = webhook.NewManager(webhook.WithRetention(time.Hour))
	require.ErrorContains(t, err, "retention")
}

func TestSendBatchIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	log := newAttempts()
	m := newMemManager(t, log.hook())
	recv := webhooktest.NewReceiver(t)
	_, err := m.CreateEndpoint(ctx, webhook.EndpointInput{SupplierID: "s1", URL: recv.URL})
	require.NoError(t, err)
	batch := []webhook.Message{
		{SupplierID: "s1", EventType: "a.b", Payload: json.RawMessage(`{}`)},
		{SupplierID: "s1", EventType: "a.b", Payload: json.RawMessage(`nope`)},
	}
	_, err = m.SendBatch(ctx, batch)
	var ve *webhook.ValidationError
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
	m, err := webhook.NewManager(webhook.WithInsecureHTTP(true), webhook.WithRetrySchedule(0), log.hook())
	require.NoError(t, err)
	require.NoError(t, m.Start(ctx))
	defer func() { require.NoError(t, m.Stop(ctx)) }()
	recv := webhooktest.NewReceiver(t)
	url := strings.Replace(recv.URL, "127.0.0.1", "localhost", 1)
	_, err = m.CreateEndpoint(ctx, webhook.EndpointInput{SupplierID: "s1", URL: url})
	require.NoError(t, err)
	_, err = m.Send(ctx, webhook.Message{SupplierID: "s1", EventType: "a.b", Payload: json.RawMessage(`{}`)})
	require.NoError(t, err)
	a := log.next(t)
	require.Equal(t, webhook.AttemptFailed, a.Status)
	require.Contains(t, a.Error, "loopback")
	require.Zero(t, recv.Count())
}
