package calendar

import (
	"context"
	"time"
)

// Provider is one calendar service: CalDAV (calendar/caldav), Google
// (calendar/google), Microsoft Graph (calendar/outlook). It is shaped so
// that each fits: an opaque cursor (a CalDAV sync-token, a Google
// nextSyncToken, a Graph deltaLink), a full listing when there is none or
// it is refused, and writes with an ETag precondition.
//
// Every method takes the connection's credentials as the provider issued
// them to the host (JSON the provider documents: a server URL and password
// for CalDAV, an OAuth token for Google). The engine stores them sealed and
// opens them only to make a call. Implementations must be safe for
// concurrent use and must not log credentials.
type Provider interface {
	// Name identifies the provider in connections, the attempt log, the
	// breaker and telemetry ("caldav", "google"). It must be stable.
	Name() string
	// Calendars lists the calendars the credentials reach (discovery).
	Calendars(ctx context.Context, creds []byte) ([]CalendarInfo, error)
	// Changes returns what changed in calendar since cursor. An empty
	// cursor asks for a full listing (ChangeSet.Full). A cursor the
	// provider no longer accepts (Google's 410, CalDAV's valid-sync-token
	// precondition) returns an error matching ErrCursorInvalid; the engine
	// then asks again with "".
	Changes(ctx context.Context, creds []byte, calendar, cursor string) (*ChangeSet, error)
	// Get reads one event; ErrNotFound when it is gone.
	Get(ctx context.Context, creds []byte, calendar, id string) (*Event, error)
	// Create writes a new event and returns it with its ID and ETag. It
	// must not overwrite an existing event (If-None-Match: *): an existing
	// one gives ErrPrecondition, best as an *ExistsError naming the
	// event, which the engine reads and adopts when it carries the
	// booking's tag (a write whose bookkeeping a crash lost).
	Create(ctx context.Context, creds []byte, calendar string, ev *Event) (*Event, error)
	// Update replaces the event ev.ID if its ETag is still etag (If-Match),
	// else ErrPrecondition; ErrNotFound when it is gone. It returns the
	// event with its new ETag.
	Update(ctx context.Context, creds []byte, calendar string, ev *Event, etag string) (*Event, error)
	// Delete removes the event id if its ETag is still etag (an empty etag
	// deletes unconditionally); ErrPrecondition on a mismatch, and nil when
	// it is already gone.
	Delete(ctx context.Context, creds []byte, calendar, id, etag string) error
}

// CalendarInfo describes one calendar a connection may sync.
type CalendarInfo struct {
	// ID is the provider's id of the calendar (a CalDAV collection path).
	ID   string
	Name string
	// TimeZone is the calendar's IANA zone, when the provider says.
	TimeZone string
	// ReadOnly calendars can be read for busy time but not written.
	ReadOnly bool
}

// ChangeSet is one answer of Provider.Changes.
type ChangeSet struct {
	// Full says this is a complete listing: every event of the calendar is
	// in Updated, and any event the engine knew that is not there is gone.
	Full bool
	// Updated are new or changed events (whole series, with overrides).
	Updated []Event
	// Deleted are the ids of events that are gone.
	Deleted []string
	// Cursor is where the next Changes call starts.
	Cursor string
}

// Watcher is implemented by providers that push change notifications
// (Google's watch channels, Graph's subscriptions). CalDAV has none, and
// is synced on a period. The engine opens a watch per connection when the
// host gave it a callback URL (WithCallbackURL), renews it before it
// expires, and stops it on Disconnect; the provider's notification handler
// (google.NotificationHandler, outlook.NotificationHandler) checks each
// push against the watches the engine keeps (Sync.LookupWatch) and calls
// Sync.Notify for a genuine one.
type Watcher interface {
	// Watch asks the provider to notify callbackURL of changes to
	// calendar, with token as the secret the notifications carry back
	// (Google's channel token, Graph's clientState). It returns the watch,
	// with the provider's ids and its expiry.
	Watch(ctx context.Context, creds []byte, calendar, callbackURL, token string) (Watch, error)
	// StopWatch ends a watch; one already gone is not an error.
	StopWatch(ctx context.Context, creds []byte, w Watch) error
}

// Watch is one open change-notification channel.
type Watch struct {
	// ID is the provider's id of the watch: Google's channel id (chosen by
	// the client), Graph's subscription id.
	ID string `json:"id"`
	// ResourceID is Google's resourceId of the watched calendar (empty for
	// Graph).
	ResourceID string `json:"resource_id,omitempty"`
	// Token is the secret the notifications carry back; compare it in
	// constant time.
	Token string `json:"token"`
	// Expires is when the provider stops sending notifications.
	Expires time.Time `json:"expires"`
}

// ContextWithCredentialsUpdate returns ctx carrying fn, which a provider
// calls (through UpdateCredentials) when the credentials it was given
// changed while it used them: an OAuth2 access token refreshed. The engine
// passes such a context to every provider call and stores what fn
// receives, sealed.
func ContextWithCredentialsUpdate(ctx context.Context, fn func(creds []byte)) context.Context {
	return context.WithValue(ctx, credsUpdateKey{}, fn)
}

// UpdateCredentials hands new credentials to the engine, if ctx came from
// ContextWithCredentialsUpdate; otherwise it does nothing.
func UpdateCredentials(ctx context.Context, creds []byte) {
	if fn, ok := ctx.Value(credsUpdateKey{}).(func([]byte)); ok && fn != nil {
		fn(creds)
	}
}

type credsUpdateKey struct{}
