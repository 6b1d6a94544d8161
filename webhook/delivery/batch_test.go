package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/webhook/delivery"
	"github.com/wedsync/integrations/webhook/webhooktest"
)

// batchProbe is the store's batch hook for a test: it holds the first
// batch of each kind until the other deliveries queue behind it, so that
// they form one batch whatever the timing, and fails the first batch of
// attempt rows with more than one row in it, as a commit that fails.
type batchProbe struct {
	behind int // how many items the first batch of a kind waits for

	mu      sync.Mutex
	sizes   map[string][]int
	waiting map[string]int
	changed chan struct{}
	failed  int // rows in the batch that was failed
}

func newBatchProbe(behind int) *batchProbe {
	return &batchProbe{behind: behind, sizes: map[string][]int{}, waiting: map[string]int{}, changed: make(chan struct{})}
}

func (p *batchProbe) hook(event string, n int) error {
	p.mu.Lock()
	switch event {
	case "read queued", "final queued":
		p.waiting[event] = max(p.waiting[event], n)
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
		return nil
	}
	first := len(p.sizes[event]) == 0
	p.sizes[event] = append(p.sizes[event], n)
	fail := event == "final" && n > 1 && p.failed == 0
	if fail {
		p.failed = n
	}
	p.mu.Unlock()
	if first {
		p.await(event+" queued", p.behind)
	}
	if fail {
		return errors.New("injected: the batch's commit fails")
	}
	return nil
}

// await blocks until n items have queued behind a running batch of event.
func (p *batchProbe) await(event string, n int) {
	timeout := time.After(time.Minute)
	for {
		p.mu.Lock()
		ok, ch := p.waiting[event] >= n, p.changed
		p.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			panic(fmt.Sprintf("no %d items queued as %q within a minute", n, event))
		}
	}
}

func (p *batchProbe) batches(kind string) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.sizes[kind]...)
}

// Concurrent deliveries read their messages and write their attempt rows
// in batches. A batch of rows whose commit fails is written again row by
// row: every delivery is recorded exactly once, and no request is made
// twice.
func TestPostgresBatchedBookkeepingRetriesRowsNotRequests(t *testing.T) {
	const n = 40
	ctx := context.Background()
	db := migrated(t)
	probe := newBatchProbe(n - 1)
	log := newAttempts()
	m := newPGManager(t, db, log.hook(), delivery.WithBatchHook(probe.hook))
	recv := webhooktest.NewReceiver(t)
	ep, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_1", URL: recv.URL})
	require.NoError(t, err)
	ids, err := m.SendBatch(ctx, numbered("booking.confirmed", n))
	require.NoError(t, err)
	start(t, m)

	logged, rowID := map[string]int{}, map[string]int64{}
	for range n {
		a := log.next(t)
		require.Equal(t, delivery.AttemptSucceeded, a.Status)
		logged[a.MessageID]++
		rowID[a.MessageID] = a.ID
	}
	require.NoError(t, m.WaitIdle(ctx))

	requests := map[string]int{}
	for _, d := range recv.Deliveries() {
		requests[d.ID]++
	}
	for _, id := range ids {
		require.Equal(t, 1, requests[id], "one request for message %s", id)
		require.Equal(t, 1, logged[id], "one attempt logged for message %s", id)
		rows, err := m.ListAttempts(ctx, delivery.AttemptQuery{MessageID: id, EndpointID: ep.ID})
		require.NoError(t, err)
		require.Len(t, rows, 1, "one attempt row for message %s", id)
		require.Equal(t, rows[0].ID, rowID[id], "the logged attempt carries its row's id")
		require.Equal(t, "sup_1", rows[0].SupplierID)
		require.Equal(t, http.StatusNoContent, rows[0].ResponseStatus)
	}
	require.Equal(t, n, recv.Count())

	reads, finals := probe.batches("read"), probe.batches("final")
	require.Equal(t, 1, reads[0], "the first read runs at once, alone")
	require.Equal(t, n-1, reads[1], "the reads that came during it run together")
	require.Equal(t, 1, finals[0])
	require.Equal(t, n-1, finals[1], "so do the attempt rows")
	require.Equal(t, n-1, probe.failed, "and that batch's commit failed")
	require.Len(t, finals, 2+n-1, "after which each of its rows was written alone")
	for _, size := range finals[2:] {
		require.Equal(t, 1, size)
	}
}
