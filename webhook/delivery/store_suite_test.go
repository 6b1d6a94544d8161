package delivery

// The store contract, run against both implementations: memory mode and
// Postgres mode must behave the same for everything the manager relies on.

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/pgtest"
)

// storeEnv is one store under test, with the transaction its tx-taking
// methods need (nil in memory mode).
type storeEnv struct {
	s      store
	withTx func(ctx context.Context, fn func(tx pgx.Tx) error) error
}

func TestStoreContractMemory(t *testing.T) {
	testStoreContract(t, func(t *testing.T) storeEnv {
		return storeEnv{s: newMemStore(), withTx: func(_ context.Context, fn func(pgx.Tx) error) error { return fn(nil) }}
	})
}

func TestStoreContractPostgres(t *testing.T) {
	testStoreContract(t, func(t *testing.T) storeEnv {
		db := pgtest.New(t, "delivery_store")
		require.NoError(t, Migrate(context.Background(), db.Pool, WithSchema(db.Schema)))
		return storeEnv{s: newPGStore(db.Pool, db.Schema, nil), withTx: func(ctx context.Context, fn func(pgx.Tx) error) error {
			return pgx.BeginFunc(ctx, db.Pool, fn)
		}}
	})
}

var st0 = time.Date(2026, 6, 6, 9, 0, 0, 0, time.UTC)

