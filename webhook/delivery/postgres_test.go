package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/webhook/delivery"
	"github.com/wedsync/integrations/webhook/webhooktest"
)

var testKey = bytes.Repeat([]byte{0x42}, 32)

// newPGManager builds a Postgres-mode manager on db's schema (not started).
func newPGManager(t *testing.T, db *pgtest.DB, opts ...delivery.Option) *delivery.Manager {
	t.Helper()
	base := []delivery.Option{
		delivery.WithPostgres(db.Pool), delivery.WithSchema(db.Schema), delivery.WithEncryptionKey(testKey),
		delivery.WithAllowedNetworks(loopback...), delivery.WithInsecureHTTP(true),
	}
	m, err := delivery.NewManager(append(base, opts...)...)
	require.NoError(t, err)
	return m
}

func migrated(t *testing.T) *pgtest.DB {
	t.Helper()
	db := pgtest.New(t, "webhook")
	require.NoError(t, delivery.Migrate(context.Background(), db.Pool, delivery.WithSchema(db.Schema)))
	require.NoError(t, delivery.Migrate(context.Background(), db.Pool, delivery.WithSchema(db.Schema)), "Migrate is idempotent")
	return db
}

// numbered is n messages of supplier sup_1 and eventType, each payload
// numbered so that no two are alike.
func numbered(eventType string, n int) []delivery.Message {
	msgs := make([]delivery.Message, n)
	for i := range msgs {
		msgs[i] = delivery.Message{SupplierID: "sup_1", EventType: eventType, Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
	}
	return msgs
}

func start(t *testing.T, m *delivery.Manager) {
	t.Helper()
	require.NoError(t, m.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, m.Stop(context.Background())) })
}

func TestPostgresSendTxRollbackSendsNothingCommitDelivers(t *testing.T) {
	ctx := context.Background()
	db := migrated(t)
	log := newAttempts()
	m := newPGManager(t, db, log.hook())
	recv := webhooktest.NewReceiver(t)
	ep, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_1", URL: recv.URL})
	require.NoError(t, err)
	secret, err := m.EndpointSecret(ctx, ep.ID)
	require.NoError(t, err)
	require.NoError(t, recv.Verify(secret))
	start(t, m)

	// The host's booking and its webhook in one transaction, rolled back.
	_, err = db.Pool.Exec(ctx, "CREATE TABLE bookings (id text PRIMARY KEY)")
	require.NoError(t, err)
	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO bookings VALUES ('bk_rolled_back')")
	require.NoError(t, err)
	rolledBack, err := m.SendTx(ctx, tx, delivery.Message{SupplierID: "sup_1", EventType: "booking.confirmed", Payload: json.RawMessage(`{"id":"bk_rolled_back"}`)})
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))

	// And committed.
	tx, err = db.Pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO bookings VALUES ('bk_committed')")
	require.NoError(t, err)
	committed, err := m.SendTx(ctx, tx, delivery.Message{SupplierID: "sup_1", EventType: "booking.confirmed", Payload: json.RawMessage(`{"id":"bk_committed"}`)})
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))

	d := recv.Wait(t, 1)[0]
	require.Equal(t, committed, d.ID)
	require.NoError(t, d.VerifyErr)
	require.Equal(t, committed, log.next(t).MessageID)

	// A marker message sent after both: once it arrives, anything the
	// rolled-back transaction could have queued would have arrived too.
	marker, err := m.Send(ctx, delivery.Message{SupplierID: "sup_1", EventType: "marker", Payload: json.RawMessage(`{}`)})
	require.NoError(t, err)
	require.Equal(t, marker, log.next(t).MessageID)
	for _, d := range recv.Deliveries() {
		require.NotEqual(t, rolledBack, d.ID, "a rolled-back SendTx sends nothing")
	}
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM webhook_messages WHERE id = $1", rolledBack).Scan(&n))
	require.Zero(t, n)
	a, err := m.ListAttempts(ctx, delivery.AttemptQuery{EndpointID: ep.ID, Status: delivery.AttemptSucceeded})
	require.NoError(t, err)
	require.Len(t, a, 2)
}

