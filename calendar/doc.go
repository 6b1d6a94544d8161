// Package calendar keeps WedSync bookings and suppliers' own calendars in
// step (Google Calendar, Outlook, iCloud, Fastmail: anything a Provider
// reaches), and keeps bookings from overlapping.
//
// A Sync holds the suppliers' Connections (one calendar of one provider
// each, with credentials sealed at rest), their Bookings and holds, and the
// busy time found in their calendars. Two durable jobs do the work:
//
//   - a push writes a booking to each writable calendar of its supplier:
//     create with If-None-Match, update with If-Match on the ETag it last
//     saw, and on a 412 it reads the event again, lays the booking's fields
//     over the calendar's (alarms, attendees and other properties survive)
//     and writes again. Title and description come from text/templates; the
//     couple's details are written only as far as the connection's Sharing
//     allows.
//   - a sync asks the provider what changed since its cursor (a CalDAV
//     sync-token, a Google sync token, a Graph delta link), or lists the
//     whole calendar when there is no cursor, the provider refuses it, or
//     WithFullSyncEvery has passed. The supplier's own events become busy
//     blocks, recurring ones expanded over a horizon (Expand, which honours
//     RRULE, EXDATE, RDATE and overridden instances in the event's zone, so
//     that DST moves nothing). Each connection syncs every WithSyncInterval,
//     at once on SyncNow or Notify (a provider's change notification), and
//     with backoff while its provider fails (Retry-After honoured).
//
// The engine tags every event it writes with the booking's id (an
// X-WEDSYNC-BOOKING property, a private extended property) and keeps a
// mapping of booking, event id, ETag and origin per connection, so that its
// own writes coming back in a sync are recognised and skipped: no loops, no
// duplicates, even when a crash lost a write's bookkeeping: the write runs
// again, its create meets the tagged event (an ExistsError naming it), reads
// it and adopts it, and any sync that lists a tagged event with no mapping
// adopts it too. A booking is the truth: when someone moves or deletes a
// booking's event in their calendar app, the engine writes it back and tells
// the host (ChangeBookingEdited, ChangeBookingDeleted).
//
// Check returns what takes a supplier's time in an interval, with set-up
// and travel buffers: bookings, holds not lapsed, and busy blocks of every
// connected calendar. Hold and Book refuse an overlap with another live
// booking or hold with a *ConflictError; in Postgres mode an exclusion
// constraint on the bookings' time ranges decides, so of two concurrent
// enquiries for one slot exactly one wins, whichever instance serves them.
// Conflicts that appear while syncing (a supplier adds a dentist
// appointment on top of a wedding) reach the host through
// WithChangeHandler, to be routed to notify and realtime.
//
// Without WithPostgres the engine runs in memory mode, for demos and tests:
// everything is lost on exit. In Postgres mode (Migrate first) bookings,
// connections, mappings, busy blocks and the attempt log live in the
// host's database, jobs run on River in the host's transaction (BookTx),
// and any number of instances share the work.
//
// Providers live in sub-packages: calendar/caldav (RFC 4791 with RFC 6578
// sync, against any CalDAV server); calendartest holds an in-memory one for
// tests.
package calendar
