// Package outlook is the Microsoft Graph (Outlook, Microsoft 365)
// implementation of calendar.Provider and calendar.Watcher, over Graph's
// REST API with plain net/http and JSON (no SDK: the calls are few, and
// If-Match, Prefer headers and extended properties are easiest by hand).
//
// # Connections
//
// A connection's credentials are the user's OAuth2 token as
// golang.org/x/oauth2 marshals it (access_token, token_type,
// refresh_token, expiry: see ParseCredentials). New takes the host's
// *oauth2.Config (the app registration's client id and secret, the
// Microsoft identity platform's token endpoint, scopes "offline_access
// Calendars.ReadWrite"). Each call refreshes an expired access token, and
// refreshes once more when Graph answers 401; when the token changed
// during a call, the provider hands the new one to the engine with
// calendar.UpdateCredentials. A refresh the token endpoint refuses
// (invalid_grant, or 400/401) gives calendar.ErrReconnect: only the
// supplier can fix it, by connecting again. A 401 with a fresh token gives
// calendar.ErrUnauthorized. Tokens never appear in errors or logs.
//
// Every request asks Prefer: IdType="ImmutableId" (event ids stay the
// same when events move), outlook.timezone="UTC" and
// outlook.body-content-type="text".
//
// # Sync
//
// Changes uses /me/calendars/{id}/calendarView/delta: an empty cursor
// starts a full listing over a window (31 days back to two years ahead of
// now, WithWindow), the provider follows @odata.nextLink to
// @odata.deltaLink, and the deltaLink is the next cursor. Items marked
// @removed are deleted (an event moved out of the window is too). A delta
// link Graph refuses (410 Gone, syncStateNotFound, resyncRequired), or a
// cursor that does not point at the provider's Graph endpoint (so that a
// stored cursor can never send the token elsewhere), gives
// calendar.ErrCursorInvalid and the engine lists again.
//
// calendarView returns instances, not series masters: each occurrence or
// exception of a recurring series is an Event of its own, with its own id
// and no Recurrence. Busy time comes out the same. A series master read
// with Get carries its patternedRecurrence as one RRULE line (daily,
// weekly, absolute and relative monthly and yearly, with interval, days of
// week, end date or count); see DecodeEvent for the whole mapping. Start
// and End are read in UTC and placed in the event's own zone
// (originalStartTimeZone: an IANA name, or a common Windows name mapped to
// IANA by a small table; anything else stays UTC).
//
// # Writes
//
// Create posts to /me/calendars/{id}/events with transactionId set to the
// event's UID: Graph answers a retried create with the event the first
// attempt made, which Create returns; an existing event with other content
// gives a *calendar.ExistsError with its id (matching
// calendar.ErrPrecondition). (Graph keeps its own iCalUId: the UID
// read back is Graph's.) Update PATCHes /me/events/{id} with If-Match: the
// event's @odata.etag, so fields the model does not hold (attendees,
// reminders) survive; Delete sends If-Match too. A stale etag gives
// calendar.ErrPrecondition; deleting an event already gone is nil.
//
// The engine's writes carry the booking id in a single-value extended
// property, TagPropertyID (a string in a property set whose GUID WedSync
// chose and never changes), read back as Event.Tag; reads ask Graph to
// expand it. Should Graph refuse $expand on calendarView/delta, Changes
// lists without it (logged): events then come without Tag, and the engine
// knows its own writes by their event ids in its mapping.
//
// # Push
//
// Watch creates a subscription (POST /subscriptions: created, updated and
// deleted events of the calendar, clientState = the watch token, about 70
// hours, within Graph's limit of 4230 minutes for events); StopWatch
// deletes it. NotificationHandler answers Graph's validation handshake and
// checks each notification's subscription and clientState (in constant
// time) against the watches the engine keeps before it asks for a sync;
// forged ones are logged and ignored.
//
// # Errors
//
// 429, 503 and other 5xx (and 403 throttling) are a
// *calendar.ProviderError with Graph's Retry-After, which the engine
// retries; 401 and 403 wrap calendar.ErrUnauthorized; 404 and 410
// calendar.ErrNotFound; 409 and 412 calendar.ErrPrecondition. Response
// bodies are read up to MaxResponseBytes.
//
// The default HTTP client is SSRF-safe (internal/netguard) and https
// only; tests and demos point the provider at the in-process fake of
// package outlooktest (Server.ProviderOptions).
package outlook
