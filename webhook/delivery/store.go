package delivery

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// storedMessage is a message as kept for delivery and resends.
type storedMessage struct {
	ID         string
	SupplierID string
	EventType  string
	Payload    []byte
	CreatedAt  time.Time
}

// endpointRow is an endpoint with its sealed secrets.
type endpointRow struct {
	Endpoint
	Sealed []byte
}

// store persists endpoints, messages and attempts. memStore and pgStore
// implement it; methods that take a pgx.Tx receive nil in memory mode.
type store interface {
	insertEndpoint(ctx context.Context, ep *endpointRow) error
	// updateEndpoint reads the endpoint under a row lock, lets fn change it
	// and writes it back.
	updateEndpoint(ctx context.Context, id string, fn func(ep *endpointRow) error) (*endpointRow, error)
	getEndpoint(ctx context.Context, id string) (*endpointRow, error)
	listEndpoints(ctx context.Context, supplierID string) ([]*endpointRow, error)
	deleteEndpoint(ctx context.Context, id string) error
	// setFailing records the start of a failure run (at non-zero, only if
	// none is recorded) or its end (at zero).
	setFailing(ctx context.Context, id string, at time.Time) error

	// insertMessage stores msg unless key (when set) was used by the
	// supplier since idemSince; it returns the id that holds the key.
	insertMessage(ctx context.Context, tx pgx.Tx, msg *storedMessage, key string, idemSince time.Time) (id string, created bool, err error)
	// supplierEndpoints lists endpoints for fan-out, read in tx.
	supplierEndpoints(ctx context.Context, tx pgx.Tx, supplierID string) ([]*Endpoint, error)
	getMessage(ctx context.Context, id string) (*storedMessage, error)

	insertAttempt(ctx context.Context, tx pgx.Tx, a *Attempt) error
	// insertFinalAttempt logs an attempt that queues nothing after it (a
	// success, or the last failure) in one round trip, without waiting for
	// the WAL flush: a database crash may lose the last moments of such
	// rows, never a message or a retry.
	insertFinalAttempt(ctx context.Context, a *Attempt) error
	// attemptRecorded reports whether job jobID logged attempt number of
	// the message to the endpoint (rows from before job ids were stored:
	// logged at or after since): a job run again after a crash uses it to
	// skip work its first run finished.
	attemptRecorded(ctx context.Context, messageID, endpointID string, number int, jobID int64, since time.Time) (bool, error)
	listAttempts(ctx context.Context, q AttemptQuery) ([]Attempt, error)
	// failedMessages lists messages to endpointID at or after since whose
	// latest attempt failed and has no retry pending.
	failedMessages(ctx context.Context, endpointID string, since time.Time) ([]string, error)
	stats(ctx context.Context, endpointID string, since time.Time) (EndpointStats, error)
	prune(ctx context.Context, before time.Time) (int64, error)
}
