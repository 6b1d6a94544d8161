package delivery_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/jackc/pgx/v5"

	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/webhook/delivery"
)

// Migrate creates the delivery tables and River's in the host's schema. It
// is idempotent and safe to run from several instances at start-up.
//
// This example runs against WEDSYNC_TEST_DATABASE_URL (go test skips it
// without one); a host passes its own pool.
func ExampleMigrate() {
	ctx := context.Background()
	pool, schema, cleanup := pgtest.Pool("example_migrate")
	defer cleanup()

	if err := delivery.Migrate(ctx, pool, delivery.WithSchema(schema)); err != nil {
		panic(err)
	}
	if err := delivery.Migrate(ctx, pool, delivery.WithSchema(schema)); err != nil { // a second run changes nothing
		panic(err)
	}
	var tables []string
	rows, _ := pool.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = $1 AND table_name LIKE 'webhook%' ORDER BY 1`, schema)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		panic(err)
	}
	fmt.Println(tables)
	// Output: [webhook_attempts webhook_endpoints webhook_messages]
}

// SendTx writes a webhook in the host's own transaction: the booking and
// its webhook commit together, or neither happens.
//
// This example runs against WEDSYNC_TEST_DATABASE_URL (go test skips it
// without one); a host passes its own pool.
func ExampleManager_SendTx() {
	ctx := context.Background()
	pool, schema, cleanup := pgtest.Pool("example_sendtx")
	defer cleanup()
	if err := delivery.Migrate(ctx, pool, delivery.WithSchema(schema)); err != nil {
		panic(err)
	}
	_, err := pool.Exec(ctx, `CREATE TABLE `+pgx.Identifier{schema, "bookings"}.Sanitize()+` (id text PRIMARY KEY, status text)`)
	if err != nil {
		panic(err)
	}

	received := make(chan string, 2)
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received <- r.Header.Get("webhook-id")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer vendor.Close()

	key := make([]byte, 32) // in production: the host's key, e.g. from WEDSYNC_ENCRYPTION_KEY
	_, _ = rand.Read(key)
	m, err := delivery.NewManager(
		delivery.WithPostgres(pool),
		delivery.WithSchema(schema),
		delivery.WithEncryptionKey(key),
		delivery.WithAllowedNetworks(netip.MustParsePrefix("127.0.0.0/8")), // the vendor below is on loopback
		delivery.WithInsecureHTTP(true),
	)
	if err != nil {
		panic(err)
	}
	if _, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_florist", URL: vendor.URL}); err != nil {
		panic(err)
	}
	if err := m.Start(ctx); err != nil {
		panic(err)
	}
	defer func() { _ = m.Stop(ctx) }()

	book := func(bookingID string, commit bool) string {
		tx, err := pool.Begin(ctx)
		if err != nil {
			panic(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := tx.Exec(ctx, `INSERT INTO `+pgx.Identifier{schema, "bookings"}.Sanitize()+` VALUES ($1, 'confirmed')`, bookingID); err != nil {
			panic(err)
		}
		id, err := m.SendTx(ctx, tx, delivery.Message{
			SupplierID:     "sup_florist",
			EventType:      "booking.confirmed",
			Payload:        json.RawMessage(`{"booking_id":"` + bookingID + `"}`),
			IdempotencyKey: "booking.confirmed:" + bookingID,
		})
		if err != nil {
			panic(err)
		}
		if commit {
			if err := tx.Commit(ctx); err != nil {
				panic(err)
			}
		}
		return id
	}
	book("bk_rolled_back", false) // never delivered: its transaction rolled back
	id := book("bk_1", true)
	fmt.Println("delivered the committed booking's webhook:", <-received == id)
	// Output: delivered the committed booking's webhook: true
}
