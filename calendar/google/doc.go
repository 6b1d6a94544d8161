// Package google is the Google Calendar implementation of
// calendar.Provider and calendar.Watcher: it syncs a supplier's Google
// calendar and writes the engine's bookings into it, over the Calendar API
// v3's REST interface.
//
// # Connections and OAuth2
//
// A connection's credentials are an oauth2.Token as JSON (access_token,
// token_type, refresh_token, expiry), as the host's connect flow received
// it from Google's token endpoint (see ParseCredentials). New takes the
// host's *oauth2.Config (client id and secret, google.Endpoint from
// golang.org/x/oauth2/google, scope https://www.googleapis.com/auth/calendar
// or .../calendar.events plus .../calendar.readonly for the calendar list;
// ask for offline access so that Google returns a refresh token).
//
// Each call uses the access token while it is valid, and refreshes it
// when it has expired or the API answers 401 (once per call: a second 401
// wraps calendar.ErrUnauthorized). A refreshed token is handed to the
// engine with calendar.UpdateCredentials, so that it stores it. A refresh
// Google refuses (invalid_grant: the supplier revoked access, or the
// refresh token expired) wraps calendar.ErrReconnect: only the supplier can
// fix it, by connecting again. Tokens never appear in errors or logs.
//
// The default HTTP client is SSRF-safe (internal/netguard) like every
// outbound client of the SDK; tests open it with WithAllowedNetworks and
// WithInsecureHTTP and point it at googletest with WithEndpoint.
//
// # Connect flow (the host's part)
//
//  1. Register an OAuth client (type "Web application") in Google Cloud
//     and enable the Calendar API; add the host's redirect URL
//     (https://app.example/oauth/google/callback).
//  2. Run the flow with calendar/oauthflow (New with the config, Begin,
//     Finish): offline access, prompt=consent (so that a reconnect gets a
//     new refresh token), PKCE S256 and a sealed state; scopes
//     https://www.googleapis.com/auth/calendar (or .../calendar.events and
//     .../calendar.calendarlist.readonly). Finish returns the token as
//     JSON: the connection's credentials.
//  3. Check that the supplier Finish returns is the one signed in.
//  4. Provider.Calendars lists the calendars to choose from; pass the
//     token and the chosen id to Sync.Connect. The engine stores the token
//     sealed, and stores the refreshed ones the provider hands back.
//
// # Sync
//
// Changes calls events.list with showDeleted and without singleEvents: an
// empty cursor lists the whole calendar (ChangeSet.Full), following
// pageToken to the last page, whose nextSyncToken is the cursor; a cursor
// is sent as syncToken, and Google's 410 Gone wraps
// calendar.ErrCursorInvalid (the engine then lists again from ""). Google
// returns a series as its master (with its RRULE, EXDATE and RDATE lines,
// kept verbatim in Event.Recurrence) and each modified or cancelled
// instance as an event of its own with recurringEventId and
// originalStartTime; the provider folds those into the master's Overrides
// (RecurrenceID from originalStartTime; cancelled instances as Cancelled
// overrides), and when an incremental answer touches a series it reads the
// whole series again (the master, and events.list by iCalUID), so that
// ChangeSet.Updated always holds whole series. Cancelled events are in
// ChangeSet.Deleted. Google keeps a master's etag when only an instance
// changes, so the ETag of a series with overrides is the master's etag
// followed by "~ov" and a digest of its instances' etags: it changes with
// any of them, and writes send the master's part as If-Match.
//
// # Event mapping
//
// DecodeEvent and EncodeEvent state the mapping: ID, ETag and UID are
// Google's id, etag and iCalUID; start/end "date" is an all-day event,
// "dateTime" a timed one in the event's timeZone; transparency
// "transparent" is Transparent; the engine's booking id travels in the
// private extended property TagProperty ("wedsyncBooking"). Event.Native
// is the event's JSON as Google sent it.
//
// # Writes
//
// Create inserts with a client-chosen id, EventID(ev.UID) (hex of
// SHA-256, within Google's base32hex alphabet), so a retried create meets
// Google's 409 and returns a *calendar.ExistsError with that id
// (matching calendar.ErrPrecondition) instead of making a second event;
// the engine reads the event and adopts it when it is the booking's. Update is events.patch with If-Match: the modelled fields
// are written and the rest of the event (attendees, reminders, colour)
// stays as the supplier has it; a stale etag gives 412,
// calendar.ErrPrecondition. Delete sends If-Match too; an event already
// gone (404, 410) is not an error. A series' Overrides are written as
// patches of their instances (InstanceID), as Google's own apps do.
//
// # Errors
//
// 403 with reason rateLimitExceeded, userRateLimitExceeded or
// quotaExceeded, 408, 429 and 5xx, transport failures and timeouts
// (WithTimeout) are a *calendar.ProviderError carrying Retry-After, which
// the engine retries; other 401/403 wrap calendar.ErrUnauthorized, 404
// calendar.ErrNotFound, 409 and 412 calendar.ErrPrecondition.
//
// # Push notifications
//
// Watch opens an events.watch channel (a random id, the engine's token as
// the channel token, the host's callback URL) and returns its id,
// resourceId and expiry; StopWatch is channels.stop. Renewal is the
// engine's job. NotificationHandler serves the callback URL: it checks
// each push's channel id, token (in constant time) and resource id against
// the watch the engine keeps, ignores the "sync" handshake, logs and
// drops forged pushes, and rate-limits each remote address.
//
// # Why not google.golang.org/api
//
// The generated client (google.golang.org/api/calendar/v3) would add
// some thirty modules (gRPC, cloud.google.com/go/auth, ...) to every
// host's build for six REST calls, and the provider needs explicit control
// of what it does not surface conveniently: If-Match on each write, 409 and
// 412 and 410 mapped by status and reason, Retry-After on 403 rate limits,
// the refresh on 401 and the refreshed token handed back. The requests and
// answers follow the API's documented JSON; googletest checks their shape.
//
// Package googletest is an in-process fake of the API and its token
// endpoint, for tests and demos.
package google
