package notify_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/crashtest"
	. "github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/notify/smtp"
	"github.com/wedsync/integrations/notify/smtp/smtptest"
)

const (
	crashChildEnv  = "WEDSYNC_NOTIFY_CRASH_CHILD_DB"
	crashSchemaEnv = "WEDSYNC_NOTIFY_CRASH_CHILD_SCHEMA"
	crashSMTPEnv   = "WEDSYNC_NOTIFY_CRASH_CHILD_SMTP"
)

// crashChild is the worker process: it sends notifications by email to the
// parent's SMTP server until it is killed.
func crashChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	pool, err := pgxpool.New(ctx, os.Getenv(crashChildEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 2
	}
	defer pool.Close()
	host, portStr, _ := strings.Cut(os.Getenv(crashSMTPEnv), ":")
	port, _ := strconv.Atoi(portStr)
	mail, err := smtp.New(host, port, smtp.WithTLS(smtp.NoTLS), smtp.WithFrom("notifications@wedsync.example", "WedSync"),
		smtp.WithTimeout(2*time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 2
	}
	n, err := NewNotifier(WithPostgres(pool), WithSchema(os.Getenv(crashSchemaEnv)), WithEncryptionKey(testKey),
		WithTemplates(testTemplates(&testing.T{})), WithProvider(mail), WithTimeout(2*time.Second),
		// A killed worker's jobs come back quickly: River rescues a job
		// running longer than RescueAfter (its rescuer looks every 30 s).
		WithQueueConfig(QueueConfig{JobTimeout: 4 * time.Second, RescueAfter: 5 * time.Second, MaxWorkers: 50}))
	if err == nil {
		err = n.Start(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 2
	}
	<-ctx.Done()
	_ = n.Stop(context.Background())
	return 0
}

// TestPostgresCrashLosesNothing sends 2,000 notifications by email through
// worker processes that are killed with SIGKILL at random points and
// restarted; every notification's email must arrive at the (real, local)
// SMTP server at least once.
func TestPostgresCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts worker processes for about a minute")
	}
	const total, kills = 2000, 6
	ctx := context.Background()
	db := migrated(t)
	srv := smtptest.StartT(t, smtptest.WithInboxSize(4*total))
	n := newPGNotifier(t, db)
	require.NoError(t, n.SetPreferences(ctx, "sup_1", Preferences{Default: CategoryPreferences{Channels: map[Channel]bool{ChannelEmail: true}}}))
	var ids []string
	for batch := 0; batch < total/500; batch++ {
		require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			for i := 0; i < 500; i++ {
				nt := booking("sup_1", "UTC")
				nt.Data["couple_name"] = fmt.Sprint("couple ", batch*500+i)
				r, err := n.SendTx(ctx, tx, nt)
				if err != nil {
					return err
				}
				ids = append(ids, r.ID)
			}
			return nil
		}))
	}

	unique := func() map[string]int {
		seen := map[string]int{}
		for _, m := range srv.Messages() {
			id := strings.Trim(m.Header.Get("Message-Id"), "<>")
			id, _, _ = strings.Cut(id, "@")
			seen[id]++
		}
		return seen
	}
	crashtest.Run(t, crashtest.Config{
		Env:   []string{crashChildEnv + "=" + db.URL, crashSchemaEnv + "=" + db.Schema, crashSMTPEnv + "=" + srv.Addr()},
		Total: total, Kills: kills,
		Wait: func(ctx context.Context, n int) error {
			_, err := srv.Wait(ctx, n)
			return err
		},
		Count: srv.Count,
		Done:  func() bool { return len(unique()) >= total },
	})

	seen := unique()
	t.Logf("%d notifications, %d SIGKILLs, %d mails received, %d distinct notifications, %d duplicates",
		total, kills, srv.Count(), len(seen), srv.Count()-len(seen))
	var missing []string
	for _, id := range ids {
		if seen[id] == 0 {
			missing = append(missing, id)
		}
	}
	require.Empty(t, missing, "every notification's email arrives at least once")
	require.Len(t, seen, total, "and nothing else arrives")
	for _, id := range ids[:20] {
		st, err := n.Status(ctx, id)
		require.NoError(t, err)
		require.Equal(t, StatusSent, st.Channels[2].Status, "email is recorded as sent")
	}
}
