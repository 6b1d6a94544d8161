package realtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/protocol"
)

// allowAll stands in for Supabase's own authorisation of the backend's
// service connection.
type allowAll struct{}

func (allowAll) AuthorizeJoin(context.Context, *realtime.Principal, string) error { return nil }
func (allowAll) AuthorizeBroadcast(context.Context, *realtime.Principal, string, string) error {
	return nil
}

// TestBridgeForwardsValidChangesToTheSuppliersTopic plays Supabase with one
// hub (it emits postgres_changes), follows supplier_kpis through a Client
// and a Bridge, and checks that dashboards of the right supplier on the
// second hub get each valid change, and that invalid ones are refused.
func TestBridgeForwardsValidChangesToTheSuppliersTopic(t *testing.T) {
	supabase := newHubEnv(t, realtime.WithAuthorizer(allowAll{}))
	dashboards := newHubEnv(t)
	supa := newTestClient(t, supabase.url, "sup:service")

	refused := make(chan error, 10)
	bridge, err := realtime.NewBridge(realtime.BridgeConfig{
		Client: supa, Hub: dashboards.hub, Table: "supplier_kpis", Event: "kpi.updated",
		OnInvalid: func(_ protocol.PostgresChange, err error) { refused <- err },
	})
	require.NoError(t, err)
	require.NoError(t, bridge.Start(waitCtx(t)))

	one := dialPeer(t, dashboards.url, "sup:1", protocol.VSN1)
	one.mustJoin("supplier:1", joinPayload)
	two := dialPeer(t, dashboards.url, "sup:2", protocol.VSN2)
	two.mustJoin("supplier:2", joinPayload)

	emit := func(c protocol.PostgresChange) {
		t.Helper()
		c.Schema = "public"
		c.Table = "supplier_kpis"
		_, err := supabase.hub.EmitPostgresChange(ctxBG, "bridge:public.supplier_kpis", c)
		require.NoError(t, err)
	}
	emit(protocol.PostgresChange{Type: "UPDATE", Record: json.RawMessage(`{"supplier_id":"1","bookings":12}`)})
	b := one.readBroadcast()
	require.Equal(t, "kpi.updated", b.Event)
	var got struct {
		Type   string          `json:"type"`
		Record json.RawMessage `json:"record"`
	}
	require.NoError(t, json.Unmarshal(b.Payload, &got))
	require.Equal(t, "UPDATE", got.Type)
	require.JSONEq(t, `{"supplier_id":"1","bookings":12}`, string(got.Record))

	emit(protocol.PostgresChange{Type: "INSERT", Record: json.RawMessage(`{"supplier_id":2,"bookings":1}`)})
	require.Equal(t, "kpi.updated", two.readBroadcast().Event)

	// A supplier id that could reach another topic, a row without one, a
	// row that is not an object: refused, and nothing reaches a dashboard.
	emit(protocol.PostgresChange{Type: "UPDATE", Record: json.RawMessage(`{"supplier_id":"1:admin"}`)})
	emit(protocol.PostgresChange{Type: "UPDATE", Record: json.RawMessage(`{"bookings":5}`)})
	emit(protocol.PostgresChange{Type: "DELETE", OldRecord: json.RawMessage(`{"supplier_id":{"x":1}}`)})
	for range 3 {
		err := recv(t, refused)
		require.True(t, errors.Is(err, realtime.ErrInvalidChange), "%v", err)
	}
	emit(protocol.PostgresChange{Type: "DELETE", OldRecord: json.RawMessage(`{"supplier_id":"1","bookings":12}`)})
	require.Contains(t, string(one.readBroadcast().Payload), `"DELETE"`, "the next frame supplier 1 sees is the delete")
	// The counter moves after Broadcast returns, which can be after the
	// dashboard read the frame: read it once the bridge has stopped.
	require.NoError(t, bridge.Stop(waitCtx(t)))
	require.Equal(t, bridgeStats(3, 3), bridge.Stats())

	_, err = realtime.NewBridge(realtime.BridgeConfig{Client: supa, Hub: dashboards.hub})
	require.ErrorIs(t, err, realtime.ErrInvalid)
	require.ErrorContains(t, err, "realtime: BridgeConfig.Table: is required")
	_, err = realtime.NewBridge(realtime.BridgeConfig{Client: supa, Hub: dashboards.hub, Table: "t", Suppliers: []string{"a,b"}})
	require.ErrorContains(t, err, "realtime: BridgeConfig.Suppliers[0]: ")
	_, err = realtime.NewBridge(realtime.BridgeConfig{Event: "a\nb"})
	for _, field := range []string{"Client", "Hub", "Table", "Event"} {
		require.ErrorContains(t, err, "realtime: BridgeConfig."+field+": ", "every bad field at once")
	}
}

func bridgeStats(forwarded, rejected int64) realtime.BridgeStats {
	return realtime.BridgeStats{Forwarded: forwarded, Rejected: rejected}
}
