package pgbroker_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/pgbroker"
)

// The host migrates once, then gives each hub instance a broker on its pool
// (realtime.WithBroker).
//
// This example runs against WEDSYNC_TEST_DATABASE_URL (go test skips it
// without one); a host passes its own pool and usually the default schema.
func Example() {
	ctx := context.Background()
	pool, schema, cleanup := pgtest.Pool("example_pgbroker")
	defer cleanup()
	if err := pgbroker.Migrate(ctx, pool, pgbroker.WithSchema(schema)); err != nil {
		panic(err)
	}
	b, err := pgbroker.New(ctx, pool, pgbroker.WithSchema(schema), pgbroker.WithHistorySize(500))
	if err != nil {
		panic(err)
	}
	defer b.Close()

	p, err := b.Publish(ctx, "supplier:42", "kpi.updated", json.RawMessage(`{"bookings":7}`), "")
	if err != nil {
		panic(err)
	}
	// A client that saw p.ID() catches up from there.
	res, err := b.History(ctx, "supplier:42", realtime.HistoryQuery{After: p.Offset, Epoch: p.Epoch})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Complete, len(res.Publications), p.Offset)
	// Output: true 0 1
}
