// Package caldav is the CalDAV (RFC 4791) implementation of
// calendar.Provider: it syncs a supplier's calendar on any CalDAV server
// (Apple iCloud, Fastmail, Nextcloud, Radicale, Baïkal) and writes the
// engine's bookings into it.
//
// # Connections
//
// A connection's credentials are JSON (see Credentials): the server URL, a
// user name and a password, sent with HTTP basic auth and never put in
// errors or logs. Calendars discovers the user's calendars the standard
// way: current-user-principal (RFC 5397), then calendar-home-set, then the
// calendar collections there. A calendar's id is its collection path and an
// event's id its object path.
//
// Because the server URL is typed by a customer, the default HTTP client
// is SSRF-safe (internal/netguard): it refuses loopback, private,
// link-local and cloud-metadata addresses at dial time, requires https and
// follows no redirects. Tests and demos open it with WithAllowedNetworks
// and WithInsecureHTTP.
//
// # Sync
//
// Changes uses the WebDAV sync-collection REPORT (RFC 6578): a cursor is
// the server's sync-token, and an incremental call returns only the
// objects added, changed or removed since. A token the server refuses
// gives calendar.ErrCursorInvalid, and the engine asks again with "" for a
// full listing. Servers without sync-collection are synced by an etag scan
// whose state travels in the cursor, since the provider keeps none.
//
// # Writes
//
// Create puts <calendar>/<uid>.ics with If-None-Match: *, Update with
// If-Match: the event's ETag, and Delete with If-Match, so that a write
// never overwrites a change the engine has not seen (calendar.
// ErrPrecondition; a create that meets an object gives a
// *calendar.ExistsError with the object's path, which the engine reads and
// adopts when it is the booking's). An update built from an event the provider returned
// keeps what the event model does not hold (alarms, attendees, time zone
// definitions): Event.Native carries the parsed iCalendar object, and
// EncodeEvent changes only the modelled properties in a copy of it.
//
// # Errors
//
// 401 and 403 wrap calendar.ErrUnauthorized; 408, 429 and 5xx, and
// transport failures and timeouts (WithTimeout), are a
// *calendar.ProviderError with the server's Retry-After, which the engine
// retries. Response bodies are read up to MaxResponseBytes (64 MiB).
//
// # iCalendar
//
// ParseEvent and EncodeEvent convert between calendar objects and
// calendar.Event; their docs state how time zones, all-day events,
// recurrence rules and overridden instances map. The engine's own writes
// carry the booking id in an X-WEDSYNC-BOOKING property (Event.Tag).
//
// Package caldavtest runs a real Radicale server, or an in-process CalDAV
// server, for tests and demos.
package caldav
