package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/time/rate"

	"github.com/wedsync/integrations/internal/jobs"
)

// deliverArgs is the durable job for one attempt of one message to one
// endpoint. A failed attempt inserts the next one (Number+1) as a unique job,
// so a crashed attempt that runs twice cannot fork the retry chain.
type deliverArgs struct {
	MessageID  string `json:"message_id"`
	EndpointID string `json:"endpoint_id"`
	Number     int    `json:"number"`
	// Resend tells manual resends apart from the automatic chain.
	Resend string `json:"resend,omitempty"`
}

func (deliverArgs) Kind() string { return "wedsync_webhook_deliver" }

// Priorities of delivery jobs: fresh traffic first, a supplier's burst
// beyond its fair share after everyone else's.
const (
	priorityNormal = 1
	priorityBulk   = 3
)

func (m *Manager) validateMessage(msg *Message) error {
	if err := validateSupplier(msg.SupplierID); err != nil {
		return err
	}
	if err := validateEventType("event_type", msg.EventType); err != nil {
		return err
	}
	if len(msg.Payload) == 0 {
		return invalid("payload", "is required (a JSON value)")
	}
	if len(msg.Payload) > m.o.maxPayload {
		return fmt.Errorf("%w: payload is %d bytes, the limit is %d", ErrPayloadTooLarge, len(msg.Payload), m.o.maxPayload)
	}
	if !json.Valid(msg.Payload) {
		return invalid("payload", "must be valid JSON")
	}
	if len(msg.IdempotencyKey) > maxKeyLen {
		return invalid("idempotency_key", "must be at most %d characters", maxKeyLen)
	}
	if len(msg.EndpointID) > maxKeyLen {
		return invalid("endpoint_id", "must be at most %d characters", maxKeyLen)
	}
	return nil
}

// Send stores msg and queues a delivery to every endpoint of the supplier
// whose filter matches. It returns the message id, which is
// also the webhook-id header. In Postgres mode the message and its jobs are
// committed together before Send returns.
func (m *Manager) Send(ctx context.Context, msg Message) (string, error) {
	if err := m.validateMessage(&msg); err != nil {
		return "", err
	}
	var id string
	err := m.queue.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		id, err = m.send(ctx, tx, &msg)
		return err
	})
	return id, err
}

// SendTx is Send inside the host's transaction: the message exists, and is
// delivered, only if tx commits. Write the business change and its webhook
// in one transaction and neither can happen without the other. Memory mode
// returns ErrNoDatabase.
func (m *Manager) SendTx(ctx context.Context, tx pgx.Tx, msg Message) (string, error) {
	if m.o.pool == nil {
		return "", ErrNoDatabase
	}
	if tx == nil {
		return "", invalid("tx", "is required")
	}
	if err := m.validateMessage(&msg); err != nil {
		return "", err
	}
	return m.send(ctx, tx, &msg)
}

