package notify

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
)

// storedNotification is a notification as the notifier keeps it.
type storedNotification struct {
	ID             string
	SupplierID     string
	Event          string
	Category       Category
	Priority       Priority
	Recipient      Recipient
	Data           json.RawMessage // the notification's Data as JSON
	WeddingDate    string
	URL            string
	ReplyTo        string
	IdempotencyKey string
	CreatedAt      time.Time
	AcknowledgedAt time.Time
	// Routed is the last routing round recorded (0: never routed). A
	// route job for round r that finds Routed >= r has nothing to do.
	Routed int
}

// channelRow is a notification's state on one channel (ChannelStatus plus
// its keys). setChannels upserts by (NotificationID, Channel).
type channelRow struct {
	NotificationID string
	ChannelStatus
}

// attemptRow is one provider call for the attempt log.
type attemptRow struct {
	Attempt
	SupplierID string
	// JobID is the job that made the call: a job run again after a crash
	// looks for its own rows (attemptRecorded).
	JobID int64
}

// digestRow is an open digest: the items of one supplier's category waiting
// for the end of its window.
type digestRow struct {
	ID         string
	SupplierID string
	Category   Category
	WindowEnd  time.Time
	// Items are the notification ids, in the order they were added.
	Items []string
}

// subscriptionRow is a push subscription with its secrets sealed (the
// keyring encrypts P256DH, Auth and Token, bound to the subscription id);
// PushSubscription's secret fields are empty in it.
type subscriptionRow struct {
	PushSubscription
	Sealed []byte
}

// InAppQuery selects in-app messages of one supplier.
type InAppQuery struct {
	// UnreadOnly lists unread messages only.
	UnreadOnly bool `json:"unread_only"`
	// Before lists messages older than this message id (paging); empty
	// starts at the newest.
	Before string `json:"before,omitempty"`
	// Limit bounds the result. Defaults to 50; at most 500.
	Limit int `json:"limit,omitempty"`
}

// store persists the notifier's state. memStore and pgStore implement it;
// methods that take a pgx.Tx receive nil in memory mode. Times are the
// notifier's clock's, passed in.
type store interface {
	// insertNotification stores n unless n.IdempotencyKey (when set) was
	// used by the supplier at or after idemSince: then it returns the id
	// that holds the key and created false.
	insertNotification(ctx context.Context, tx pgx.Tx, n *storedNotification, idemSince time.Time) (id string, created bool, err error)
	getNotification(ctx context.Context, id string) (*storedNotification, error)
	// listNotifications lists a supplier's notifications, newest first,
	// older than before (an id; "" for the newest), at most limit.
	listNotifications(ctx context.Context, supplierID, before string, limit int) ([]*storedNotification, error)
	// setRouted records routing round r of notification id in tx.
	setRouted(ctx context.Context, tx pgx.Tx, id string, round int) error
	// acknowledge sets the notification's AcknowledgedAt if it is unset,
	// and reports whether this call set it.
	acknowledge(ctx context.Context, id string, at time.Time) (bool, error)

	// setChannels upserts channel rows in tx.
	setChannels(ctx context.Context, tx pgx.Tx, rows ...*channelRow) error
	// updateChannel reads a channel row under a row lock in tx, lets fn
	// change it, and writes it back; ErrNotFound when there is none.
	updateChannel(ctx context.Context, tx pgx.Tx, id string, ch Channel, fn func(r *channelRow) error) error
	// channels returns a notification's channel rows.
	channels(ctx context.Context, id string) ([]*channelRow, error)
	// channelByExternalID finds the channel row whose ExternalID a
	// provider gave (for ReportDelivery).
	channelByExternalID(ctx context.Context, provider, externalID string) (*channelRow, error)

	// insertAttempts writes attempt rows in tx.
	insertAttempts(ctx context.Context, tx pgx.Tx, rows ...*attemptRow) error
	// attemptRecorded reports whether job jobID logged an attempt of the
	// notification on ch.
	attemptRecorded(ctx context.Context, id string, ch Channel, jobID int64) (bool, error)
	listAttempts(ctx context.Context, id string) ([]Attempt, error)

	getPreferences(ctx context.Context, supplierID string) (*Preferences, error) // nil, nil when none stored
	setPreferences(ctx context.Context, supplierID string, p *Preferences, at time.Time) error
	deletePreferences(ctx context.Context, supplierID string) error

	insertSubscription(ctx context.Context, s *subscriptionRow) error
	// subscriptions lists a supplier's subscriptions, live ones only when
	// liveOnly.
	subscriptions(ctx context.Context, supplierID string, liveOnly bool) ([]*subscriptionRow, error)
	// markSubscriptionDead sets DeadAt if unset.
	markSubscriptionDead(ctx context.Context, id string, at time.Time) error
	deleteSubscription(ctx context.Context, supplierID, id string) error

	// addToDigest adds notification id to the supplier's open digest of
	// category c, or opens one ending at windowEnd; opened says a new
	// digest was opened (the caller queues its flush job in tx).
	addToDigest(ctx context.Context, tx pgx.Tx, supplierID string, c Category, notificationID string, newID string, windowEnd time.Time) (d *digestRow, opened bool, err error)
	// closeDigest removes the digest and returns it (in tx); ErrNotFound
	// when it was already closed.
	closeDigest(ctx context.Context, tx pgx.Tx, digestID string) (*digestRow, error)

	insertInApp(ctx context.Context, tx pgx.Tx, m *InAppMessage) error
	listInApp(ctx context.Context, supplierID string, q InAppQuery) ([]InAppMessage, error)
	unreadInApp(ctx context.Context, supplierID string) (int, error)
	// markRead marks the supplier's messages read (all unread ones when
	// ids is empty) and returns the notification ids it marked.
	markRead(ctx context.Context, supplierID string, ids []string, at time.Time) ([]string, error)

	// prune deletes notifications created before before, with their
	// channels, attempts and in-app messages; it returns how many
	// notifications it deleted.
	prune(ctx context.Context, before time.Time) (int64, error)
}
