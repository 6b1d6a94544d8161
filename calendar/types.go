package calendar

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Status is where a booking stands.
type Status string

// Booking statuses. Holds and confirmed bookings block time (the exclusion
// constraint keeps them apart); cancelled and expired ones do not.
const (
	StatusHold      Status = "hold"
	StatusConfirmed Status = "confirmed"
	StatusCancelled Status = "cancelled"
	StatusExpired   Status = "expired"
)

func (s Status) blocks() bool { return s == StatusHold || s == StatusConfirmed }

// Booking is a WedSync booking or hold of a supplier's time. The engine
// writes it to every connected calendar of the supplier that takes writes.
type Booking struct {
	// ID is the host's id of the booking. Required; at most 200 bytes.
	ID string `json:"id"`
	// Supplier owns the booking. Required.
	Supplier string `json:"supplier"`
	// Status is StatusHold or StatusConfirmed for a live booking (Hold
	// sets StatusHold; Upsert defaults an empty Status to StatusConfirmed).
	Status Status `json:"status"`
	// Start and End bound the booked time (End exclusive). Their Location
	// is the zone the calendar event is written in.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// SetupBuffer is time blocked before Start (set-up, travel there);
	// TeardownBuffer after End (pack-down, travel back). Both count for
	// conflicts; the calendar event shows the booked time only. Default 0.
	SetupBuffer    time.Duration `json:"setup_buffer,omitempty"`
	TeardownBuffer time.Duration `json:"teardown_buffer,omitempty"`
	// HoldUntil is when a hold lapses (StatusHold only); Hold defaults it
	// to now plus WithHoldTTL.
	HoldUntil time.Time `json:"hold_until,omitzero"`

	// Title names the booking ("Smith & Jones wedding").
	Title string `json:"title"`
	// Couple, Venue, Contact and Notes are the couple's details. Each is
	// written to a calendar only when the connection's Sharing allows.
	Couple  string `json:"couple,omitempty"`
	Venue   string `json:"venue,omitempty"`
	Contact string `json:"contact,omitempty"`
	Notes   string `json:"notes,omitempty"`

	// Version counts the booking's changes; the engine sets it.
	Version int64 `json:"version"`
	// UpdatedAt is when the engine last stored the booking.
	UpdatedAt time.Time `json:"updated_at"`
}

// Blocked is the time the booking keeps from other bookings: the booked
// time widened by its buffers.
func (b *Booking) Blocked() Interval {
	return Interval{Start: b.Start.Add(-b.SetupBuffer), End: b.End.Add(b.TeardownBuffer)}
}

func (b *Booking) validate() error {
	var errs []error
	check := func(ok bool, field, rule string, args ...any) {
		if !ok {
			errs = append(errs, invalid(field, rule, args...))
		}
	}
	check(b.ID != "" && len(b.ID) <= 200, "Booking.ID", "must be 1 to 200 bytes, got %d", len(b.ID))
	check(b.Supplier != "" && len(b.Supplier) <= 200, "Booking.Supplier", "must be 1 to 200 bytes, got %d", len(b.Supplier))
	check(b.Status == StatusHold || b.Status == StatusConfirmed, "Booking.Status", "must be %q or %q, got %q", StatusHold, StatusConfirmed, b.Status)
	check(!b.Start.IsZero(), "Booking.Start", "is required")
	check(b.End.After(b.Start), "Booking.End", "must be after Start (%s), got %s", b.Start.Format(time.RFC3339), b.End.Format(time.RFC3339))
	check(b.End.Sub(b.Start) <= 31*24*time.Hour, "Booking.End", "must be at most 31 days after Start")
	check(b.SetupBuffer >= 0 && b.SetupBuffer <= 48*time.Hour, "Booking.SetupBuffer", "must be 0 to 48h, got %s", b.SetupBuffer)
	check(b.TeardownBuffer >= 0 && b.TeardownBuffer <= 48*time.Hour, "Booking.TeardownBuffer", "must be 0 to 48h, got %s", b.TeardownBuffer)
	check(strings.TrimSpace(b.Title) != "" && len(b.Title) <= 500, "Booking.Title", "must be 1 to 500 bytes and not blank")
	for _, f := range []struct{ name, v string }{{"Couple", b.Couple}, {"Venue", b.Venue}, {"Contact", b.Contact}, {"Notes", b.Notes}} {
		check(len(f.v) <= 4000, "Booking."+f.name, "must be at most 4000 bytes, got %d", len(f.v))
	}
	return errors.Join(errs...)
}

// Sharing says which of the couple's details a connection's calendar
// events carry. A supplier's calendar is often shared with staff or family,
// or synced to a phone, so the default shares nothing but the title.
type Sharing struct {
	Couple  bool `json:"couple,omitempty"`
	Venue   bool `json:"venue,omitempty"`
	Contact bool `json:"contact,omitempty"`
	Notes   bool `json:"notes,omitempty"`
}

// Connection links a supplier to one calendar of one provider.
type Connection struct {
	// ID is assigned by Connect ("calconn_…").
	ID string `json:"id"`
	// Supplier owns the calendar. Required.
	Supplier string `json:"supplier"`
	// Provider is the Name of a provider passed to WithProvider. Required.
	Provider string `json:"provider"`
	// Calendar is the provider's id of the calendar (CalendarInfo.ID).
	// Required.
	Calendar string `json:"calendar"`
	// TimeZone is the IANA zone all-day events of this calendar are placed
	// in (a day off on 6 June blocks 6 June in the supplier's zone).
	// Defaults to "UTC".
	TimeZone string `json:"time_zone"`
	// ReadOnly connections are read for busy time and never written.
	// Default false: bookings and holds are written to the calendar.
	ReadOnly bool `json:"read_only,omitempty"`
	// Sharing chooses the couple's details written to this calendar.
	// Default: none.
	Sharing Sharing `json:"sharing"`
}