// SendBatch sends many messages at once, for imports and backfills: in
// Postgres mode one transaction stores them all (COPY) and queues their
// deliveries, so it is many times faster than a Send per message. Every
// message is validated first; an error names the message's index, and
// then nothing is sent. Messages with an idempotency key take the per-message
// path inside the same transaction.
func (m *Manager) SendBatch(ctx context.Context, msgs []Message) ([]string, error) {
	for i := range msgs {
		if err := m.validateMessage(&msgs[i]); err != nil {
			var ve *ValidationError
			if errors.As(err, &ve) {
				return nil, invalid(fmt.Sprintf("messages[%d].%s", i, ve.Field), "%s", ve.Rule)
			}
			return nil, fmt.Errorf("messages[%d]: %w", i, err)
		}
	}
	ids := make([]string, len(msgs))
	err := m.queue.InTx(ctx, func(tx pgx.Tx) error {
		now := m.o.clock.Now()
		var plain []*storedMessage
		var plainIdx []int
		for i := range msgs {
			if msgs[i].IdempotencyKey != "" || msgs[i].EndpointID != "" || tx == nil {
				id, err := m.send(ctx, tx, &msgs[i])
				if err != nil {
					return err
				}
				ids[i] = id
				continue
			}
			sm := &storedMessage{ID: newID("msg_"), SupplierID: msgs[i].SupplierID, EventType: msgs[i].EventType, Payload: msgs[i].Payload, CreatedAt: now}
			ids[i] = sm.ID
			plain = append(plain, sm)
			plainIdx = append(plainIdx, i)
		}
		if len(plain) == 0 {
			return nil
		}
		if err := m.store.(*pgStore).copyMessages(ctx, tx, plain); err != nil {
			return err
		}
		bySupplier := map[string][]*Endpoint{}
		var ps []jobs.InsertParams
		for _, sm := range plain {
			eps, ok := bySupplier[sm.SupplierID]
			if !ok {
				var err error
				if eps, err = m.store.supplierEndpoints(ctx, tx, sm.SupplierID); err != nil {
					return err
				}
				bySupplier[sm.SupplierID] = eps
			}
			ps = append(ps, m.fanOut(sm.ID, sm.SupplierID, sm.EventType, eps)...)
		}
		if err := m.queue.InsertTx(ctx, tx, ps...); err != nil {
			return err
		}
		m.tel.messages.Add(ctx, int64(len(plain)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// fanOut makes the first delivery job for each matching endpoint.
func (m *Manager) fanOut(id, supplier, eventType string, eps []*Endpoint) []jobs.InsertParams {
	var ps []jobs.InsertParams
	for _, ep := range eps {
		// Disabled endpoints get a job too: it logs a failed attempt, so
		// Recover can resend the message once the endpoint is resumed.
		if matchEventType(ep.EventTypes, eventType) {
			ps = append(ps, jobs.InsertParams{Args: deliverArgs{MessageID: id, EndpointID: ep.ID, Number: 1}})
		}
	}
	if len(ps) > 0 {
		prio := m.fairPriority(supplier, len(ps))
		var runAt time.Time
		if first := m.o.policy.First(); first > 0 {
			runAt = m.o.clock.Now().Add(first)
		}
		for i := range ps {
			ps[i].Priority = prio
			ps[i].RunAt = runAt
		}
	}
	return ps
}

func (m *Manager) send(ctx context.Context, tx pgx.Tx, msg *Message) (string, error) {
	var eps []*Endpoint
	if msg.EndpointID != "" {
		// A message to an endpoint the supplier does not have is refused
		// before anything is stored.
		all, err := m.store.supplierEndpoints(ctx, tx, msg.SupplierID)
		if err != nil {
			return "", err
		}
		if eps, err = oneEndpoint(all, msg.EndpointID, msg.SupplierID); err != nil {
			return "", err
		}
	}
	now := m.o.clock.Now()
	sm := &storedMessage{ID: newID("msg_"), SupplierID: msg.SupplierID, EventType: msg.EventType, Payload: msg.Payload, CreatedAt: now}
	id, created, err := m.store.insertMessage(ctx, tx, sm, msg.IdempotencyKey, now.Add(-m.o.idempotencyTTL))
	if err != nil || !created {
		return id, err // a repeat of an idempotency key: nothing to fan out
	}
	if eps == nil {
		if eps, err = m.store.supplierEndpoints(ctx, tx, msg.SupplierID); err != nil {
			return "", err
		}
	}
	if err := m.queue.InsertTx(ctx, tx, m.fanOut(id, msg.SupplierID, msg.EventType, eps)...); err != nil {
		return "", err
	}
	m.tel.messages.Add(ctx, 1)
	return id, nil
}

// oneEndpoint is the endpoint a Message.EndpointID names, as an endpoint
// whose filter takes every event type (the sender chose it explicitly).
func oneEndpoint(eps []*Endpoint, id, supplier string) ([]*Endpoint, error) {
	for _, ep := range eps {
		if ep.ID == id {
			only := *ep
			only.EventTypes = nil
			return []*Endpoint{&only}, nil
		}
	}
	return nil, invalid("endpoint_id", "%q is not an endpoint of supplier %q", id, supplier)
}

// fairPriority takes n tokens from the supplier's bucket: within its fair
// share the deliveries run at normal priority, beyond it in the bulk lane.
func (m *Manager) fairPriority(supplier string, n int) int {
	m.mu.Lock()
	l := m.fair[supplier]
	if l == nil {
		if len(m.fair) > 100_000 {
			clear(m.fair) // bound memory; a full bucket is the safe default
		}
		l = rate.NewLimiter(rate.Limit(m.o.fairRate), m.o.fairBurst)
		m.fair[supplier] = l
	}
	m.mu.Unlock()
	if l.AllowN(m.o.clock.Now(), n) {
		return priorityNormal
	}
	return priorityBulk
}
