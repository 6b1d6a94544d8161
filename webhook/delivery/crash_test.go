package delivery_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/crashtest"
	"github.com/wedsync/integrations/webhook/delivery"
	"github.com/wedsync/integrations/webhook/webhooktest"
)

const (
	crashChildEnv  = "WEDSYNC_CRASH_CHILD_DB"
	crashSchemaEnv = "WEDSYNC_CRASH_CHILD_SCHEMA"
)

// crashChildOptions make a killed worker's jobs come back quickly: River
// rescues a job running longer than RescueAfter (its rescuer looks every
// 30 s).
func crashChildOptions() []delivery.Option {
	return []delivery.Option{
		delivery.WithTimeout(2 * time.Second),
		delivery.WithQueueConfig(delivery.QueueConfig{JobTimeout: 4 * time.Second, RescueAfter: 5 * time.Second}),
	}
}

// crashChild is the worker process: it delivers until it is killed.
func crashChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	pool, err := pgxpool.New(ctx, os.Getenv(crashChildEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 2
	}
	defer pool.Close()
	opts := append([]delivery.Option{
		delivery.WithPostgres(pool), delivery.WithSchema(os.Getenv(crashSchemaEnv)), delivery.WithEncryptionKey(testKey),
		delivery.WithAllowedNetworks(loopback...), delivery.WithInsecureHTTP(true),
	}, crashChildOptions()...)
	m, err := delivery.NewManager(opts...)
	if err == nil {
		err = m.Start(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 2
	}
	<-ctx.Done()
	_ = m.Stop(context.Background())
	return 0
}

// TestPostgresCrashLosesNothing delivers 5,000 messages through worker
// processes that are killed with SIGKILL at random points of the stream and
// restarted; every message must arrive at least once.
func TestPostgresCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts worker processes for about a minute")
	}
	const messages, kills = 5000, 10
	ctx := context.Background()
	db := migrated(t)
	recv := webhooktest.NewReceiver(t)
	m := newPGManager(t, db)
	_, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_1", URL: recv.URL})
	require.NoError(t, err)
	ids, err := m.SendBatch(ctx, numbered("booking.confirmed", messages))
	require.NoError(t, err)

	unique := func() map[string]int {
		seen := map[string]int{}
		for _, d := range recv.Deliveries() {
			seen[d.ID]++
		}
		return seen
	}
	crashtest.Run(t, crashtest.Config{
		Env:   []string{crashChildEnv + "=" + db.URL, crashSchemaEnv + "=" + db.Schema},
		Total: messages, Kills: kills,
		Wait: func(ctx context.Context, n int) error {
			_, err := recv.WaitFor(ctx, n)
			return err
		},
		Count: recv.Count,
		Done:  func() bool { return len(unique()) >= messages },
	})

	seen := unique()
	dups := recv.Count() - len(seen)
	t.Logf("%d messages, %d SIGKILLs, %d requests received, %d distinct message ids, %d duplicate deliveries",
		messages, kills, recv.Count(), len(seen), dups)
	var missing []string
	for _, id := range ids {
		if seen[id] == 0 {
			missing = append(missing, id)
		}
	}
	require.Empty(t, missing, "every message arrives at least once")
	require.Len(t, seen, messages, "and nothing else arrives")
}
