package calendar

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// connRow is a connection as stored: its status, its sealed credentials
// and the sync bookkeeping the engine keeps to itself.
type connRow struct {
	ConnectionStatus
	creds  []byte // sealed
	fullAt time.Time
	seq    int64
	// watchID and watch (sealed JSON of a Watch) are the connection's
	// change-notification channel, if any.
	watchID string
	watch   []byte
}

// mapping is one provider event the engine knows in a connection.
type mapping struct {
	Conn    string
	EventID string
	// Origin is originWedSync for a booking the engine wrote, else
	// originProvider.
	Origin         string
	BookingID      string
	BookingVersion int64
	ETag           string
}

const (
	originWedSync  = "wedsync"
	originProvider = "provider"
)

// busyRow is one instance of a supplier's own event.
type busyRow struct {
	Span    Interval
	Summary string
}

// store is where the engine keeps its state: Postgres (pgStore) or memory
// (memStore). Methods that take a tx run in it in Postgres mode (a nil tx
// means a transaction of their own, or none); memory mode always passes
// nil.
type store interface {
	insertConnection(ctx context.Context, tx pgx.Tx, c *connRow) error
	// connection reads a connection; lock holds its row until tx ends
	// (FOR UPDATE), which serialises the syncs of one connection across
	// instances.
	connection(ctx context.Context, tx pgx.Tx, id string, lock bool) (*connRow, error)
	connections(ctx context.Context, tx pgx.Tx, supplier string) ([]*connRow, error)
	// saveSync writes the sync bookkeeping (cursor, fullAt, last success,
	// last error, failures, next run, seq) of c.
	saveSync(ctx context.Context, tx pgx.Tx, c *connRow) error
	// bumpSeq increments a connection's seq and returns the new value.
	bumpSeq(ctx context.Context, tx pgx.Tx, id string, nextRun time.Time) (int64, error)
	deleteConnection(ctx context.Context, id string) error
	// setCredentials replaces a connection's sealed credentials and sets
	// its needs-reconnect mark.
	setCredentials(ctx context.Context, tx pgx.Tx, id string, sealed []byte, needsReconnect bool) error
	// setWatch stores the connection's watch (id "" removes it).
	setWatch(ctx context.Context, id, watchID string, sealed []byte, expires time.Time) error
	// connectionByWatch finds the connection of a watch id.
	connectionByWatch(ctx context.Context, watchID string) (*connRow, error)

	// putBooking inserts or replaces b (matched by ID; its Supplier may not
	// change) and sets b.Version and b.UpdatedAt. An overlap with a booking
	// or hold whose status blocks gives a *ConflictError: the caller
	// expires lapsed holds first, in the same transaction.
	putBooking(ctx context.Context, tx pgx.Tx, b *Booking, now time.Time) error
	booking(ctx context.Context, tx pgx.Tx, id string) (*Booking, error)
	// bookings lists a supplier's bookings (every status) that overlap iv.
	bookings(ctx context.Context, tx pgx.Tx, supplier string, iv Interval) ([]Booking, error)
	// expireHolds marks holds lapsed at now as expired (of one supplier,
	// or of all when supplier is "") and returns them, at most limit.
	expireHolds(ctx context.Context, tx pgx.Tx, supplier string, now time.Time, limit int) ([]Booking, error)

	mappings(ctx context.Context, tx pgx.Tx, conn string) (map[string]mapping, error)
	mappingForBooking(ctx context.Context, tx pgx.Tx, conn, booking string) (*mapping, error)
	putMapping(ctx context.Context, tx pgx.Tx, m mapping) error
	deleteMapping(ctx context.Context, tx pgx.Tx, conn, eventID string) error
	// replaceBusy replaces the busy blocks of one event (none: removes
	// them).
	replaceBusy(ctx context.Context, tx pgx.Tx, conn, supplier, eventID string, rows []busyRow) error

	// overlapping returns what takes time from supplier in iv: live
	// bookings and holds not lapsed at now (except the one named exclude),
	// and, with busy, the busy blocks of its calendars.
	overlapping(ctx context.Context, tx pgx.Tx, supplier string, iv Interval, exclude string, now time.Time, busy bool) ([]Conflict, error)

	addAttempt(ctx context.Context, tx pgx.Tx, a *Attempt, jobID int64) error
	attempts(ctx context.Context, conn string, limit int) ([]Attempt, error)
	attemptRecorded(ctx context.Context, jobID int64) (bool, error)
	prune(ctx context.Context, before time.Time) (int64, error)
}
