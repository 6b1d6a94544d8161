package calendar

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wedsync/integrations/internal/jobs"
)

// maxCredentials bounds the credentials a connection may hold.
const maxCredentials = 64 << 10

// Connect links a supplier's calendar and queues its first (full) sync.
// creds are the provider's credentials (see the provider's docs); they are
// sealed at rest and never logged. After the first sync, the supplier's
// live bookings and holds are written to the calendar unless c.ReadOnly.
func (s *Sync) Connect(ctx context.Context, c Connection, creds []byte) (ConnectionStatus, error) {
	if c.TimeZone == "" {
		c.TimeZone = "UTC"
	}
	var errs []error
	check := func(ok bool, field, rule string, args ...any) {
		if !ok {
			errs = append(errs, invalid(field, rule, args...))
		}
	}
	check(c.Supplier != "" && len(c.Supplier) <= 200, "Connection.Supplier", "must be 1 to 200 bytes, got %d", len(c.Supplier))
	_, known := s.providers[c.Provider]
	check(known, "Connection.Provider", "must name a provider added with WithProvider, got %q", c.Provider)
	check(c.Calendar != "" && len(c.Calendar) <= 2000, "Connection.Calendar", "must be 1 to 2000 bytes (a CalendarInfo.ID), got %d", len(c.Calendar))
	_, err := time.LoadLocation(c.TimeZone)
	check(err == nil, "Connection.TimeZone", "must be an IANA zone such as Europe/London, got %q", c.TimeZone)
	check(len(creds) > 0 && len(creds) <= maxCredentials, "credentials", "must be 1 byte to 64 KiB, got %d bytes", len(creds))
	if err := errors.Join(errs...); err != nil {
		return ConnectionStatus{}, err
	}
	c.ID = newID("calconn_")
	now := s.o.clock.Now()
	row := &connRow{ConnectionStatus: ConnectionStatus{Connection: c, NextRun: now}, seq: 1}
	row.creds = s.keys.Seal(creds, []byte(c.ID))
	err = s.queue.InTx(ctx, func(tx pgx.Tx) error {
		if err := s.store.insertConnection(ctx, tx, row); err != nil {
			return err
		}
		return s.queue.InsertTx(ctx, tx, jobs.InsertParams{Args: syncArgs{Connection: c.ID, Seq: 1}, Unique: true})
	})
	if err != nil {
		return ConnectionStatus{}, fmt.Errorf("calendar: connect: %w", err)
	}
	return row.ConnectionStatus, nil
}

// Disconnect forgets a connection: its sync state, its busy blocks and its
// mappings, and stops its change-notification watch. Events the engine wrote stay in the calendar (the supplier may
// want them); ErrNotFound when there is no such connection.
func (s *Sync) Disconnect(ctx context.Context, id string) error {
	s.stopAndForgetWatch(ctx, id)
	return s.store.deleteConnection(ctx, id)
}

// Connection returns a connection and where its sync stands.
func (s *Sync) Connection(ctx context.Context, id string) (ConnectionStatus, error) {
	c, err := s.store.connection(ctx, nil, id, false)
	if err != nil {
		return ConnectionStatus{}, err
	}
	return c.ConnectionStatus, nil
}

// Connections lists a supplier's connections and where their syncs stand.
func (s *Sync) Connections(ctx context.Context, supplier string) ([]ConnectionStatus, error) {
	cs, err := s.store.connections(ctx, nil, supplier)
	if err != nil {
		return nil, err
	}
	out := make([]ConnectionStatus, len(cs))
	for i, c := range cs {
		out[i] = c.ConnectionStatus
	}
	return out, nil
}

// SyncNow queues a sync of the connection at once (on demand). A sync
// already scheduled for later is superseded; the next periodic one follows
// this one.
func (s *Sync) SyncNow(ctx context.Context, id string) error {
	return s.queue.InTx(ctx, func(tx pgx.Tx) error { return s.scheduleSync(ctx, tx, id, time.Time{}) })
}