// ConnectionStatus is a connection with where its sync stands.
type ConnectionStatus struct {
	Connection
	// Cursor is the provider's sync cursor, "" before the first sync.
	Cursor string `json:"cursor"`
	// LastSuccess is when the last sync succeeded; zero if none has.
	LastSuccess time.Time `json:"last_success,omitzero"`
	// LastError is the last failure's message ("" after a success).
	LastError string `json:"last_error,omitempty"`
	// Failures counts failed syncs since the last success.
	Failures int `json:"failures"`
	// NextRun is when the next sync is due.
	NextRun time.Time `json:"next_run,omitzero"`
	// Events counts the provider events the engine knows in the calendar.
	Events int `json:"events"`
	// NeedsReconnect says the provider refused to renew the credentials
	// (ErrReconnect): syncing has stopped until Reconnect gives new ones.
	NeedsReconnect bool `json:"needs_reconnect,omitempty"`
	// WatchExpires is when the connection's change notifications stop
	// unless renewed (providers with push notifications, WithCallbackURL
	// set); zero when there is no watch.
	WatchExpires time.Time `json:"watch_expires,omitzero"`
}

// ConflictKind says what a conflict is with.
type ConflictKind string

// Conflict kinds.
const (
	// ConflictBooking: a confirmed booking.
	ConflictBooking ConflictKind = "booking"
	// ConflictHold: a hold that has not lapsed.
	ConflictHold ConflictKind = "hold"
	// ConflictBusy: an event in one of the supplier's connected calendars.
	ConflictBusy ConflictKind = "busy"
)

// Conflict is something that takes time a booking wants.
type Conflict struct {
	Kind ConflictKind `json:"kind"`
	// Interval is the time taken: a booking's with its buffers, a busy
	// block's instance.
	Interval Interval `json:"interval"`
	// BookingID names the booking or hold (ConflictBooking, ConflictHold).
	BookingID string `json:"booking_id,omitempty"`
	// Connection and EventID name the busy block's calendar and event
	// (ConflictBusy); Summary is the event's title as the calendar holds it.
	Connection string `json:"connection,omitempty"`
	EventID    string `json:"event_id,omitempty"`
	Summary    string `json:"summary,omitempty"`
}

// ErrConflict is matched (errors.Is) by *ConflictError.
var ErrConflict = errors.New("calendar: the time is already taken")

// ConflictError is returned when a booking or hold would overlap another.
type ConflictError struct {
	// Booking is the booking that was refused.
	Booking string
	// Conflicts is what it overlaps, when known (a constraint violation
	// under concurrency may name none).
	Conflicts []Conflict
}

func (e *ConflictError) Error() string {
	if len(e.Conflicts) == 0 {
		return fmt.Sprintf("calendar: booking %q overlaps another booking or hold of the supplier", e.Booking)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "calendar: booking %q overlaps", e.Booking)
	for i, c := range e.Conflicts {
		if i == 3 {
			fmt.Fprintf(&b, " and %d more", len(e.Conflicts)-3)
			break
		}
		if i > 0 {
			b.WriteString(",")
		}
		switch c.Kind {
		case ConflictBusy:
			fmt.Fprintf(&b, " a calendar event %s", c.Interval)
		default:
			fmt.Fprintf(&b, " %s %q %s", c.Kind, c.BookingID, c.Interval)
		}
	}
	return b.String()
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// ChangeKind names what a sync found that the host may want to act on.
type ChangeKind string

// Change kinds.
const (
	// ChangeConflict: a calendar event now overlaps a booking or hold.
	ChangeConflict ChangeKind = "conflict"
	// ChangeBookingEdited: someone moved or retitled a booking's event in
	// the calendar; the engine put the booking's time and title back.
	ChangeBookingEdited ChangeKind = "booking_edited"
	// ChangeBookingDeleted: someone deleted a booking's event in the
	// calendar; the engine wrote it again.
	ChangeBookingDeleted ChangeKind = "booking_deleted"
	// ChangeSyncFailed: a connection's sync failed (Err says why); it is
	// retried with backoff.
	ChangeSyncFailed ChangeKind = "sync_failed"
	// ChangeReconnectNeeded: the provider refused to renew the
	// connection's credentials; syncing stopped until the supplier connects
	// the calendar again (Reconnect).
	ChangeReconnectNeeded ChangeKind = "reconnect_needed"
)

// Change is what WithChangeHandler receives: a conflict found while syncing
// (to route to notify and realtime), an edit to a booking's event made in
// the calendar, or a failing connection.
type Change struct {
	Kind       ChangeKind `json:"kind"`
	Supplier   string     `json:"supplier"`
	Connection string     `json:"connection"`
	// BookingID is the booking concerned (conflict, edited, deleted).
	BookingID string `json:"booking_id,omitempty"`
	// Conflict is the busy block that overlaps the booking (conflict).
	Conflict *Conflict `json:"conflict,omitempty"`
	// Err is the failure's message (sync_failed).
	Err string    `json:"error,omitempty"`
	At  time.Time `json:"at"`
}

// Attempt is one provider call in the attempt log.
type Attempt struct {
	ID         string `json:"id"`
	Connection string `json:"connection"`
	// Op is the call: "changes", "create", "update", "delete", "get".
	Op string `json:"op"`
	// BookingID is the booking a write was for.
	BookingID string        `json:"booking_id,omitempty"`
	OK        bool          `json:"ok"`
	Error     string        `json:"error,omitempty"`
	Duration  time.Duration `json:"duration"`
	At        time.Time     `json:"at"`
}
