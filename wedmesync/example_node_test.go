package wedmesync_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/wedsync/integrations/wedmesync"
)

// A couple updates their dietary needs in WedMe; their caterer sees the
// change, their photographer does not.
func ExampleNode() {
	ctx := context.Background()
	l := links{"sup_feast": {"cpl_alex_sam": "caterer"}, "sup_lens": {"cpl_alex_sam": "photographer"}}
	wedme, _ := wedmesync.NewNode(wedmesync.SideWedMe, "wedme-1", wedmesync.WithAuthorizer(l))
	supplier, _ := wedmesync.NewNode(wedmesync.SideSupplier, "wedsync-1", wedmesync.WithAuthorizer(l),
		wedmesync.WithAppliedHandler(func(_ context.Context, a wedmesync.Applied) {
			fmt.Printf("%s sees %s: vegetarian %s\n", a.Record.Supplier, a.Record.Type, a.Record.Fields["vegetarian"].Value)
		}))
	peer := wedme.NewPeer("supplier-platform", wedmesync.MemoryTransport{Peer: supplier, From: wedmesync.SideWedMe})

	_, err := wedme.Record(ctx, wedmesync.Edit{Couple: "cpl_alex_sam", Type: wedmesync.TypeDietary, Record: "dietary",
		Set: map[string]json.RawMessage{"vegetarian": json.RawMessage("4")}})
	fmt.Println("recorded:", err)
	_, err = wedme.Record(ctx, wedmesync.Edit{Couple: "cpl_alex_sam", Type: wedmesync.TypeGuestSummary, Record: "guests",
		Set: map[string]json.RawMessage{"adults": json.RawMessage(`"lots"`)}})
	fmt.Println("refused:", err)
	if err := peer.SyncOnce(ctx); err != nil {
		panic(err)
	}
	// Output:
	// recorded: <nil>
	// refused: wedmesync: Change.Fields["adults"]: must be an integer 0 to 2000, got "lots"
	// sup_feast sees dietary_requirements: vegetarian 4
}