// fullSyncNow is SyncNow with a full listing (the connection's last full
// one is forgotten), which shows every event, changed lately or not.
func (s *Sync) fullSyncNow(ctx context.Context, id string) error {
	return s.queue.InTx(ctx, func(tx pgx.Tx) error {
		c, err := s.store.connection(ctx, tx, id, true)
		if err != nil {
			return err
		}
		c.fullAt = time.Time{}
		return s.reschedule(ctx, tx, c, s.o.clock.Now())
	})
}

// Notify is SyncNow for a provider's change notification (a Google watch
// channel, a Graph subscription): the host's webhook handler calls it with
// the connection the notification names.
func (s *Sync) Notify(ctx context.Context, id string) error { return s.SyncNow(ctx, id) }

// scheduleSync supersedes the connection's pending sync with one at runAt
// (zero: now).
func (s *Sync) scheduleSync(ctx context.Context, tx pgx.Tx, id string, runAt time.Time) error {
	next := runAt
	if next.IsZero() {
		next = s.o.clock.Now()
	}
	seq, err := s.store.bumpSeq(ctx, tx, id, next)
	if err != nil {
		return err
	}
	return s.queue.InsertTx(ctx, tx, jobs.InsertParams{Args: syncArgs{Connection: id, Seq: seq}, RunAt: runAt, Unique: true})
}

// Attempts returns the newest provider calls of a connection, newest first,
// at most limit (1 to 1000).
func (s *Sync) Attempts(ctx context.Context, connection string, limit int) ([]Attempt, error) {
	if limit < 1 || limit > 1000 {
		return nil, invalid("limit", "must be 1 to 1000, got %d", limit)
	}
	return s.store.attempts(ctx, connection, limit)
}

// Hold takes a supplier's time at enquiry time, until b.HoldUntil (default:
// now plus WithHoldTTL). It fails with a *ConflictError (errors.Is
// ErrConflict) when the time, buffers included, overlaps a live booking or
// hold of the supplier: in Postgres mode an exclusion constraint decides,
// so of two concurrent holds or bookings of one slot exactly one wins.
// Calendar events of the supplier do not refuse a hold: Check them first.
// The hold is written to the supplier's calendars, marked as a hold.
func (s *Sync) Hold(ctx context.Context, b Booking) (Booking, error) {
	b.Status = StatusHold
	if b.HoldUntil.IsZero() {
		b.HoldUntil = s.o.clock.Now().Add(s.o.holdTTL)
	}
	return b, s.save(ctx, nil, &b)
}

// Book stores a confirmed booking (or replaces the booking of the same
// ID, a hold included) and writes it to the supplier's calendars. An empty
// Status means StatusConfirmed. Overlaps are refused as Hold's are.
func (s *Sync) Book(ctx context.Context, b Booking) (Booking, error) {
	if b.Status == "" {
		b.Status = StatusConfirmed
	}
	return b, s.save(ctx, nil, &b)
}

// BookTx is Book inside the host's transaction (Postgres mode): the
// booking and the jobs that write it to calendars exist only if tx
// commits. A refused booking leaves tx usable (a savepoint is rolled
// back). In memory mode it returns ErrNoDatabase.
func (s *Sync) BookTx(ctx context.Context, tx pgx.Tx, b Booking) (Booking, error) {
	if tx == nil || s.o.pool == nil {
		return b, jobs.ErrNoDatabase
	}
	if b.Status == "" {
		b.Status = StatusConfirmed
	}
	return b, s.save(ctx, tx, &b)
}

// Confirm turns a hold into a confirmed booking. A hold that lapsed is
// confirmed if its time is still free, else ErrConflict. ErrNotFound when
// there is no such booking; an error naming the status when it was
// cancelled.
func (s *Sync) Confirm(ctx context.Context, id string) (Booking, error) {
	b, err := s.store.booking(ctx, nil, id)
	if err != nil {
		return Booking{}, err
	}
	switch b.Status {
	case StatusConfirmed:
		return *b, nil
	case StatusCancelled:
		return *b, invalid("id", "booking %q is cancelled and cannot be confirmed", id)
	}
	b.Status, b.HoldUntil = StatusConfirmed, time.Time{}
	return *b, s.save(ctx, nil, b)
}