func testStoreContract(t *testing.T, open func(t *testing.T) storeEnv) {
	ctx := context.Background()

	t.Run("endpoints", func(t *testing.T) {
		e := open(t)
		for _, id := range []string{"ep_b", "ep_a", "ep_c"} {
			sup := "sup_1"
			if id == "ep_c" {
				sup = "sup_2"
			}
			require.NoError(t, e.s.insertEndpoint(ctx, &endpointRow{Endpoint: Endpoint{ID: id, SupplierID: sup, URL: "https://crm.example/" + id,
				EventTypes: []string{"booking.*"}, Status: EndpointEnabled, RateLimit: 2, CreatedAt: st0, UpdatedAt: st0}, Sealed: []byte{1, 2, 3}}))
		}
		got, err := e.s.getEndpoint(ctx, "ep_a")
		require.NoError(t, err)
		require.Equal(t, "https://crm.example/ep_a", got.URL)
		require.Equal(t, []string{"booking.*"}, got.EventTypes)
		require.Equal(t, []byte{1, 2, 3}, got.Sealed)
		require.True(t, got.CreatedAt.Equal(st0))
		_, err = e.s.getEndpoint(ctx, "ep_missing")
		require.ErrorIs(t, err, ErrNotFound)

		list, err := e.s.listEndpoints(ctx, "sup_1")
		require.NoError(t, err)
		require.Equal(t, []string{"ep_a", "ep_b"}, ids(list), "a supplier's endpoints, by id")

		up, err := e.s.updateEndpoint(ctx, "ep_a", func(ep *endpointRow) error {
			ep.Status, ep.DisabledReason, ep.RateLimit = EndpointDisabled, "410", 0
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, EndpointDisabled, up.Status)
		_, err = e.s.updateEndpoint(ctx, "ep_a", func(ep *endpointRow) error {
			ep.URL = "https://changed.example"
			return errors.New("refused")
		})
		require.EqualError(t, err, "refused")
		got, _ = e.s.getEndpoint(ctx, "ep_a")
		require.Equal(t, "https://crm.example/ep_a", got.URL, "a refused update changes nothing")
		require.Equal(t, "410", got.DisabledReason)
		_, err = e.s.updateEndpoint(ctx, "ep_missing", func(*endpointRow) error { return nil })
		require.ErrorIs(t, err, ErrNotFound)

		require.NoError(t, e.s.setFailing(ctx, "ep_b", st0))
		require.NoError(t, e.s.setFailing(ctx, "ep_b", st0.Add(time.Hour)), "a run of failures keeps its start")
		got, _ = e.s.getEndpoint(ctx, "ep_b")
		require.True(t, got.FailingSince.Equal(st0))
		require.NoError(t, e.s.setFailing(ctx, "ep_b", time.Time{}))
		got, _ = e.s.getEndpoint(ctx, "ep_b")
		require.True(t, got.FailingSince.IsZero())
		require.NoError(t, e.s.setFailing(ctx, "ep_missing", st0), "an endpoint deleted meanwhile is not an error")

		var fan []*Endpoint
		require.NoError(t, e.withTx(ctx, func(tx pgx.Tx) error {
			var err error
			fan, err = e.s.supplierEndpoints(ctx, tx, "sup_1")
			return err
		}))
		slices.SortFunc(fan, func(a, b *Endpoint) int { return cmpString(a.ID, b.ID) })
		require.Len(t, fan, 2)
		require.Equal(t, EndpointDisabled, fan[0].Status)
		require.Equal(t, []string{"booking.*"}, fan[1].EventTypes)

		require.NoError(t, e.s.deleteEndpoint(ctx, "ep_a"))
		require.ErrorIs(t, e.s.deleteEndpoint(ctx, "ep_a"), ErrNotFound)
	})

	t.Run("messages and idempotency", func(t *testing.T) {
		e := open(t)
		insert := func(id, key string, at time.Time) (string, bool) {
			var got string
			var created bool
			require.NoError(t, e.withTx(ctx, func(tx pgx.Tx) error {
				var err error
				got, created, err = e.s.insertMessage(ctx, tx, &storedMessage{ID: id, SupplierID: "sup_1", EventType: "a.b",
					Payload: []byte(`{"x": 1,  "y":[]}`), CreatedAt: at}, key, at.Add(-24*time.Hour))
				return err
			}))
			return got, created
		}
		id, created := insert("msg_1", "", st0)
		require.Equal(t, "msg_1", id)
		require.True(t, created)
		id, created = insert("msg_2", "k1", st0)
		require.Equal(t, "msg_2", id)
		require.True(t, created)
		id, created = insert("msg_3", "k1", st0.Add(time.Hour))
		require.Equal(t, "msg_2", id, "the key's first message")
		require.False(t, created)
		id, created = insert("msg_4", "k1", st0.Add(25*time.Hour))
		require.Equal(t, "msg_4", id, "a key older than the window is released")
		require.True(t, created)

		m, err := e.s.getMessage(ctx, "msg_1")
		require.NoError(t, err)
		require.Equal(t, `{"x": 1,  "y":[]}`, string(m.Payload), "byte for byte")
		require.Equal(t, "sup_1", m.SupplierID)
		require.True(t, m.CreatedAt.Equal(st0))
		_, err = e.s.getMessage(ctx, "msg_3")
		require.ErrorIs(t, err, ErrNotFound, "a duplicate is not stored")
	})

	t.Run("attempts", func(t *testing.T) {
		e := open(t)
		job := int64(100)
		add := func(msg, ep string, n int, status AttemptStatus, at time.Time, next time.Time, lat time.Duration) {
			job++
			a := &Attempt{MessageID: msg, EndpointID: ep, SupplierID: "sup_1", EventType: "a.b", Number: n, Status: status,
				ResponseStatus: 200, Latency: lat, At: at, NextAttemptAt: next, jobID: job}
			if status == AttemptFailed {
				a.ResponseStatus, a.Error = 500, "endpoint answered 500"
			}
			if next.IsZero() {
				require.NoError(t, e.s.insertFinalAttempt(ctx, a))
			} else {
				require.NoError(t, e.withTx(ctx, func(tx pgx.Tx) error { return e.s.insertAttempt(ctx, tx, a) }))
			}
			require.NotZero(t, a.ID, "the row's id is set")
		}
		// m1 failed then succeeded; m2 failed for good; m3 failed and has a retry pending; m4 on another endpoint.
		add("m1", "ep_1", 1, AttemptFailed, st0, st0.Add(time.Minute), 30*time.Millisecond)
		add("m1", "ep_1", 2, AttemptSucceeded, st0.Add(time.Minute), time.Time{}, 10*time.Millisecond)
		add("m2", "ep_1", 1, AttemptFailed, st0.Add(2*time.Minute), time.Time{}, 20*time.Millisecond)
		add("m3", "ep_1", 1, AttemptFailed, st0.Add(3*time.Minute), st0.Add(time.Hour), 40*time.Millisecond)
		add("m4", "ep_2", 1, AttemptSucceeded, st0.Add(4*time.Minute), time.Time{}, time.Millisecond)

		ok, err := e.s.attemptRecorded(ctx, "m1", "ep_1", 2, 102, st0.Add(time.Hour))
		require.NoError(t, err)
		require.True(t, ok, "found by its job, whatever the clocks say")
		ok, _ = e.s.attemptRecorded(ctx, "m1", "ep_1", 2, 999, st0)
		require.False(t, ok, "another job's attempt of the same number does not count")
		ok, _ = e.s.attemptRecorded(ctx, "m1", "ep_2", 1, 101, st0)
		require.False(t, ok)

		all, err := e.s.listAttempts(ctx, AttemptQuery{Limit: 100})
		require.NoError(t, err)
		require.Equal(t, []string{"m4", "m3", "m2", "m1", "m1"}, msgIDs(all), "newest first")
		require.Equal(t, 2, all[3].Number)
		page, _ := e.s.listAttempts(ctx, AttemptQuery{Limit: 2})
		require.Equal(t, []string{"m4", "m3"}, msgIDs(page))
		page, _ = e.s.listAttempts(ctx, AttemptQuery{Limit: 2, BeforeID: page[1].ID})
		require.Equal(t, []string{"m2", "m1"}, msgIDs(page), "paging backwards by id")
		for _, c := range []struct {
			q    AttemptQuery
			want []string
		}{
			{AttemptQuery{MessageID: "m1"}, []string{"m1", "m1"}},
			{AttemptQuery{EndpointID: "ep_2"}, []string{"m4"}},
			{AttemptQuery{SupplierID: "sup_1", Status: AttemptSucceeded}, []string{"m4", "m1"}},
			{AttemptQuery{Since: st0.Add(3 * time.Minute)}, []string{"m4", "m3"}},
			{AttemptQuery{SupplierID: "sup_9"}, nil},
		} {
			c.q.Limit = 100
			got, err := e.s.listAttempts(ctx, c.q)
			require.NoError(t, err)
			require.Equal(t, c.want, msgIDs(got), "%+v", c.q)
		}
		next := all[1].NextAttemptAt
		require.True(t, next.Equal(st0.Add(time.Hour)), "next attempt time round-trips")
		require.Equal(t, "endpoint answered 500", all[2].Error)
		require.Equal(t, 40*time.Millisecond, all[1].Latency)

		failed, err := e.s.failedMessages(ctx, "ep_1", st0)
		require.NoError(t, err)
		require.Equal(t, []string{"m2"}, failed, "failed for good: no success after, no retry pending")

		s, err := e.s.stats(ctx, "ep_1", st0)
		require.NoError(t, err)
		require.Equal(t, EndpointStats{Attempts: 4, Succeeded: 1, Failed: 3, SuccessRate: 0.25,
			LatencyP50: 20 * time.Millisecond, LatencyP90: 40 * time.Millisecond, LatencyP99: 40 * time.Millisecond}, s)
		s, _ = e.s.stats(ctx, "ep_none", st0)
		require.Equal(t, EndpointStats{}, s)

		n, err := e.s.prune(ctx, st0.Add(2*time.Minute))
		require.NoError(t, err)
		require.Equal(t, int64(2), n, "the two attempts before the cut")
		all, _ = e.s.listAttempts(ctx, AttemptQuery{Limit: 100})
		require.Equal(t, []string{"m4", "m3", "m2"}, msgIDs(all))

		// A row written before job ids were stored counts by time.
		legacy := &Attempt{MessageID: "m9", EndpointID: "ep_1", SupplierID: "sup_1", EventType: "a.b", Number: 1,
			Status: AttemptSucceeded, At: st0.Add(time.Hour)}
		require.NoError(t, e.s.insertFinalAttempt(ctx, legacy))
		ok, _ = e.s.attemptRecorded(ctx, "m9", "ep_1", 1, 555, st0.Add(time.Hour))
		require.True(t, ok)
		ok, _ = e.s.attemptRecorded(ctx, "m9", "ep_1", 1, 555, st0.Add(time.Hour+time.Second))
		require.False(t, ok)
	})

	t.Run("prune drops old messages and releases their keys", func(t *testing.T) {
		e := open(t)
		require.NoError(t, e.withTx(ctx, func(tx pgx.Tx) error {
			_, _, err := e.s.insertMessage(ctx, tx, &storedMessage{ID: "old", SupplierID: "s", EventType: "a", Payload: []byte(`{}`), CreatedAt: st0}, "k", st0.Add(-time.Hour))
			return err
		}))
		_, err := e.s.prune(ctx, st0.Add(time.Second))
		require.NoError(t, err)
		_, err = e.s.getMessage(ctx, "old")
		require.ErrorIs(t, err, ErrNotFound)
		var id string
		var created bool
		require.NoError(t, e.withTx(ctx, func(tx pgx.Tx) error {
			var err error
			id, created, err = e.s.insertMessage(ctx, tx, &storedMessage{ID: "new", SupplierID: "s", EventType: "a", Payload: []byte(`{}`), CreatedAt: st0.Add(time.Minute)}, "k", st0.Add(-time.Hour))
			return err
		}))
		require.Equal(t, "new", id)
		require.True(t, created)
	})
}

func ids(rows []*endpointRow) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.ID)
	}
	return out
}

func msgIDs(as []Attempt) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.MessageID)
	}
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
