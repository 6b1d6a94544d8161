package wedmesync

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wedsync/integrations/internal/jobs"
)

// store keeps a side's records, log, applied ids, quarantine, conflicts,
// cursors and audit: in memory (memStore) or in the host's Postgres
// (pgStore).
type store interface {
	// inTx runs fn atomically: in one Postgres transaction (the host's tx
	// when not nil, else one of its own), or under the memory store's lock.
	inTx(ctx context.Context, tx pgx.Tx, fn func(w writer) error) error

	record(ctx context.Context, k recordKey) (*Record, error)
	records(ctx context.Context) ([]Record, error)
	// logAfter returns this side's changes after seq, at most limit, and
	// the seq of the last one (after itself when there are none).
	logAfter(ctx context.Context, after int64, limit int) ([]Change, int64, error)
	wasApplied(ctx context.Context, id string) (bool, error)
	quarantined(ctx context.Context) ([]Quarantined, error)
	quarantinedOne(ctx context.Context, changeID string) (*Quarantined, error)
	conflicts(ctx context.Context) ([]Conflict, error)
	cursors(ctx context.Context, peer string) (push, pull string, err error)
	setCursors(ctx context.Context, peer, push, pull string, ok time.Time) error
	auditLog(ctx context.Context, limit int) ([]AuditEntry, error)
}

// writer is what a transaction of the store may do.
type writer interface {
	// lockRecord returns the record, held until the transaction ends
	// (created empty when there is none, so that two first writes of one
	// record cannot both start from nothing).
	lockRecord(ctx context.Context, k recordKey) (*Record, error)
	putRecord(ctx context.Context, r *Record) error
	// markApplied records a change's id; false when it was already there.
	markApplied(ctx context.Context, id string, at time.Time) (bool, error)
	appendLog(ctx context.Context, c *Change, at time.Time) error
	addConflicts(ctx context.Context, cs []Conflict) error
	// takeConflict returns an open conflict and marks it resolved;
	// ErrNotFound when there is none.
	takeConflict(ctx context.Context, id string) (*Conflict, error)
	quarantine(ctx context.Context, q *Quarantined) error
	unquarantine(ctx context.Context, changeID string) error
	audit(ctx context.Context, e AuditEntry) error
}

// ErrNoDatabase is returned by RecordTx with a transaction in memory mode.
var ErrNoDatabase = jobs.ErrNoDatabase