// Cancel cancels a booking or releases a hold: its time is free again and
// its calendar events are deleted. ErrNotFound when there is no such
// booking.
func (s *Sync) Cancel(ctx context.Context, id string) error {
	return s.CancelTx(ctx, nil, id)
}

// CancelTx is Cancel inside the host's transaction (nil: one of its own).
func (s *Sync) CancelTx(ctx context.Context, tx pgx.Tx, id string) error {
	if tx != nil && s.o.pool == nil {
		return jobs.ErrNoDatabase
	}
	b, err := s.store.booking(ctx, tx, id)
	if err != nil {
		return err
	}
	if b.Status == StatusCancelled {
		return nil
	}
	b.Status = StatusCancelled
	return s.putAndQueue(ctx, tx, b)
}

// Booking returns a booking by id.
func (s *Sync) Booking(ctx context.Context, id string) (Booking, error) {
	b, err := s.store.booking(ctx, nil, id)
	if err != nil {
		return Booking{}, err
	}
	return *b, nil
}

// Bookings lists a supplier's bookings and holds of every status whose
// time, buffers included, overlaps iv.
func (s *Sync) Bookings(ctx context.Context, supplier string, iv Interval) ([]Booking, error) {
	if !iv.Valid() {
		return nil, invalid("interval", "End must be after Start, got %s", iv)
	}
	return s.store.bookings(ctx, nil, supplier, iv)
}

// save validates b and stores it with the jobs that write it to calendars,
// in tx or a transaction of its own.
func (s *Sync) save(ctx context.Context, tx pgx.Tx, b *Booking) error {
	if b.Status == StatusHold && b.HoldUntil.IsZero() {
		b.HoldUntil = s.o.clock.Now().Add(s.o.holdTTL)
	}
	if b.Status != StatusHold {
		b.HoldUntil = time.Time{}
	}
	if err := b.validate(); err != nil {
		return err
	}
	return s.putAndQueue(ctx, tx, b)
}

// CheckOption tunes Check.
type CheckOption func(*checkOptions)

type checkOptions struct {
	setup, teardown time.Duration
	exclude         string
	busy            bool
}

// WithBuffers widens the checked interval by setup before and teardown
// after (travel, set-up, pack-down). Default: none.
func WithBuffers(setup, teardown time.Duration) CheckOption {
	return func(o *checkOptions) { o.setup, o.teardown = setup, teardown }
}

// Excluding leaves one booking out (checking a move of that booking).
func Excluding(bookingID string) CheckOption {
	return func(o *checkOptions) { o.exclude = bookingID }
}

// BookingsOnly leaves calendar events out: only bookings and holds count.
func BookingsOnly() CheckOption { return func(o *checkOptions) { o.busy = false } }

// Check returns what takes the supplier's time in iv, widened by the
// buffers: live bookings and holds (with their own buffers), and the
// events of every connected calendar that block time (as last synced),
// ordered by start. An empty result means the time is free.
func (s *Sync) Check(ctx context.Context, supplier string, iv Interval, opts ...CheckOption) ([]Conflict, error) {
	o := checkOptions{busy: true}
	for _, opt := range opts {
		opt(&o)
	}
	if !iv.Valid() {
		return nil, invalid("interval", "End must be after Start, got %s", iv)
	}
	if o.setup < 0 || o.teardown < 0 {
		return nil, invalid("WithBuffers", "buffers must not be negative, got %s and %s", o.setup, o.teardown)
	}
	iv = Interval{Start: iv.Start.Add(-o.setup), End: iv.End.Add(o.teardown)}
	return s.store.overlapping(ctx, nil, supplier, iv, o.exclude, s.o.clock.Now(), o.busy)
}
