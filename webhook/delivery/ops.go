package delivery

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wedsync/integrations/internal/jobs"
)

// ListAttempts returns attempts matching q, newest first.
func (m *Manager) ListAttempts(ctx context.Context, q AttemptQuery) ([]Attempt, error) {
	switch {
	case q.Limit < 0:
		return nil, invalid("limit", "must be >= 0")
	case q.Limit == 0:
		q.Limit = 100
	case q.Limit > 1000:
		q.Limit = 1000
	}
	if q.Status != "" && q.Status != AttemptSucceeded && q.Status != AttemptFailed {
		return nil, invalid("status", "must be %q or %q", AttemptSucceeded, AttemptFailed)
	}
	return m.store.listAttempts(ctx, q)
}

// Resend queues one more delivery of a message to one endpoint, now,
// whatever happened before. It starts a fresh retry chain.
func (m *Manager) Resend(ctx context.Context, messageID, endpointID string) error {
	if _, err := m.store.getMessage(ctx, messageID); err != nil {
		return err
	}
	if _, err := m.store.getEndpoint(ctx, endpointID); err != nil {
		return err
	}
	return m.resend(ctx, endpointID, []string{messageID})
}

// Recover resends every message to the endpoint whose last attempt at or
// after since failed for good (schedule spent, endpoint disabled or gone).
// It returns how many were queued. Resume a disabled endpoint first.
func (m *Manager) Recover(ctx context.Context, endpointID string, since time.Time) (int, error) {
	if _, err := m.store.getEndpoint(ctx, endpointID); err != nil {
		return 0, err
	}
	ids, err := m.store.failedMessages(ctx, endpointID, since)
	if err != nil {
		return 0, err
	}
	return len(ids), m.resend(ctx, endpointID, ids)
}

func (m *Manager) resend(ctx context.Context, endpointID string, messageIDs []string) error {
	nonce := newID("rs_")
	const batch = 1000
	for len(messageIDs) > 0 {
		n := min(batch, len(messageIDs))
		ps := make([]jobs.InsertParams, n)
		for i, id := range messageIDs[:n] {
			ps[i] = jobs.InsertParams{Args: deliverArgs{MessageID: id, EndpointID: endpointID, Number: 1, Resend: nonce}, Priority: priorityBulk}
		}
		if n == 1 {
			ps[0].Priority = priorityNormal
		}
		if err := m.queue.InTx(ctx, func(tx pgx.Tx) error { return m.queue.InsertTx(ctx, tx, ps...) }); err != nil {
			return err
		}
		messageIDs = messageIDs[n:]
	}
	return nil
}

// Stats summarises an endpoint's attempts since a time: success rate and
// latency percentiles.
func (m *Manager) Stats(ctx context.Context, endpointID string, since time.Time) (EndpointStats, error) {
	if _, err := m.store.getEndpoint(ctx, endpointID); err != nil {
		return EndpointStats{}, err
	}
	return m.store.stats(ctx, endpointID, since)
}
