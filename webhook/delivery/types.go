package delivery

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/wedsync/integrations/internal/validate"
)

// EndpointStatus says whether an endpoint receives messages.
type EndpointStatus string

const (
	// EndpointEnabled endpoints receive messages.
	EndpointEnabled EndpointStatus = "enabled"
	// EndpointPaused endpoints hold their messages until resumed.
	EndpointPaused EndpointStatus = "paused"
	// EndpointDisabled endpoints receive nothing; messages sent meanwhile are
	// logged as failed and can be resent with Recover after ResumeEndpoint.
	// The manager disables an endpoint that answers 410 Gone or has done
	// nothing but fail for the disable window (5 days by default).
	EndpointDisabled EndpointStatus = "disabled"
)

// Endpoint is a vendor's URL subscribed to a supplier's events.
type Endpoint struct {
	ID          string
	SupplierID  string
	URL         string
	Description string
	// EventTypes filters what the endpoint receives: exact names such as
	// "booking.confirmed" or wildcards such as "booking.*" and "*". Empty
	// means every event.
	EventTypes []string
	Status     EndpointStatus
	// DisabledReason says why the manager disabled the endpoint.
	DisabledReason string
	// RateLimit caps deliveries per second to this endpoint in each host
	// instance; 0 means no cap, and a cap is at least one a minute
	// (1.0/60), so that it cannot silently stop the endpoint.
	RateLimit float64
	// FailingSince is when the current run of failures began (zero when the
	// last attempt succeeded).
	FailingSince time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// EndpointInput creates an endpoint.
type EndpointInput struct {
	// SupplierID owns the endpoint. Required.
	SupplierID string
	// URL receives POSTs. Required; https unless the manager allows http.
	URL         string
	Description string
	EventTypes  []string
	// RateLimit caps deliveries per second: 0 (none, the default) or at
	// least 1.0/60 (one a minute).
	RateLimit float64
}

// EndpointUpdate changes an endpoint; nil fields stay as they are.
type EndpointUpdate struct {
	URL         *string
	Description *string
	EventTypes  *[]string
	RateLimit   *float64
}

// Message is one event for a supplier's endpoints.
type Message struct {
	// SupplierID selects the endpoints. Required.
	SupplierID string
	// EventType such as "booking.confirmed". Required.
	EventType string
	// Payload is the JSON body sent as is, byte for byte. Required.
	Payload json.RawMessage
	// IdempotencyKey, when set, makes a repeat Send within 24 hours return
	// the first message's id and send nothing new.
	IdempotencyKey string
	// EndpointID, when set, sends the message to this one endpoint of the
	// supplier only, whatever its EventTypes filter: a "send test webhook"
	// button, or an event meant for one integration. It must be an
	// endpoint of SupplierID. Empty (the default): every endpoint of the
	// supplier whose filter takes EventType.
	EndpointID string
}

// AttemptStatus is the outcome of one delivery attempt.
type AttemptStatus string

const (
	// AttemptSucceeded means the endpoint answered 2xx.
	AttemptSucceeded AttemptStatus = "succeeded"
	// AttemptFailed means anything else: error, timeout, non-2xx.
	AttemptFailed AttemptStatus = "failed"
)

// Attempt is one row of the attempt log, the vendor's audit trail.
type Attempt struct {
	ID         int64
	MessageID  string
	EndpointID string
	SupplierID string
	EventType  string
	// Number counts attempts of this message to this endpoint, from 1.
	Number int
	Status AttemptStatus
	// ResponseStatus is the HTTP status, 0 when no response came.
	ResponseStatus int
	Latency        time.Duration
	// ResponseBody holds at most the first 4 KiB of the response.
	ResponseBody string
	Error        string
	At           time.Time
	// NextAttemptAt is when the next retry runs; zero when this attempt
	// succeeded or was the last.
	NextAttemptAt time.Time

	jobID int64 // the job that made it, for the crash check
}

// AttemptQuery filters ListAttempts. Empty fields match everything.
type AttemptQuery struct {
	MessageID  string
	EndpointID string
	SupplierID string
	Status     AttemptStatus
	Since      time.Time
	// BeforeID pages backwards: only attempts with a smaller ID.
	BeforeID int64
	// Limit defaults to 100 and is capped at 1,000.
	Limit int
}

// EndpointStats summarises an endpoint's attempts over a window.
type EndpointStats struct {
	Attempts    int
	Succeeded   int
	Failed      int
	SuccessRate float64
	LatencyP50  time.Duration
	LatencyP90  time.Duration
	LatencyP99  time.Duration
}

// Errors callers can match with errors.Is.
var (
	// ErrInvalid is matched by every *ValidationError: bad input, named by
	// field and rule.
	ErrInvalid = validate.ErrInvalid
	// ErrNotFound means no endpoint or message has that id.
	ErrNotFound = errors.New("delivery: not found")
	// ErrPayloadTooLarge is returned for a payload over the cap (256 KiB by default).
	ErrPayloadTooLarge = errors.New("delivery: payload too large")
	// ErrNoDatabase is returned by SendTx in memory mode.
	ErrNoDatabase = errors.New("delivery: SendTx needs Postgres mode (WithPostgres)")
)

// ValidationError names the field and the rule it broke; it matches
// ErrInvalid. Field is the input's JSON name ("supplier_id", "url"), an
// option's name ("WithTimeout") or a path ("messages[3].payload").
type ValidationError = validate.Error

func invalid(field, rule string, args ...any) error {
	return validate.New("delivery", field, rule, args...)
}
