package notify_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/pgtest"
	. "github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/notify/smtp"
	"github.com/wedsync/integrations/notify/smtp/smtptest"
)

var testKey = bytes.Repeat([]byte{0x42}, 32)

func migrated(t testing.TB) *pgtest.DB {
	t.Helper()
	db := pgtest.New(t, "notify")
	require.NoError(t, Migrate(context.Background(), db.Pool, WithSchema(db.Schema)))
	require.NoError(t, Migrate(context.Background(), db.Pool, WithSchema(db.Schema)), "Migrate is idempotent")
	return db
}

func newPGNotifier(t testing.TB, db *pgtest.DB, opts ...Option) *Notifier {
	t.Helper()
	base := []Option{WithPostgres(db.Pool), WithSchema(db.Schema), WithEncryptionKey(testKey), WithTemplates(testTemplates(t))}
	n, err := NewNotifier(append(base, opts...)...)
	require.NoError(t, err)
	return n
}

func startN(t testing.TB, n *Notifier) {
	t.Helper()
	require.NoError(t, n.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, n.Stop(context.Background())) })
}

func waitIdle(t testing.TB, n *Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, n.WaitIdle(ctx))
}

func TestPostgresSendTxRollbackSendsNothingCommitSends(t *testing.T) {
	ctx := context.Background()
	db := migrated(t)
	// The email goes to a real SMTP server, through the real provider.
	srv := smtptest.StartT(t)
	email, err := smtp.New(srv.Host(), srv.Port(), smtp.WithName("mail"), smtp.WithTLS(smtp.NoTLS),
		smtp.WithFrom("notifications@wedsync.example", "WedSync"))
	require.NoError(t, err)
	n := newPGNotifier(t, db, WithProvider(email))
	require.NoError(t, n.SetPreferences(ctx, "sup_1", Preferences{Default: CategoryPreferences{Channels: map[Channel]bool{ChannelEmail: true}}}))
	startN(t, n)

	_, err = db.Pool.Exec(ctx, "CREATE TABLE bookings (id text PRIMARY KEY)")
	require.NoError(t, err)
	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO bookings VALUES ('bk_rolled_back')")
	require.NoError(t, err)
	nt := booking("sup_1", "UTC")
	nt.Data["couple_name"] = "Rolled Back"
	rolledBack, err := n.SendTx(ctx, tx, nt)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))

	tx, err = db.Pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO bookings VALUES ('bk_committed')")
	require.NoError(t, err)
	nt.Data["couple_name"] = "Committed"
	committed, err := n.SendTx(ctx, tx, nt)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))

	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	got, err := srv.Wait(waitCtx, 1)
	require.NoError(t, err)
	require.Equal(t, "<"+committed.ID+"@wedsync.example>", got[0].Header.Get("Message-Id"))
	parsed, err := smtptest.Parse(got[0])
	require.NoError(t, err)
	require.Equal(t, "Booking confirmed: Committed", parsed.Subject)
	waitIdle(t, n)
	require.Equal(t, 1, srv.Count(), "the rolled-back notification was never sent")
	_, err = n.Status(ctx, rolledBack.ID)
	require.ErrorIs(t, err, ErrNotFound)
	st, err := n.Status(ctx, committed.ID)
	require.NoError(t, err)
	require.Len(t, st.Channels, 4)
	for _, c := range st.Channels {
		if c.Channel == ChannelEmail {
			require.Equal(t, StatusSent, c.Status)
			require.Equal(t, "mail", c.Provider)
		} else {
			require.Equal(t, StatusSuppressed, c.Status, c.Channel)
		}
	}
}

func TestPostgresStatePersistsAcrossNotifiers(t *testing.T) {
	ctx := context.Background()
	db := migrated(t)
	n := newPGNotifier(t, db)
	// Explicit preferences: the defaults' quiet hours would hold the push
	// on the real clock at night.
	require.NoError(t, n.SetPreferences(ctx, "sup_1", Preferences{Default: CategoryPreferences{Channels: map[Channel]bool{ChannelPush: true}}}))
	sub, err := n.AddPushSubscription(ctx, PushSubscription{SupplierID: "sup_1", Kind: PushFCM, Token: "fcm-token-secret-value"})
	require.NoError(t, err)
	nt := booking("sup_1", "UTC")
	nt.IdempotencyKey = "k1"
	r, err := n.Send(ctx, nt)
	require.NoError(t, err)

	// The token is sealed at rest.
	var raw []byte
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT sealed FROM notify_push_subscriptions WHERE id = $1", sub.ID).Scan(&raw))
	require.NotContains(t, string(raw), "fcm-token-secret-value")

	// Another instance sees the same notification and honours the key.
	push := newFake("fcm", ChannelPush)
	n2 := newPGNotifier(t, db, WithProvider(fakePush{push, PushFCM}))
	again, err := n2.Send(ctx, nt)
	require.NoError(t, err)
	require.True(t, again.Duplicate)
	require.Equal(t, r.ID, again.ID)
	startN(t, n2)
	m := <-push.got
	require.Equal(t, "fcm-token-secret-value", m.Subscription.Token, "the token opens with the key")
	waitIdle(t, n2)
	_, err = NewNotifier(WithPostgres(db.Pool), WithSchema(db.Schema), WithTemplates(testTemplates(t)))
	require.ErrorContains(t, err, "WithEncryptionKey")
}

