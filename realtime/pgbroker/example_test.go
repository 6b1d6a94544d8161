package pgbroker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/realtime/pgbroker"
)

// The host migrates once, then gives each hub instance a broker on its pool.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("WEDSYNC_DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	if err := pgbroker.Migrate(ctx, pool); err != nil {
		panic(err)
	}
	b, err := pgbroker.New(ctx, pool, pgbroker.WithHistorySize(500))
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
	fmt.Println(res.Complete, len(res.Publications))
}