func TestPostgresSecretsEncryptedAtRestAndKeyRotation(t *testing.T) {
	ctx := context.Background()
	db := migrated(t)
	m := newPGManager(t, db)
	ep, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_1", URL: "https://vendor.example/hooks"})
	require.NoError(t, err)
	secret, err := m.EndpointSecret(ctx, ep.ID)
	require.NoError(t, err)
	require.Regexp(t, `^whsec_[A-Za-z0-9+/]{43}=$`, secret, "32 random bytes")

	var raw []byte
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT secrets FROM webhook_endpoints WHERE id = $1", ep.ID).Scan(&raw))
	require.NotContains(t, string(raw), "whsec_")
	require.NotContains(t, string(raw), secret[6:16])

	// The host rotates its key: new key first, old key still opens.
	newKey := bytes.Repeat([]byte{0x43}, 32)
	m2 := newPGManager(t, db, delivery.WithEncryptionKey(newKey, testKey))
	got, err := m2.EndpointSecret(ctx, ep.ID)
	require.NoError(t, err)
	require.Equal(t, secret, got)
	m3 := newPGManager(t, db, delivery.WithEncryptionKey(newKey))
	_, err = m3.EndpointSecret(ctx, ep.ID)
	require.Error(t, err, "without the old key the secret cannot be read")

	_, err = delivery.NewManager(delivery.WithPostgres(db.Pool))
	require.ErrorIs(t, err, delivery.ErrInvalid)
	require.ErrorContains(t, err, "WithEncryptionKey: is required in Postgres mode")
}

func TestPostgresIdempotencyStatsAndQueries(t *testing.T) {
	ctx := context.Background()
	db := migrated(t)
	log := newAttempts()
	m := newPGManager(t, db, log.hook(), delivery.WithRetrySchedule(0))
	ok := webhooktest.NewReceiver(t)
	bad := webhooktest.NewReceiver(t)
	bad.Respond(func(int, *http.Request) webhooktest.Response { return webhooktest.Response{Status: 500, Body: "down"} })
	epOK, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_1", URL: ok.URL})
	require.NoError(t, err)
	epBad, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_1", URL: bad.URL, EventTypes: []string{"booking.*"}})
	require.NoError(t, err)
	start(t, m)

	msg := delivery.Message{SupplierID: "sup_1", EventType: "booking.confirmed", Payload: json.RawMessage(`{"b":1}`), IdempotencyKey: "k1"}
	id1, err := m.Send(ctx, msg)
	require.NoError(t, err)
	id2, err := m.Send(ctx, msg)
	require.NoError(t, err)
	require.Equal(t, id1, id2, "same key, same message")
	_, err = m.Send(ctx, delivery.Message{SupplierID: "sup_1", EventType: "client.updated", Payload: json.RawMessage(`{}`)})
	require.NoError(t, err)
	for range 3 {
		log.next(t)
	}

	failed, err := m.ListAttempts(ctx, delivery.AttemptQuery{Status: delivery.AttemptFailed})
	require.NoError(t, err)
	require.Len(t, failed, 1)
	require.Equal(t, epBad.ID, failed[0].EndpointID)
	require.Equal(t, "down", failed[0].ResponseBody)
	require.Equal(t, 500, failed[0].ResponseStatus)
	byMsg, err := m.ListAttempts(ctx, delivery.AttemptQuery{MessageID: id1})
	require.NoError(t, err)
	require.Len(t, byMsg, 2, "one message, two endpoints")
	page, err := m.ListAttempts(ctx, delivery.AttemptQuery{SupplierID: "sup_1", Limit: 2})
	require.NoError(t, err)
	require.Len(t, page, 2)
	rest, err := m.ListAttempts(ctx, delivery.AttemptQuery{SupplierID: "sup_1", BeforeID: page[1].ID})
	require.NoError(t, err)
	require.Len(t, rest, 1)

	st, err := m.Stats(ctx, epOK.ID, time.Time{})
	require.NoError(t, err)
	require.Equal(t, 2, st.Attempts)
	require.Equal(t, 1.0, st.SuccessRate)
	require.Positive(t, st.LatencyP99)
	st, err = m.Stats(ctx, epBad.ID, time.Time{})
	require.NoError(t, err)
	require.Equal(t, 0.0, st.SuccessRate)

	n, err := m.Recover(ctx, epBad.ID, time.Time{})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, epBad.ID, log.next(t).EndpointID)
	require.ErrorIs(t, m.Resend(ctx, "msg_missing", epOK.ID), delivery.ErrNotFound)
	require.NoError(t, m.Resend(ctx, id1, epOK.ID))
	a := log.next(t)
	require.Equal(t, id1, a.MessageID)
	require.Equal(t, delivery.AttemptSucceeded, a.Status)
}

func TestPostgresInstancesShareTheWork(t *testing.T) {
	ctx := context.Background()
	db := migrated(t)
	recv := webhooktest.NewReceiver(t)
	log := newAttempts()
	a := newPGManager(t, db, log.hook())
	b := newPGManager(t, db, log.hook())
	_, err := a.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_1", URL: recv.URL})
	require.NoError(t, err)
	ids, err := b.SendBatch(ctx, numbered("kpi.updated", 500))
	require.NoError(t, err)
	start(t, a)
	start(t, b)
	recv.Wait(t, len(ids))
	got := map[string]bool{}
	for _, d := range recv.Deliveries() {
		got[d.ID] = true
	}
	for _, id := range ids {
		require.True(t, got[id], "message %s delivered", id)
	}
}