// TestWeddingDayCriticalOvertakesBulk queues a supplier's bulk notifications,
// then one critical notification for another supplier, and counts the bulk
// items sent between the critical one's acceptance and its send. Set
// WEDSYNC_WEDDING_DAY_N=100000 for the figure (CI runs 2,000).
func TestWeddingDayCriticalOvertakesBulk(t *testing.T) {
	total := 2000
	if v := os.Getenv("WEDSYNC_WEDDING_DAY_N"); v != "" {
		var err error
		total, err = strconv.Atoi(v)
		require.NoError(t, err)
	}
	for _, mode := range []string{"memory", "postgres"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			// The mails go to a real SMTP server, whose inbox keeps them
			// in the order they arrived.
			srv := smtptest.StartT(t, smtptest.WithInboxSize(total+1))
			email, err := smtp.New(srv.Host(), srv.Port(), smtp.WithTLS(smtp.NoTLS), smtp.WithFrom("notifications@wedsync.example", ""))
			require.NoError(t, err)
			opts := []Option{WithProvider(email), WithTemplates(testTemplates(t))}
			var n *Notifier
			var pool *pgxpool.Pool
			if mode == "memory" {
				n, err = NewNotifier(opts...)
				require.NoError(t, err)
			} else {
				db := migrated(t)
				pool = db.Pool
				n = newPGNotifier(t, db, opts...)
			}
			emailOnly := Preferences{
				Default:    CategoryPreferences{Channels: map[Channel]bool{ChannelEmail: true}},
				Escalation: []Channel{ChannelEmail},
			}
			require.NoError(t, n.SetPreferences(ctx, "sup_bulk", emailOnly))
			require.NoError(t, n.SetPreferences(ctx, "sup_today", emailOnly))
			startN(t, n)
			start := time.Now()
			bulk := func(i int) Notification {
				nt := booking("sup_bulk", "UTC")
				nt.Data["couple_name"] = fmt.Sprint("couple ", i)
				return nt
			}
			if pool == nil {
				for i := 0; i < total; i++ {
					_, err := n.Send(ctx, bulk(i))
					require.NoError(t, err)
				}
			} else {
				// An import: a thousand per transaction, as a host
				// queues a season's reminders.
				for i := 0; i < total; {
					require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
						for end := min(i+1000, total); i < end; i++ {
							if _, err := n.SendTx(ctx, tx, bulk(i)); err != nil {
								return err
							}
						}
						return nil
					}))
				}
			}
			queued := time.Since(start)
			atAccept := srv.Count()
			crit := booking("sup_today", "UTC")
			crit.Priority = PriorityCritical
			r, err := n.Send(ctx, crit)
			require.NoError(t, err)
			accepted := time.Now()
			critID := "<" + r.ID + "@wedsync.example>"
			position := -1 // the critical mail's place in the inbox
			waitCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
			defer cancel()
			for seen := atAccept; position < 0; seen++ {
				got, err := srv.Wait(waitCtx, seen+1)
				require.NoError(t, err, "the critical mail arrives")
				if got[seen].Header.Get("Message-Id") == critID {
					position = seen
				}
			}
			took := time.Since(accepted)
			waitIdle(t, n)
			before := position - atAccept
			t.Logf("%s: %d bulk queued in %s (%d already sent when the critical one was accepted); "+
				"%d bulk sent between its acceptance and its send, %s later; %d of %d bulk still waiting then",
				mode, total, queued.Round(time.Millisecond), atAccept, before, took.Round(time.Millisecond),
				total-position, total)
			require.Less(t, before, 600, "the critical notification goes ahead of the bulk queue, not behind it")
			require.Equal(t, total+1, srv.Count(), "every bulk mail arrives too")
		})
	}
}
