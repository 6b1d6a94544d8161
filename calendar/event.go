package calendar

import (
	"fmt"
	"time"
)

// Event is one calendar event as a provider holds it, in a shape every
// provider maps onto: CalDAV's VEVENT, Google's Event, Microsoft Graph's
// event. Providers convert to and from it; the engine never sees iCalendar
// or JSON.
type Event struct {
	// ID is the provider's id of the event: a CalDAV object's path, a
	// Google or Graph event id. Empty on an event not yet created.
	ID string
	// ETag is the provider's version of the event, for If-Match writes.
	ETag string
	// UID is the iCalendar UID, shared by a series and its overrides.
	UID string

	Summary     string
	Description string
	Location    string

	// Start and End bound a timed event (End exclusive). Their Location is
	// the event's time zone when the provider gave one (TZID, timeZone), so
	// that a recurrence keeps its wall-clock time across DST changes.
	Start, End time.Time
	// AllDay marks a date-only event: Start and End are midnight UTC of
	// the first day and of the day after the last (End exclusive, as
	// iCalendar's DTEND;VALUE=DATE). Which instants the days cover depends
	// on the zone of whoever looks: the engine uses the connection's.
	AllDay bool

	// Recurrence holds the series' rules as RFC 5545 content lines, the
	// way Google's API carries them: "RRULE:FREQ=WEEKLY;BYDAY=SA",
	// "EXDATE;TZID=Europe/London:20260606T140000", "RDATE:20260610T130000Z".
	// Empty for a single event.
	Recurrence []string
	// RecurrenceID, on an overridden instance, is the original start of
	// the instance it replaces. Zero on everything else.
	RecurrenceID time.Time
	// Overrides are the series' modified or cancelled instances (each with
	// RecurrenceID set), as CalDAV stores them beside the master.
	Overrides []Event

	// Cancelled marks a cancelled event or instance (STATUS:CANCELLED).
	Cancelled bool
	// Transparent marks an event that does not block time (TRANSP:
	// TRANSPARENT, Google's "transparency": "transparent", Graph's
	// showAs "free").
	Transparent bool

	// Tag is the WedSync booking id on an event the engine wrote (an
	// X-WEDSYNC-BOOKING property, a private extended property), empty on
	// the supplier's own events. It is how the engine recognises its own
	// writes when they come back, even without a mapping row.
	Tag string

	// Native is the provider's own representation of the event as it was
	// read (a *ical.Calendar for CalDAV), or nil. Providers use it as the
	// base of an update so that what the engine does not model (alarms,
	// attendees, other properties) survives a write. The engine never reads
	// it, and it is not stored.
	Native any
}

// Interval is a half-open span of time [Start, End).
type Interval struct {
	Start, End time.Time
}

// Valid reports whether the interval is non-empty.
func (i Interval) Valid() bool { return i.End.After(i.Start) }

// Overlaps reports whether i and o share an instant.
func (i Interval) Overlaps(o Interval) bool {
	return i.Start.Before(o.End) && o.Start.Before(i.End)
}

func (i Interval) String() string {
	return fmt.Sprintf("[%s, %s)", i.Start.Format(time.RFC3339), i.End.Format(time.RFC3339))
}
