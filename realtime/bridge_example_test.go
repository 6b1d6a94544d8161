package realtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/client"
	"github.com/wedsync/integrations/realtime/protocol"
	"github.com/wedsync/integrations/realtime/realtimetest"
)

// serviceRole stands in for Supabase's own authorisation of the backend's
// connection, which may follow any table.
type serviceRole struct{}

func (serviceRole) AuthorizeJoin(context.Context, *realtime.Principal, string) error { return nil }
func (serviceRole) AuthorizeBroadcast(context.Context, *realtime.Principal, string, string) error {
	return nil
}

// A Bridge follows the supplier_kpis table of a Supabase project through a
// client and re-broadcasts each change to the topic of its supplier in the
// hub the dashboards connect to, with the hub's history and replay. Here a
// realtimetest server plays Supabase: its hub emits the table's changes.
func ExampleBridge() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	supabase, err := realtimetest.StartServer(realtime.WithAuthorizer(serviceRole{}))
	if err != nil {
		panic(err)
	}
	defer supabase.Close()
	dashboards, err := realtimetest.StartServer() // the hub dashboards connect to
	if err != nil {
		panic(err)
	}
	defer dashboards.Close()

	// The backend's client of Supabase, and the bridge on it.
	supa, err := client.New(supabase.SocketURL, client.WithAPIKey(supabase.Token("backend")))
	if err != nil {
		panic(err)
	}
	defer supa.Close()
	if err := supa.Connect(ctx); err != nil {
		panic(err)
	}
	bridge, err := realtime.NewBridge(realtime.BridgeConfig{
		Client: supa, Hub: dashboards.Hub, Table: "supplier_kpis", Event: "kpi.updated",
	})
	if err != nil {
		panic(err)
	}
	if err := bridge.Start(ctx); err != nil {
		panic(err)
	}

	// Supplier 42's dashboard.
	dash, err := client.New(dashboards.SocketURL, client.WithAPIKey(dashboards.Token("42")))
	if err != nil {
		panic(err)
	}
	defer dash.Close()
	if err := dash.Connect(ctx); err != nil {
		panic(err)
	}
	got := make(chan client.BroadcastMessage, 1)
	ch := dash.Channel(realtime.SupplierTopic("42"), client.ChannelConfig{Replay: true})
	ch.OnBroadcast("kpi.updated", func(m client.BroadcastMessage) { got <- m })
	if err := ch.Subscribe(ctx); err != nil {
		panic(err)
	}

	// Supabase sends a change of the table.
	if _, err := supabase.Hub.EmitPostgresChange(ctx, "bridge:public.supplier_kpis", protocol.PostgresChange{
		Schema: "public", Table: "supplier_kpis", Type: "UPDATE", CommitTimestamp: "2026-06-06T12:00:00Z",
		Record: json.RawMessage(`{"supplier_id":"42","bookings":12}`),
	}); err != nil {
		panic(err)
	}
	m := <-got
	fmt.Println(m.Event, "offset", m.Meta.Offset)
	fmt.Println(string(m.Payload))
	if err := bridge.Stop(ctx); err != nil { // waits for the change in hand
		panic(err)
	}
	fmt.Printf("%+v\n", bridge.Stats())
	// Output:
	// kpi.updated offset 1
	// {"commit_timestamp":"2026-06-06T12:00:00Z","old_record":{},"record":{"supplier_id":"42","bookings":12},"table":"supplier_kpis","type":"UPDATE"}
	// {Forwarded:1 Rejected:0}
}
