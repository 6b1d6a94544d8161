package notify

// The store contract, run against both implementations: memory mode and
// Postgres mode must behave the same for everything the notifier relies on.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
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
	pg     *pgStore // nil in memory mode
	withTx func(ctx context.Context, fn func(tx pgx.Tx) error) error
}

func TestStoreMemory(t *testing.T) {
	testStore(t, func(t *testing.T) storeEnv {
		return storeEnv{s: newMemStore(), withTx: func(_ context.Context, fn func(pgx.Tx) error) error { return fn(nil) }}
	})
}

func TestStorePostgres(t *testing.T) {
	testStore(t, func(t *testing.T) storeEnv {
		db := pgtest.New(t, "notify")
		require.NoError(t, migrateSchema(context.Background(), db.Pool, db.Schema))
		s := newPGStore(db.Pool, db.Schema)
		return storeEnv{s: s, pg: s, withTx: func(ctx context.Context, fn func(pgx.Tx) error) error {
			return pgx.BeginFunc(ctx, db.Pool, fn)
		}}
	})
}

func TestMigrateTwice(t *testing.T) {
	db := pgtest.New(t, "notify")
	ctx := context.Background()
	require.NoError(t, migrateSchema(ctx, db.Pool, db.Schema))
	require.NoError(t, migrateSchema(ctx, db.Pool, db.Schema), "a second run finds nothing to do")
}

var t0 = time.Date(2026, 6, 6, 9, 0, 0, 0, time.UTC)

func newNotification(id, supplier, key string, at time.Time) *storedNotification {
	return &storedNotification{
		ID: id, SupplierID: supplier, Event: "booking.confirmed", Category: CategoryBooking, Priority: PriorityNormal,
		Recipient:      Recipient{SupplierID: supplier, VendorType: VendorVenue, Name: "Ivy Hall", Email: "ivy@example.com", Phone: "+447700900123", TimeZone: "Europe/London", Locale: "en-GB"},
		Data:           json.RawMessage(`{"couple":"Sam & Alex","guests":120}`),
		WeddingDate:    "2026-09-12",
		URL:            "https://app.example/bookings/42",
		ReplyTo:        "couple@example.com",
		IdempotencyKey: key,
		CreatedAt:      at,
	}
}

// requireSameNotification compares two notifications, Data as JSON (jsonb
// keeps its own spacing).
func requireSameNotification(t *testing.T, want, got *storedNotification) {
	t.Helper()
	if len(want.Data) == 0 {
		require.Empty(t, got.Data)
	} else {
		require.JSONEq(t, string(want.Data), string(got.Data))
	}
	w, g := *want, *got
	w.Data, g.Data = nil, nil
	require.Equal(t, w, g)
}

