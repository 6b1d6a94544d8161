package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

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
	msgs := make([]delivery.Message, messages)
	for i := range msgs {
		msgs[i] = delivery.Message{SupplierID: "sup_1", EventType: "booking.confirmed", Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
	}
	ids, err := m.SendBatch(ctx, msgs)
	require.NoError(t, err)

	var child *exec.Cmd
	startChild := func() {
		child = exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), crashChildEnv+"="+db.URL, crashSchemaEnv+"="+db.Schema)
		child.Stderr = os.Stderr
		require.NoError(t, child.Start())
	}
	t.Cleanup(func() {
		if child != nil && child.ProcessState == nil {
			_ = child.Process.Kill()
			_ = child.Wait()
		}
	})

	// Kill points: random positions in the delivery stream.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	seed := rng.Uint64()
	rng = rand.New(rand.NewPCG(seed, 7))
	points := make([]int, kills)
	for i := range points {
		points[i] = 1 + rng.IntN(messages*9/10)
	}
	slices.Sort(points)
	t.Logf("seed %d; kills after these delivery counts: %v", seed, points)

	for _, p := range points {
		startChild()
		waitCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		_, err := recv.WaitFor(waitCtx, p)
		cancel()
		require.NoError(t, err, "deliveries resume after a restart (reached %d of %d)", recv.Count(), p)
		require.NoError(t, child.Process.Signal(syscall.SIGKILL))
		_ = child.Wait()
	}

	startChild()
	unique := func() map[string]int {
		seen := map[string]int{}
		for _, d := range recv.Deliveries() {
			seen[d.ID]++
		}
		return seen
	}
	deadline := time.Now().Add(4 * time.Minute)
	for len(unique()) < messages {
		// Wait for the next delivery rather than poll.
		waitCtx, cancel := context.WithDeadline(ctx, deadline)
		_, err := recv.WaitFor(waitCtx, recv.Count()+1)
		cancel()
		if err != nil {
			break
		}
	}
	require.NoError(t, child.Process.Signal(syscall.SIGTERM))
	require.NoError(t, child.Wait())

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
