package pgbroker_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/internal/pgtest"
	"github.com/wedsync/integrations/realtime/pgbroker"
)

// Publications notified while the deliverer is busy are read back together
// in one statement, and delivered in offset order.
func TestNotificationsReadBackInBatches(t *testing.T) {
	db := pgtest.New(t, "pgbroker")
	ctx := testCtx(t)
	release, held := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	hook := func(n int) {
		mu.Lock()
		sizes = append(sizes, n)
		first := len(sizes) == 1
		mu.Unlock()
		if first {
			close(held)
			<-release // the deliverer is busy with the first one
		}
	}
	b := newBroker(t, db, pgbroker.WithChannel(db.Schema), pgbroker.WithDeliverHook(hook))
	// Registered after the broker's Close, so it runs first: a failure
	// below must not leave Close waiting on a held deliverer.
	var once sync.Once
	releaseOnce := func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseOnce)
	rec := newRecorder()
	require.NoError(t, b.Attach(rec))

	const total = 100
	publish := func(i int) {
		t.Helper()
		_, err := b.Publish(ctx, "supplier:1", "kpi.updated", json.RawMessage(fmt.Sprintf(`{"bookings":%d}`, i)), "")
		require.NoError(t, err)
	}
	// The first publication alone, so that the deliverer's first batch is
	// it alone however late the deliverer wakes; the other 99 are
	// published while the deliverer is held with it, and wait.
	publish(1)
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("the first publication never reached the deliverer")
	}
	for i := 2; i <= total; i++ {
		publish(i)
	}
	require.Eventually(t, func() bool { return b.Inbox() == total-1 }, 30*time.Second, time.Millisecond)
	releaseOnce()
	for i := 1; i <= total; i++ {
		got := rec.next(t, ctx)
		require.Equal(t, uint64(i), got.Offset)
		require.JSONEq(t, fmt.Sprintf(`{"bookings":%d}`, i), string(got.Payload))
	}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []int{1, total - 1}, sizes, "one read for the first, one for the 99 that waited")
}
