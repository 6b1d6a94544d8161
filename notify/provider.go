package notify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Provider sends messages on one channel: an SMTP server, Twilio, a push
// service. A notifier tries the providers of a channel in the order they
// were given (WithProvider) and moves to the next when one fails or its
// circuit breaker is open (failover). Implementations must be safe for
// concurrent use, honour ctx, and never log or return secrets or message
// bodies in errors.
//
// Send returns a *RecipientError (matching ErrBadRecipient) when the
// recipient itself is wrong, so that the notifier fails the channel without
// retrying or failing over; an error matching ErrSubscriptionGone when a push
// subscription has expired; and a *ProviderError (or any other error) for
// everything that a retry or another provider may cure.
type Provider interface {
	// Name identifies the provider in statuses, logs and metrics, and keys
	// its breaker and rate limit ("smtp", "twilio"). Unique per notifier.
	Name() string
	// Channel is the channel the provider serves. ChannelInApp has no
	// providers: the notifier stores in-app messages itself.
	Channel() Channel
	// Send sends one message.
	Send(ctx context.Context, m *Message) (Result, error)
}

// PushProvider is a Provider for ChannelPush that serves one kind of
// subscription.
type PushProvider interface {
	Provider
	// PushKind is the kind of subscription the provider sends to.
	PushKind() PushKind
}

// Message is one rendered message for one provider call.
type Message struct {
	// NotificationID identifies the notification; providers that support
	// idempotency keys may derive one from it and Attempt.
	NotificationID string
	// Attempt counts the notifier's attempts on this channel, from 1.
	Attempt  int
	Channel  Channel
	Priority Priority
	Category Category
	Event    string
	// To is the email address (ChannelEmail) or E.164 phone number
	// (ChannelSMS), already checked by the notifier.
	To string
	// Name is the recipient's name, for the To header.
	Name string
	// Subscription is the push subscription (ChannelPush).
	Subscription *PushSubscription
	// Subject is the email subject or the push title.
	Subject string
	// Text is the plain-text body: the email's text part, the SMS, the push
	// body.
	Text string
	// HTML is the email's HTML part; empty for a text-only email.
	HTML string
	// ReplyTo is the email's Reply-To, if any.
	ReplyTo string
	// ListUnsubscribe is the email's List-Unsubscribe target (an https URL
	// to the supplier's preferences page), if the host configured one
	// (WithUnsubscribeURL). One-click unsubscribe (RFC 8058) is announced
	// with it.
	ListUnsubscribe string
	// URL is where a click on a push message leads.
	URL string
}

// Result is what a provider reports about a message it accepted.
type Result struct {
	// ExternalID is the provider's id for the message, if it gives one.
	ExternalID string
}

// ErrBadRecipient is matched by every *RecipientError.
var ErrBadRecipient = errors.New("notify: bad recipient")

// ErrSubscriptionGone is matched by errors of push providers whose service
// answered 404 or 410 for a subscription: it has expired or was revoked, and
// the notifier marks it dead.
var ErrSubscriptionGone = errors.New("notify: push subscription is gone")

// RecipientError says that the recipient's details are wrong for a channel:
// a malformed email address, a phone number that is not E.164, a number the
// SMS provider refuses. The channel fails at once (no retry, no failover)
// and the other channels still go.
type RecipientError struct {
	// Field is the recipient's field, as "recipient.email".
	Field string
	// Rule says what is wrong.
	Rule string
}

func (e *RecipientError) Error() string { return "notify: " + e.Field + ": " + e.Rule }

// Is makes errors.Is(err, ErrBadRecipient) true.
func (e *RecipientError) Is(target error) bool { return target == ErrBadRecipient }

// BadRecipient returns a *RecipientError for field; rule is a fmt format.
func BadRecipient(field, rule string, args ...any) *RecipientError {
	return &RecipientError{Field: field, Rule: fmt.Sprintf(rule, args...)}
}

// ProviderError is a provider call that failed in a way a retry or another
// provider may cure: a 5xx, a 429, a timeout, a refused connection.
type ProviderError struct {
	// Provider is the provider's Name.
	Provider string
	// StatusCode is the HTTP (or SMTP reply) code, 0 when none came.
	StatusCode int
	// Code is the provider's own error code, if any (Twilio's 20429).
	Code string
	// Timeout says the call timed out.
	Timeout bool
	// RetryAfter is the provider's Retry-After, when it sent one.
	RetryAfter time.Duration
	// Err is the underlying error, without secrets.
	Err error
}

func (e *ProviderError) Error() string {
	s := "notify: " + e.Provider
	if e.StatusCode != 0 {
		s += fmt.Sprintf(": status %d", e.StatusCode)
	}
	if e.Code != "" {
		s += " (code " + e.Code + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ProviderError) Unwrap() error { return e.Err }
