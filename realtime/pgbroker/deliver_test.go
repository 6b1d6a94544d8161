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
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	hook := func(n int) {
		mu.Lock()
		sizes = append(sizes, n)
		first := len(sizes) == 1
		mu.Unlock()
		if first {
			<-release // the deliverer is busy with the first one
		}
	}
	b := newBroker(t, db, pgbroker.WithChannel(db.Schema), pgbroker.WithDeliverHook(hook))
	rec := newRecorder()
	require.NoError(t, b.Attach(rec))

	const total = 100
	for i := 1; i <= total; i++ {
		_, err := b.Publish(ctx, "supplier:1", "kpi.updated", json.RawMessage(fmt.Sprintf(`{"bookings":%d}`, i)), "")
		require.NoError(t, err)
	}
	// The first notification is with the deliverer; the other 99 wait.
	require.Eventually(t, func() bool { return b.Inbox() == total-1 }, 30*time.Second, time.Millisecond)
	close(release)
	for i := 1; i <= total; i++ {
		got := rec.next(t, ctx)
		require.Equal(t, uint64(i), got.Offset)
		require.JSONEq(t, fmt.Sprintf(`{"bookings":%d}`, i), string(got.Payload))
	}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []int{1, total - 1}, sizes, "one read for the first, one for the 99 that waited")
}