func notificationIDs(ns []*storedNotification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

func inAppIDs(ms []InAppMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// concurrently runs fn(i) for i in [0, n) at once and waits for all.
func concurrently(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

func testStore(t *testing.T, open func(t *testing.T) storeEnv) {
	ctx := context.Background()

	t.Run("notifications", func(t *testing.T) {
		e := open(t)
		n := newNotification("ntf_1", "sup_1", "", t0)
		n.Routed = 0
		id, created, err := e.s.insertNotification(ctx, nil, n, t0.Add(-24*time.Hour))
		require.NoError(t, err)
		require.True(t, created)
		require.Equal(t, "ntf_1", id)

		got, err := e.s.getNotification(ctx, "ntf_1")
		require.NoError(t, err)
		requireSameNotification(t, n, got)

		// Neither the caller's value nor the returned one reaches the store.
		n.Recipient.Email, n.Data[2] = "changed@example.com", 'X'
		got.Event, got.Data[2] = "changed", 'Y'
		again, err := e.s.getNotification(ctx, "ntf_1")
		require.NoError(t, err)
		requireSameNotification(t, newNotification("ntf_1", "sup_1", "", t0), again)

		noData := newNotification("ntf_2", "sup_1", "", t0)
		noData.Data, noData.Priority, noData.Category = nil, PriorityDefault, ""
		_, _, err = e.s.insertNotification(ctx, nil, noData, t0)
		require.NoError(t, err)
		got, err = e.s.getNotification(ctx, "ntf_2")
		require.NoError(t, err)
		requireSameNotification(t, noData, got)

		_, err = e.s.getNotification(ctx, "ntf_missing")
		require.ErrorIs(t, err, ErrNotFound)
		_, _, err = e.s.insertNotification(ctx, nil, newNotification("ntf_1", "sup_1", "", t0), t0)
		require.Error(t, err, "an id is taken once")
	})

	t.Run("idempotency", func(t *testing.T) {
		e := open(t)
		const window = 24 * time.Hour
		insert := func(id, supplier, key string, at time.Time) (string, bool) {
			t.Helper()
			got, created, err := e.s.insertNotification(ctx, nil, newNotification(id, supplier, key, at), at.Add(-window))
			require.NoError(t, err)
			return got, created
		}
		id, created := insert("ntf_a", "sup_1", "key-1", t0)
		require.Equal(t, "ntf_a", id)
		require.True(t, created)

		id, created = insert("ntf_b", "sup_1", "key-1", t0.Add(time.Hour))
		require.Equal(t, "ntf_a", id, "the same key within the window returns the first notification")
		require.False(t, created)
		_, err := e.s.getNotification(ctx, "ntf_b")
		require.ErrorIs(t, err, ErrNotFound, "and stores nothing")

		id, created = insert("ntf_c", "sup_1", "key-1", t0.Add(window))
		require.Equal(t, "ntf_a", id, "a key used exactly at idemSince is within the window")
		require.False(t, created)

		id, created = insert("ntf_d", "sup_2", "key-1", t0.Add(time.Hour))
		require.Equal(t, "ntf_d", id, "keys are per supplier")
		require.True(t, created)

		id, created = insert("ntf_e", "sup_1", "key-1", t0.Add(window+time.Microsecond))
		require.Equal(t, "ntf_e", id, "after the window the key is free again")
		require.True(t, created)
		id, created = insert("ntf_f", "sup_1", "key-1", t0.Add(window+time.Hour))
		require.Equal(t, "ntf_e", id, "and the new notification holds it")
		require.False(t, created)

		old, err := e.s.getNotification(ctx, "ntf_a")
		require.NoError(t, err)
		require.Equal(t, "key-1", old.IdempotencyKey, "a released key stays on its notification")

		for _, id := range []string{"ntf_g", "ntf_h"} {
			got, created := insert(id, "sup_1", "", t0)
			require.Equal(t, id, got, "no key, no deduplication")
			require.True(t, created)
		}
	})

	t.Run("idempotency/concurrent", func(t *testing.T) {
		e := open(t)
		// An old holder of the key, outside the window: every insert
		// tries to release it at once.
		_, _, err := e.s.insertNotification(ctx, nil, newNotification("ntf_old", "sup_1", "key-1", t0.Add(-48*time.Hour)), t0.Add(-72*time.Hour))
		require.NoError(t, err)
		const n = 20
		ids := make([]string, n)
		created := make([]bool, n)
		errs := make([]error, n)
		concurrently(n, func(i int) {
			insert := func(tx pgx.Tx) error {
				var err error
				ids[i], created[i], err = e.s.insertNotification(ctx, tx,
					newNotification(fmt.Sprintf("ntf_%02d", i), "sup_1", "key-1", t0), t0.Add(-24*time.Hour))
				return err
			}
			if i%2 == 0 {
				errs[i] = insert(nil) // on the pool
			} else {
				errs[i] = e.withTx(ctx, insert) // in the caller's transaction
			}
		})
		winners := 0
		for i := range n {
			require.NoError(t, errs[i])
			require.Equal(t, ids[0], ids[i], "every insert returns the same id")
			if created[i] {
				winners++
				require.Equal(t, fmt.Sprintf("ntf_%02d", i), ids[i])
			}
		}
		require.Equal(t, 1, winners, "exactly one insert creates the notification")
		list, err := e.s.listNotifications(ctx, "sup_1", "", 100)
		require.NoError(t, err)
		require.Len(t, list, 2, "the old notification and the one winner")
	})

	t.Run("list notifications", func(t *testing.T) {
		e := open(t)
		// Two share a creation time: the id breaks the tie.
		for i, at := range []time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute), t0.Add(2 * time.Minute), t0.Add(3 * time.Minute)} {
			_, _, err := e.s.insertNotification(ctx, nil, newNotification(fmt.Sprintf("ntf_%d", i), "sup_1", "", at), t0)
			require.NoError(t, err)
		}
		_, _, err := e.s.insertNotification(ctx, nil, newNotification("ntf_other", "sup_2", "", t0.Add(time.Hour)), t0)
		require.NoError(t, err)

		all, err := e.s.listNotifications(ctx, "sup_1", "", 0)
		require.NoError(t, err)
		require.Equal(t, []string{"ntf_4", "ntf_3", "ntf_2", "ntf_1", "ntf_0"}, notificationIDs(all), "newest first")
		requireSameNotification(t, newNotification("ntf_4", "sup_1", "", t0.Add(3*time.Minute)), all[0])

		var pages [][]string
		before := ""
		for {
			page, err := e.s.listNotifications(ctx, "sup_1", before, 2)
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			pages = append(pages, notificationIDs(page))
			before = page[len(page)-1].ID
		}
		require.Equal(t, [][]string{{"ntf_4", "ntf_3"}, {"ntf_2", "ntf_1"}, {"ntf_0"}}, pages)

		other, err := e.s.listNotifications(ctx, "sup_1", "ntf_other", 10)
		require.NoError(t, err)
		require.Empty(t, other, "another supplier's id pages nothing")
		missing, err := e.s.listNotifications(ctx, "sup_1", "ntf_missing", 10)
		require.NoError(t, err)
		require.Empty(t, missing)
	})

	t.Run("list limits", func(t *testing.T) {
		e := open(t)
		require.NoError(t, e.withTx(ctx, func(tx pgx.Tx) error {
			for i := range 510 {
				if _, _, err := e.s.insertNotification(ctx, tx, newNotification(fmt.Sprintf("ntf_%03d", i), "sup_1", "", t0.Add(time.Duration(i)*time.Second)), t0); err != nil {
					return err
				}
				if err := e.s.insertInApp(ctx, tx, newInApp(fmt.Sprintf("msg_%03d", i), "sup_1", fmt.Sprintf("ntf_%03d", i), t0.Add(time.Duration(i)*time.Second))); err != nil {
					return err
				}
			}
			return nil
		}))
		for limit, want := range map[int]int{-1: 50, 0: 50, 7: 7, 500: 500, 501: 500, 10000: 500} {
			list, err := e.s.listNotifications(ctx, "sup_1", "", limit)
			require.NoError(t, err)
			require.Len(t, list, want, "limit %d", limit)
			msgs, err := e.s.listInApp(ctx, "sup_1", InAppQuery{Limit: limit})
			require.NoError(t, err)
			require.Len(t, msgs, want, "limit %d", limit)
		}
	})

	t.Run("routed and acknowledged", func(t *testing.T) {
		e := open(t)
		_, _, err := e.s.insertNotification(ctx, nil, newNotification("ntf_1", "sup_1", "", t0), t0)
		require.NoError(t, err)
		for _, round := range []int{1, 2, 1} {
			require.NoError(t, e.withTx(ctx, func(tx pgx.Tx) error { return e.s.setRouted(ctx, tx, "ntf_1", round) }))
		}
		n, err := e.s.getNotification(ctx, "ntf_1")
		require.NoError(t, err)
		require.Equal(t, 2, n.Routed, "the round never goes back")
		require.ErrorIs(t, e.s.setRouted(ctx, nil, "ntf_missing", 1), ErrNotFound)

		set, err := e.s.acknowledge(ctx, "ntf_1", t0.Add(time.Minute))
		require.NoError(t, err)
		require.True(t, set)
		set, err = e.s.acknowledge(ctx, "ntf_1", t0.Add(time.Hour))
		require.NoError(t, err)
		require.False(t, set, "the second acknowledgement changes nothing")
		n, err = e.s.getNotification(ctx, "ntf_1")
		require.NoError(t, err)
		require.Equal(t, t0.Add(time.Minute), n.AcknowledgedAt)
		_, err = e.s.acknowledge(ctx, "ntf_missing", t0)
		require.ErrorIs(t, err, ErrNotFound)
	})

	t.Run("channels", func(t *testing.T) {
		e := open(t)
		_, _, err := e.s.insertNotification(ctx, nil, newNotification("ntf_1", "sup_1", "", t0), t0)
		require.NoError(t, err)
		rows := []*channelRow{
			{NotificationID: "ntf_1", ChannelStatus: ChannelStatus{Channel: ChannelEmail, Status: StatusQueued, UpdatedAt: t0}},
			{NotificationID: "ntf_1", ChannelStatus: ChannelStatus{Channel: ChannelInApp, Status: StatusSent, Provider: "inbox", UpdatedAt: t0}},
			{NotificationID: "ntf_1", ChannelStatus: ChannelStatus{Channel: ChannelPush, Status: StatusDeferred, NotBefore: t0.Add(8 * time.Hour), UpdatedAt: t0}},
		}
		require.NoError(t, e.withTx(ctx, func(tx pgx.Tx) error { return e.s.setChannels(ctx, tx, rows...) }))
		rows[0].Status = StatusFailed // the store kept its own copy
		got, err := e.s.channels(ctx, "ntf_1")
		require.NoError(t, err)
		require.Len(t, got, 3)
		require.Equal(t, []Channel{ChannelPush, ChannelEmail, ChannelInApp}, []Channel{got[0].Channel, got[1].Channel, got[2].Channel}, "in AllChannels order")
		require.Equal(t, StatusQueued, got[1].Status)
		require.Equal(t, *rows[2], *got[0])

		// Upsert: the email row is replaced, a new SMS row appears.
		require.NoError(t, e.s.setChannels(ctx, nil,
			&channelRow{NotificationID: "ntf_1", ChannelStatus: ChannelStatus{Channel: ChannelEmail, Status: StatusSent, Provider: "smtp",
				Attempts: 1, ExternalID: "<m1@example.com>", UpdatedAt: t0.Add(time.Second)}},
			&channelRow{NotificationID: "ntf_1", ChannelStatus: ChannelStatus{Channel: ChannelSMS, Status: StatusSuppressed, Error: "off for booking", UpdatedAt: t0}}))
		got, err = e.s.channels(ctx, "ntf_1")
		require.NoError(t, err)
		require.Len(t, got, 4)
		require.Equal(t, channelRow{NotificationID: "ntf_1", ChannelStatus: ChannelStatus{Channel: ChannelEmail, Status: StatusSent, Provider: "smtp",
			Attempts: 1, ExternalID: "<m1@example.com>", UpdatedAt: t0.Add(time.Second)}}, *got[2])
		require.Equal(t, ChannelSMS, got[1].Channel)

		byExt, err := e.s.channelByExternalID(ctx, "smtp", "<m1@example.com>")
		require.NoError(t, err)
		require.Equal(t, *got[2], *byExt)
		_, err = e.s.channelByExternalID(ctx, "twilio", "<m1@example.com>")
		require.ErrorIs(t, err, ErrNotFound, "the id is the provider's")
		_, err = e.s.channelByExternalID(ctx, "inbox", "")
		require.ErrorIs(t, err, ErrNotFound, "an empty id finds nothing")

		// updateChannel: fn changes the row; an error from fn keeps it.
		require.NoError(t, e.withTx(ctx, func(tx pgx.Tx) error {
			return e.s.updateChannel(ctx, tx, "ntf_1", ChannelEmail, func(r *channelRow) error {
				require.Equal(t, StatusSent, r.Status)
				r.Status, r.UpdatedAt = StatusDelivered, t0.Add(time.Minute)
				r.NotificationID, r.Channel = "ntf_other", ChannelSMS // ignored: the keys stay
				return nil
			})
		}))
		boom := errors.New("boom")
		require.ErrorIs(t, e.s.updateChannel(ctx, nil, "ntf_1", ChannelEmail, func(r *channelRow) error {
			r.Status = StatusFailed
			return boom
		}), boom)
		got, err = e.s.channels(ctx, "ntf_1")
		require.NoError(t, err)
		require.Equal(t, StatusDelivered, got[2].Status)
		require.Equal(t, StatusSuppressed, got[1].Status, "the SMS row was not touched")
		require.Equal(t, t0.Add(time.Minute), got[2].UpdatedAt)
		require.ErrorIs(t, e.s.updateChannel(ctx, nil, "ntf_1", Channel("fax"), func(*channelRow) error { return nil }), ErrNotFound)
		require.ErrorIs(t, e.s.updateChannel(ctx, nil, "ntf_missing", ChannelEmail, func(*channelRow) error { return nil }), ErrNotFound)

		none, err := e.s.channels(ctx, "ntf_missing")
		require.NoError(t, err)
		require.Empty(t, none)
	})

	t.Run("channels/concurrent updates", func(t *testing.T) {
		e := open(t)
		_, _, err := e.s.insertNotification(ctx, nil, newNotification("ntf_1", "sup_1", "", t0), t0)
		require.NoError(t, err)
		require.NoError(t, e.s.setChannels(ctx, nil, &channelRow{NotificationID: "ntf_1", ChannelStatus: ChannelStatus{Channel: ChannelSMS, Status: StatusQueued, UpdatedAt: t0}}))
		const n = 20
		errs := make([]error, n)
		concurrently(n, func(i int) {
			update := func(tx pgx.Tx) error {
				return e.s.updateChannel(ctx, tx, "ntf_1", ChannelSMS, func(r *channelRow) error {
					r.Attempts++
					return nil
				})
			}
			if i%2 == 0 {
				errs[i] = update(nil) // a transaction of the store's own
			} else {
				errs[i] = e.withTx(ctx, update) // the caller's
			}
		})
		for _, err := range errs {
			require.NoError(t, err)
		}
		got, err := e.s.channels(ctx, "ntf_1")
		require.NoError(t, err)
		require.Equal(t, n, got[0].Attempts, "no update was lost")
	})

	t.Run("attempts", func(t *testing.T) {
		e := open(t)
		rows := []*attemptRow{
			{Attempt: Attempt{NotificationID: "ntf_1", Channel: ChannelSMS, Provider: "twilio", Recipient: "+44*******123", Number: 1,
				Error: "503", Latency: 1500 * time.Microsecond, At: t0}, SupplierID: "sup_1", JobID: 7},
			{Attempt: Attempt{NotificationID: "ntf_1", Channel: ChannelSMS, Provider: "twilio", Recipient: "+44*******123", Number: 2,
				OK: true, ExternalID: "SM123", Latency: 800 * time.Microsecond, At: t0.Add(time.Second)}, SupplierID: "sup_1", JobID: 8},
			{Attempt: Attempt{NotificationID: "ntf_1", Channel: ChannelEmail, Provider: "smtp", Recipient: "i***@e***.com", Number: 1,
				OK: true, At: t0.Add(2 * time.Second)}, SupplierID: "sup_1"},
			{Attempt: Attempt{NotificationID: "ntf_2", Channel: ChannelSMS, Provider: "twilio", Number: 1, OK: true, At: t0}, SupplierID: "sup_1", JobID: 9},
		}
		require.NoError(t, e.withTx(ctx, func(tx pgx.Tx) error { return e.s.insertAttempts(ctx, tx, rows[:2]...) }))
		require.NoError(t, e.s.insertAttempts(ctx, nil, rows[2:]...))
		require.NoError(t, e.s.insertAttempts(ctx, nil))

		for _, c := range []struct {
			id   string
			ch   Channel
			job  int64
			want bool
		}{
			{"ntf_1", ChannelSMS, 7, true},
			{"ntf_1", ChannelSMS, 8, true},
			{"ntf_1", ChannelSMS, 9, false},
			{"ntf_1", ChannelEmail, 7, false},
			{"ntf_2", ChannelSMS, 9, true},
			{"ntf_1", ChannelEmail, 0, false},
		} {
			got, err := e.s.attemptRecorded(ctx, c.id, c.ch, c.job)
			require.NoError(t, err)
			require.Equal(t, c.want, got, "%s %s job %d", c.id, c.ch, c.job)
		}

		list, err := e.s.listAttempts(ctx, "ntf_1")
		require.NoError(t, err)
		require.Equal(t, []Attempt{rows[0].Attempt, rows[1].Attempt, rows[2].Attempt}, list, "in the order written")
		none, err := e.s.listAttempts(ctx, "ntf_missing")
		require.NoError(t, err)
		require.Empty(t, none)
	})

	t.Run("preferences", func(t *testing.T) {
		e := open(t)
		got, err := e.s.getPreferences(ctx, "sup_1")
		require.NoError(t, err)
		require.Nil(t, got, "none stored")

		p := &Preferences{
			Categories: map[Category]CategoryPreferences{
				CategoryBooking: {Channels: map[Channel]bool{ChannelEmail: true, ChannelSMS: true, ChannelPush: false}},
				CategoryReview:  {Channels: map[Channel]bool{ChannelEmail: true}, Digest: 90 * time.Minute},
			},
			Default:    CategoryPreferences{Channels: map[Channel]bool{ChannelInApp: true}, Digest: 24 * time.Hour},
			Escalation: []Channel{ChannelSMS, ChannelPush, ChannelEmail},
			QuietHours: []QuietWindow{{Days: []time.Weekday{time.Saturday, time.Sunday}, Start: "22:00", End: "07:00"}, {Start: "12:00", End: "13:00"}},
		}
		require.NoError(t, e.s.setPreferences(ctx, "sup_1", p, t0))
		p.Categories[CategoryBooking].Channels[ChannelSMS] = false // the store kept its own copy
		got, err = e.s.getPreferences(ctx, "sup_1")
		require.NoError(t, err)
		p.Categories[CategoryBooking].Channels[ChannelSMS] = true
		require.Equal(t, p, got)

		muted := &Preferences{Muted: true}
		require.NoError(t, e.s.setPreferences(ctx, "sup_1", muted, t0.Add(time.Hour)))
		got, err = e.s.getPreferences(ctx, "sup_1")
		require.NoError(t, err)
		require.Equal(t, muted, got, "a second set replaces the first")
		other, err := e.s.getPreferences(ctx, "sup_2")
		require.NoError(t, err)
		require.Nil(t, other)

		require.NoError(t, e.s.deletePreferences(ctx, "sup_1"))
		got, err = e.s.getPreferences(ctx, "sup_1")
		require.NoError(t, err)
		require.Nil(t, got)
		require.ErrorIs(t, e.s.deletePreferences(ctx, "sup_1"), ErrNotFound)
	})

	t.Run("subscriptions", func(t *testing.T) {
		e := open(t)
		web := func(id, supplier, endpoint string, sealed byte, at time.Time) *subscriptionRow {
			return &subscriptionRow{PushSubscription: PushSubscription{ID: id, SupplierID: supplier, Kind: PushWeb,
				Endpoint: endpoint, P256DH: "p256dh-secret", Auth: "auth-secret", CreatedAt: at}, Sealed: []byte{sealed, 1, 2}}
		}
		fcm := func(id, supplier, token string, sealed byte, at time.Time) *subscriptionRow {
			return &subscriptionRow{PushSubscription: PushSubscription{ID: id, SupplierID: supplier, Kind: PushFCM,
				Token: token, CreatedAt: at}, Sealed: []byte{sealed}}
		}
		const ep1, ep2 = "https://fcm.googleapis.com/fcm/send/abc", "https://updates.push.services.mozilla.com/wpush/v2/def"
		a := web("psub_a", "sup_1", ep1, 1, t0)
		require.NoError(t, e.s.insertSubscription(ctx, a))
		require.Equal(t, "psub_a", a.ID)
		require.NoError(t, e.s.insertSubscription(ctx, web("psub_b", "sup_1", ep2, 2, t0.Add(time.Minute))))
		require.NoError(t, e.s.insertSubscription(ctx, fcm("psub_c", "sup_1", "token-1", 3, t0.Add(2*time.Minute))))
		require.NoError(t, e.s.insertSubscription(ctx, web("psub_x", "sup_2", ep1, 9, t0)), "another supplier's row for the same browser")

		list, err := e.s.subscriptions(ctx, "sup_1", false)
		require.NoError(t, err)
		require.Len(t, list, 3)
		require.Equal(t, subscriptionRow{PushSubscription: PushSubscription{ID: "psub_a", SupplierID: "sup_1", Kind: PushWeb,
			Endpoint: ep1, CreatedAt: t0}, Sealed: []byte{1, 1, 2}}, *list[0], "secrets are kept sealed only")
		require.Equal(t, "psub_c", list[2].ID)
		require.Empty(t, list[2].Token)
		list[0].Sealed[0] = 99 // the store kept its own copy

		require.NoError(t, e.s.markSubscriptionDead(ctx, "psub_a", t0.Add(time.Hour)))
		require.NoError(t, e.s.markSubscriptionDead(ctx, "psub_a", t0.Add(2*time.Hour)), "already dead")
		require.ErrorIs(t, e.s.markSubscriptionDead(ctx, "psub_missing", t0), ErrNotFound)
		live, err := e.s.subscriptions(ctx, "sup_1", true)
		require.NoError(t, err)
		require.Equal(t, []string{"psub_b", "psub_c"}, []string{live[0].ID, live[1].ID})
		require.Len(t, live, 2)
		list, err = e.s.subscriptions(ctx, "sup_1", false)
		require.NoError(t, err)
		require.Equal(t, t0.Add(time.Hour), list[0].DeadAt, "the first death is kept")
		require.Equal(t, []byte{1, 1, 2}, list[0].Sealed)

		// The same browser registers again: its row is revived with the
		// new keys, and keeps its id and creation time.
		again := web("psub_new", "sup_1", ep1, 4, t0.Add(3*time.Hour))
		require.NoError(t, e.s.insertSubscription(ctx, again))
		require.Equal(t, "psub_a", again.ID)
		require.Equal(t, t0, again.CreatedAt)
		sameToken := fcm("psub_new2", "sup_1", "token-1", 5, t0.Add(3*time.Hour))
		require.NoError(t, e.s.insertSubscription(ctx, sameToken))
		require.Equal(t, "psub_c", sameToken.ID, "an FCM token is one device")
		require.NoError(t, e.s.insertSubscription(ctx, fcm("psub_d", "sup_1", "token-2", 6, t0.Add(4*time.Hour))))

		live, err = e.s.subscriptions(ctx, "sup_1", true)
		require.NoError(t, err)
		require.Len(t, live, 4)
		require.Equal(t, subscriptionRow{PushSubscription: PushSubscription{ID: "psub_a", SupplierID: "sup_1", Kind: PushWeb,
			Endpoint: ep1, CreatedAt: t0}, Sealed: []byte{4, 1, 2}}, *live[0], "alive, with the new keys")
		require.Equal(t, []byte{5}, live[2].Sealed)
		require.Equal(t, "psub_d", live[3].ID)
		other, err := e.s.subscriptions(ctx, "sup_2", false)
		require.NoError(t, err)
		require.Len(t, other, 1)
		require.Equal(t, []byte{9, 1, 2}, other[0].Sealed, "another supplier's row is its own")

		require.ErrorIs(t, e.s.deleteSubscription(ctx, "sup_2", "psub_a"), ErrNotFound, "only the owner deletes")
		require.NoError(t, e.s.deleteSubscription(ctx, "sup_1", "psub_a"))
		require.ErrorIs(t, e.s.deleteSubscription(ctx, "sup_1", "psub_a"), ErrNotFound)
		fresh := web("psub_e", "sup_1", ep1, 7, t0.Add(5*time.Hour))
		require.NoError(t, e.s.insertSubscription(ctx, fresh))
		require.Equal(t, "psub_e", fresh.ID, "after a delete the browser gets a new row")
		list, err = e.s.subscriptions(ctx, "sup_1", false)
		require.NoError(t, err)
		require.Len(t, list, 4)
	})

	t.Run("digests", func(t *testing.T) {
		e := open(t)
		end := t0.Add(time.Hour)
		var d *digestRow
		require.NoError(t, e.withTx(ctx, func(tx pgx.Tx) error {
			var opened bool
			var err error
			d, opened, err = e.s.addToDigest(ctx, tx, "sup_1", CategoryReview, "ntf_1", "dig_1", end)
			require.True(t, opened)
			return err
		}))
		require.Equal(t, &digestRow{ID: "dig_1", SupplierID: "sup_1", Category: CategoryReview, WindowEnd: end, Items: []string{"ntf_1"}}, d)
		d.Items[0] = "changed" // the store kept its own copy

		d, opened, err := e.s.addToDigest(ctx, nil, "sup_1", CategoryReview, "ntf_2", "dig_2", end.Add(time.Hour))
		require.NoError(t, err)
		require.False(t, opened, "the open digest takes the item")
		require.Equal(t, &digestRow{ID: "dig_1", SupplierID: "sup_1", Category: CategoryReview, WindowEnd: end, Items: []string{"ntf_1", "ntf_2"}}, d)
		d, opened, err = e.s.addToDigest(ctx, nil, "sup_1", CategoryReview, "ntf_1", "dig_3", end)
		require.NoError(t, err)
		require.False(t, opened)
		require.Equal(t, []string{"ntf_1", "ntf_2"}, d.Items, "an item is added once")

		other, opened, err := e.s.addToDigest(ctx, nil, "sup_1", CategoryMessage, "ntf_3", "dig_4", end)
		require.NoError(t, err)
		require.True(t, opened, "one digest per category")
		require.Equal(t, "dig_4", other.ID)

		var closed *digestRow
		require.NoError(t, e.withTx(ctx, func(tx pgx.Tx) error {
			closed, err = e.s.closeDigest(ctx, tx, "dig_1")
			return err
		}))
		require.Equal(t, []string{"ntf_1", "ntf_2"}, closed.Items)
		require.Equal(t, CategoryReview, closed.Category)
		_, err = e.s.closeDigest(ctx, nil, "dig_1")
		require.ErrorIs(t, err, ErrNotFound, "a digest closes once")

		d, opened, err = e.s.addToDigest(ctx, nil, "sup_1", CategoryReview, "ntf_5", "dig_5", end.Add(2*time.Hour))
		require.NoError(t, err)
		require.True(t, opened, "an item after the close opens a new digest")
		require.Equal(t, &digestRow{ID: "dig_5", SupplierID: "sup_1", Category: CategoryReview, WindowEnd: end.Add(2 * time.Hour), Items: []string{"ntf_5"}}, d)
	})

	t.Run("digests/concurrent adds", func(t *testing.T) {
		e := open(t)
		const n = 20
		ids := make([]string, n)
		opened := make([]bool, n)
		errs := make([]error, n)
		concurrently(n, func(i int) {
			errs[i] = e.withTx(ctx, func(tx pgx.Tx) error {
				d, o, err := e.s.addToDigest(ctx, tx, "sup_1", CategoryReview, fmt.Sprintf("ntf_%02d", i), fmt.Sprintf("dig_%02d", i), t0)
				if err == nil {
					ids[i], opened[i] = d.ID, o
				}
				return err
			})
		})
		openers := 0
		for i := range n {
			require.NoError(t, errs[i])
			require.Equal(t, ids[0], ids[i], "every add joins one digest")
			if opened[i] {
				openers++
				require.Equal(t, fmt.Sprintf("dig_%02d", i), ids[i])
			}
		}
		require.Equal(t, 1, openers)
		closed, err := e.s.closeDigest(ctx, nil, ids[0])
		require.NoError(t, err)
		require.Len(t, closed.Items, n)
		require.ElementsMatch(t, func() []string {
			var all []string
			for i := range n {
				all = append(all, fmt.Sprintf("ntf_%02d", i))
			}
			return all
		}(), closed.Items)
	})

	t.Run("in-app", func(t *testing.T) {
		e := open(t)
		for i := range 5 {
			m := newInApp(fmt.Sprintf("msg_%d", i), "sup_1", fmt.Sprintf("ntf_%d", i), t0.Add(time.Duration(i)*time.Minute))
			require.NoError(t, e.withTx(ctx, func(tx pgx.Tx) error { return e.s.insertInApp(ctx, tx, m) }))
		}
		require.NoError(t, e.s.insertInApp(ctx, nil, newInApp("msg_x", "sup_2", "ntf_x", t0)))
		require.Error(t, e.s.insertInApp(ctx, nil, newInApp("msg_x", "sup_2", "ntf_x", t0)), "an id is taken once")

		all, err := e.s.listInApp(ctx, "sup_1", InAppQuery{})
		require.NoError(t, err)
		require.Equal(t, []string{"msg_4", "msg_3", "msg_2", "msg_1", "msg_0"}, inAppIDs(all), "newest first")
		want := newInApp("msg_4", "sup_1", "ntf_4", t0.Add(4*time.Minute))
		require.JSONEq(t, string(want.Data), string(all[0].Data))
		all[0].Data, want.Data = nil, nil
		require.Equal(t, *want, all[0])

		page, err := e.s.listInApp(ctx, "sup_1", InAppQuery{Before: "msg_3", Limit: 2})
		require.NoError(t, err)
		require.Equal(t, []string{"msg_2", "msg_1"}, inAppIDs(page))
		page, err = e.s.listInApp(ctx, "sup_1", InAppQuery{Before: "msg_x"})
		require.NoError(t, err)
		require.Empty(t, page, "another supplier's id pages nothing")

		n, err := e.s.unreadInApp(ctx, "sup_1")
		require.NoError(t, err)
		require.Equal(t, 5, n)

		marked, err := e.s.markRead(ctx, "sup_1", []string{"msg_3", "msg_1", "msg_x", "msg_missing"}, t0.Add(time.Hour))
		require.NoError(t, err)
		require.Equal(t, []string{"ntf_1", "ntf_3"}, marked, "only the supplier's own messages")
		marked, err = e.s.markRead(ctx, "sup_1", []string{"msg_3"}, t0.Add(2*time.Hour))
		require.NoError(t, err)
		require.Empty(t, marked, "a read message is not marked again")
		marked, err = e.s.markRead(ctx, "sup_2", []string{"msg_0"}, t0.Add(2*time.Hour))
		require.NoError(t, err)
		require.Empty(t, marked, "another supplier cannot mark a message read")

		n, err = e.s.unreadInApp(ctx, "sup_1")
		require.NoError(t, err)
		require.Equal(t, 3, n)
		unread, err := e.s.listInApp(ctx, "sup_1", InAppQuery{UnreadOnly: true})
		require.NoError(t, err)
		require.Equal(t, []string{"msg_4", "msg_2", "msg_0"}, inAppIDs(unread))
		unread, err = e.s.listInApp(ctx, "sup_1", InAppQuery{UnreadOnly: true, Before: "msg_4", Limit: 1})
		require.NoError(t, err)
		require.Equal(t, []string{"msg_2"}, inAppIDs(unread))
		all, err = e.s.listInApp(ctx, "sup_1", InAppQuery{})
		require.NoError(t, err)
		require.Equal(t, t0.Add(time.Hour), all[1].ReadAt, "msg_3 keeps its first read time")

		marked, err = e.s.markRead(ctx, "sup_1", nil, t0.Add(3*time.Hour))
		require.NoError(t, err)
		require.Equal(t, []string{"ntf_0", "ntf_2", "ntf_4"}, marked, "no ids: every unread message")
		n, err = e.s.unreadInApp(ctx, "sup_1")
		require.NoError(t, err)
		require.Zero(t, n)
		n, err = e.s.unreadInApp(ctx, "sup_2")
		require.NoError(t, err)
		require.Equal(t, 1, n, "another supplier's inbox is untouched")
	})

	t.Run("prune", func(t *testing.T) {
		e := open(t)
		if e.pg != nil {
			e.pg.pruneBatch = 2 // several batches
		}
		cut := t0.Add(24 * time.Hour)
		for i, at := range []time.Time{t0, t0.Add(time.Hour), t0.Add(2 * time.Hour), cut, cut.Add(time.Hour)} {
			id := fmt.Sprintf("ntf_%d", i)
			require.NoError(t, e.withTx(ctx, func(tx pgx.Tx) error {
				if _, _, err := e.s.insertNotification(ctx, tx, newNotification(id, "sup_1", "key-"+id, at), at.Add(-time.Hour)); err != nil {
					return err
				}
				if err := e.s.setChannels(ctx, tx, &channelRow{NotificationID: id, ChannelStatus: ChannelStatus{Channel: ChannelEmail, Status: StatusSent, UpdatedAt: at}}); err != nil {
					return err
				}
				if err := e.s.insertAttempts(ctx, tx, &attemptRow{Attempt: Attempt{NotificationID: id, Channel: ChannelEmail, Number: 1, OK: true, At: at}, SupplierID: "sup_1", JobID: int64(i + 1)}); err != nil {
					return err
				}
				return e.s.insertInApp(ctx, tx, newInApp("msg_"+id, "sup_1", id, at))
			}))
		}
		n, err := e.s.prune(ctx, cut)
		require.NoError(t, err)
		require.Equal(t, int64(3), n)
		for i := range 5 {
			id := fmt.Sprintf("ntf_%d", i)
			_, err := e.s.getNotification(ctx, id)
			chans, cerr := e.s.channels(ctx, id)
			require.NoError(t, cerr)
			attempts, aerr := e.s.listAttempts(ctx, id)
			require.NoError(t, aerr)
			if i < 3 {
				require.ErrorIs(t, err, ErrNotFound, id)
				require.Empty(t, chans, id)
				require.Empty(t, attempts, id)
			} else {
				require.NoError(t, err, id)
				require.Len(t, chans, 1, id)
				require.Len(t, attempts, 1, id)
			}
		}
		msgs, err := e.s.listInApp(ctx, "sup_1", InAppQuery{})
		require.NoError(t, err)
		require.Equal(t, []string{"msg_ntf_4", "msg_ntf_3"}, inAppIDs(msgs))
		list, err := e.s.listNotifications(ctx, "sup_1", "", 0)
		require.NoError(t, err)
		require.Equal(t, []string{"ntf_4", "ntf_3"}, notificationIDs(list))

		// A pruned notification's key is free.
		id, created, err := e.s.insertNotification(ctx, nil, newNotification("ntf_9", "sup_1", "key-ntf_0", cut), t0.Add(-time.Hour))
		require.NoError(t, err)
		require.True(t, created)
		require.Equal(t, "ntf_9", id)

		n, err = e.s.prune(ctx, cut)
		require.NoError(t, err)
		require.Zero(t, n, "nothing left to prune")
	})

	t.Run("rolled back", func(t *testing.T) {
		e := open(t)
		if e.pg == nil {
			t.Skip("memory mode has no transactions")
		}
		rollback := errors.New("roll back")
		err := e.withTx(ctx, func(tx pgx.Tx) error {
			if _, _, err := e.s.insertNotification(ctx, tx, newNotification("ntf_1", "sup_1", "key-1", t0), t0); err != nil {
				return err
			}
			if err := e.s.setChannels(ctx, tx, &channelRow{NotificationID: "ntf_1", ChannelStatus: ChannelStatus{Channel: ChannelEmail, Status: StatusQueued, UpdatedAt: t0}}); err != nil {
				return err
			}
			if err := e.s.insertAttempts(ctx, tx, &attemptRow{Attempt: Attempt{NotificationID: "ntf_1", Channel: ChannelEmail, Number: 1, At: t0}, SupplierID: "sup_1", JobID: 1}); err != nil {
				return err
			}
			if _, _, err := e.s.addToDigest(ctx, tx, "sup_1", CategoryReview, "ntf_1", "dig_1", t0); err != nil {
				return err
			}
			if err := e.s.insertInApp(ctx, tx, newInApp("msg_1", "sup_1", "ntf_1", t0)); err != nil {
				return err
			}
			return rollback
		})
		require.ErrorIs(t, err, rollback)
		_, err = e.s.getNotification(ctx, "ntf_1")
		require.ErrorIs(t, err, ErrNotFound)
		chans, err := e.s.channels(ctx, "ntf_1")
		require.NoError(t, err)
		require.Empty(t, chans)
		recorded, err := e.s.attemptRecorded(ctx, "ntf_1", ChannelEmail, 1)
		require.NoError(t, err)
		require.False(t, recorded)
		_, err = e.s.closeDigest(ctx, nil, "dig_1")
		require.ErrorIs(t, err, ErrNotFound)
		n, err := e.s.unreadInApp(ctx, "sup_1")
		require.NoError(t, err)
		require.Zero(t, n)
		// The key was never taken.
		id, created, err := e.s.insertNotification(ctx, nil, newNotification("ntf_2", "sup_1", "key-1", t0), t0)
		require.NoError(t, err)
		require.True(t, created)
		require.Equal(t, "ntf_2", id)
	})
}

func newInApp(id, supplier, notificationID string, at time.Time) *InAppMessage {
	return &InAppMessage{ID: id, SupplierID: supplier, NotificationID: notificationID, Event: "booking.confirmed",
		Category: CategoryBooking, Priority: PriorityNormal, Title: "New booking", Body: "Sam & Alex booked Ivy Hall",
		URL: "https://app.example/bookings/42", Data: json.RawMessage(`{"booking_id":"42"}`), CreatedAt: at}
}
