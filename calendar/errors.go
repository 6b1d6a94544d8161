package calendar

import (
	"errors"
	"fmt"
	"time"

	"github.com/wedsync/integrations/internal/jobs"
	"github.com/wedsync/integrations/internal/validate"
)

// ErrInvalid is matched (errors.Is) by every *ValidationError.
var ErrInvalid = validate.ErrInvalid

// ValidationError names the bad field and the rule it broke.
type ValidationError = validate.Error

var (
	// ErrNotFound: the event, booking or connection does not exist.
	ErrNotFound = errors.New("calendar: not found")
	// ErrPrecondition: a write's ETag precondition failed (HTTP 412):
	// someone changed the event since it was read.
	ErrPrecondition = errors.New("calendar: precondition failed (the event changed since it was read)")
	// ErrCursorInvalid: the provider no longer accepts the sync cursor
	// (Google's 410 Gone, CalDAV's valid-sync-token); sync again from "".
	ErrCursorInvalid = errors.New("calendar: sync cursor no longer valid; a full sync is needed")
	// ErrUnauthorized: the provider refused the credentials (401/403).
	ErrUnauthorized = errors.New("calendar: provider refused the credentials")
	// ErrReconnect: the credentials cannot be renewed (an OAuth2 refresh
	// token revoked or expired: invalid_grant). Only the supplier can fix
	// it, by connecting the calendar again; the engine marks the
	// connection and tells the host (ChangeReconnectNeeded).
	ErrReconnect = errors.New("calendar: the supplier must connect this calendar again")
)

// ExistsError is what a provider's Create returns when the event it would
// make is there already: CalDAV's If-None-Match: * met an object at the
// path the UID gives, Google refused the id the UID gives (409), Graph
// answered a transactionId with an event of other content. ID is that
// event's id, "" when the provider cannot tell. The engine reads the event
// and, when it carries the booking's tag (a write whose bookkeeping a crash
// lost), adopts it instead of failing or writing a second one. It matches
// ErrPrecondition (errors.Is), and Err when set.
type ExistsError struct {
	// ID is the existing event's id (a CalDAV object path, a Google or
	// Graph event id), or "".
	ID string
	// Err is the provider's own error, when there is one.
	Err error
}

func (e *ExistsError) Error() string {
	s := "calendar: the event exists already"
	if e.ID != "" {
		s = fmt.Sprintf("calendar: event %s exists already", e.ID)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap gives ErrPrecondition and Err.
func (e *ExistsError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrPrecondition}
	}
	return []error{ErrPrecondition, e.Err}
}

// ProviderError is a provider's failure that may pass: a 429, a 5xx, a
// timeout. The engine retries it with backoff, waiting at least RetryAfter.
type ProviderError struct {
	// Provider names the provider.
	Provider string
	// Op is the call that failed ("changes", "update").
	Op string
	// Status is the HTTP status, 0 when none came.
	Status int
	// RetryAfter is the provider's Retry-After, zero when it sent none.
	RetryAfter time.Duration
	// Err is the underlying error, when there is one.
	Err error
}

func (e *ProviderError) Error() string {
	s := fmt.Sprintf("calendar: %s %s failed", e.Provider, e.Op)
	if e.Status != 0 {
		s += fmt.Sprintf(" with HTTP %d", e.Status)
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ProviderError) Unwrap() error { return e.Err }

func invalid(field, rule string, args ...any) error {
	return validate.New("calendar", field, rule, args...)
}

// ErrNoDatabase is returned by BookTx in memory mode.
var ErrNoDatabase = jobs.ErrNoDatabase
