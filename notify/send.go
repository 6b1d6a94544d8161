package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/wedsync/integrations/internal/jobs"
	"github.com/wedsync/integrations/internal/validate"
)

// Job kinds and their arguments. Every job names its notification; the
// chain of one channel's attempts is unique by (notification, channel,
// number), so a crashed attempt that runs twice cannot fork it.
type routeArgs struct {
	NotificationID string `json:"notification_id"`
	// Round counts routings: 1 at Send, one more each time quiet hours
	// deferred some channels.
	Round int `json:"round"`
}

func (routeArgs) Kind() string { return "wedsync_notify_route" }

type sendArgs struct {
	NotificationID string  `json:"notification_id"`
	Channel        Channel `json:"channel"`
	Number         int     `json:"number"`
}

func (sendArgs) Kind() string { return "wedsync_notify_send" }

type escalateArgs struct {
	NotificationID string `json:"notification_id"`
	// Channel goes out now unless the notification was acknowledged;
	// Rest follow, one per escalation delay.
	Channel Channel   `json:"channel"`
	Rest    []Channel `json:"rest,omitempty"`
	// Early is set when a channel failed for good before its turn ended:
	// the next one goes out at once instead of after the delay.
	Early bool `json:"early,omitempty"`
}

func (escalateArgs) Kind() string { return "wedsync_notify_escalate" }

type digestArgs struct {
	DigestID string `json:"digest_id"`
}

func (digestArgs) Kind() string { return "wedsync_notify_digest" }

// Queue priorities: critical work goes ahead of everything else; digests
// and quiet-hours releases after fresh normal work.
const (
	priorityCritical = 1
	priorityNormal   = 2
	priorityBulk     = 3
)

func jobPriority(p Priority) int {
	if p == PriorityCritical {
		return priorityCritical
	}
	return priorityNormal
}

const maxKeyLen = 255

// validateNotification checks what Send must refuse outright, and resolves
// the category and the default priority. Email and phone are not checked
// here: a bad one fails its channel only, and the other channels still go.
func (n *Notifier) validateNotification(nt *Notification) (*time.Location, error) {
	if nt.Event == "" {
		return nil, invalid("event", "is required")
	}
	spec, ok := n.o.templates.Event(nt.Event)
	if !ok || nt.Event == DigestEvent {
		return nil, invalid("event", "%q is not a registered event", nt.Event)
	}
	if err := nt.Recipient.validate(); err != nil {
		return nil, err
	}
	loc, err := checkTimeZone(nt.Recipient.TimeZone)
	if err != nil {
		return nil, err
	}
	if nt.Category == "" {
		nt.Category = spec.Category
	} else if !validName(string(nt.Category), 50) {
		return nil, invalid("category", "must be 1 to 50 lower-case letters, digits or '_', got %q", nt.Category)
	}
	switch nt.Priority {
	case PriorityDefault, PriorityNormal, PriorityCritical:
	default:
		return nil, invalid("priority", "must be \"\", \"normal\" or \"critical\", got %q", nt.Priority)
	}
	if nt.WeddingDate != "" {
		if _, err := time.Parse(time.DateOnly, nt.WeddingDate); err != nil {
			return nil, invalid("wedding_date", "must be a date like 2026-06-13, got %q", nt.WeddingDate)
		}
	}
	if len(nt.IdempotencyKey) > maxKeyLen || !utf8.ValidString(nt.IdempotencyKey) {
		return nil, invalid("idempotency_key", "must be valid UTF-8 of at most %d bytes", maxKeyLen)
	}
	if len(nt.URL) > 2048 || strings.ContainsAny(nt.URL, "\r\n") {
		return nil, invalid("url", "must be a single line of at most 2048 bytes")
	}
	if nt.ReplyTo != "" {
		if err := checkEmail(nt.ReplyTo); err != nil {
			return nil, invalid("reply_to", "must be an email address like name@example.com")
		}
	}
	if err := n.o.templates.CheckData(nt.Event, nt.Data); err != nil {
		return nil, err
	}
	return loc, nil
}

// validName reports whether s is 1..maxLen of [a-z0-9_].
func validName(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// resolvePriority makes PriorityDefault concrete: critical on the wedding
// day in the supplier's time zone.
func resolvePriority(nt *Notification, now time.Time, loc *time.Location) Priority {
	if nt.Priority != PriorityDefault {
		return nt.Priority
	}
	if nt.WeddingDate != "" && now.In(loc).Format(time.DateOnly) == nt.WeddingDate {
		return PriorityCritical
	}
	return PriorityNormal
}

// Send accepts a notification and queues its routing. It returns once the
// notification is stored (in Postgres mode, committed): from then on it is
// never lost. Routing, preferences, quiet hours and the channels' sends
// happen in jobs; Status tells how each channel went.
func (n *Notifier) Send(ctx context.Context, nt Notification) (Receipt, error) {
	loc, err := n.validateNotification(&nt)
	if err != nil {
		return Receipt{}, err
	}
	var r Receipt
	err = n.queue.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = n.enqueue(ctx, tx, &nt, loc)
		return err
	})
	if err != nil {
		return Receipt{}, err
	}
	n.accepted(ctx, r)
	return r, nil
}

// SendTx is Send inside the host's transaction: the notification exists,
// and is sent, only if tx commits. Memory mode returns ErrNoDatabase.
func (n *Notifier) SendTx(ctx context.Context, tx pgx.Tx, nt Notification) (Receipt, error) {
	if n.o.pool == nil {
		return Receipt{}, ErrNoDatabase
	}
	if tx == nil {
		return Receipt{}, invalid("tx", "is required")
	}
	loc, err := n.validateNotification(&nt)
	if err != nil {
		return Receipt{}, err
	}
	r, err := n.enqueue(ctx, tx, &nt, loc)
	if err == nil {
		n.accepted(ctx, r)
	}
	return r, err
}

func (n *Notifier) accepted(ctx context.Context, r Receipt) {
	if !r.Duplicate {
		n.tel.accepted(ctx, r.Priority)
	}
}

func (n *Notifier) enqueue(ctx context.Context, tx pgx.Tx, nt *Notification, loc *time.Location) (Receipt, error) {
	now := n.o.clock.Now()
	data, err := json.Marshal(nt.Data)
	if err != nil {
		return Receipt{}, invalid("data", "must be JSON-serialisable: %v", err)
	}
	if nt.Recipient.VendorType == "" {
		nt.Recipient.VendorType = VendorOther
	}
	sn := &storedNotification{
		ID: newID("ntf_"), SupplierID: nt.Recipient.SupplierID, Event: nt.Event, Category: nt.Category,
		Priority: resolvePriority(nt, now, loc), Recipient: nt.Recipient, Data: data, WeddingDate: nt.WeddingDate,
		URL: nt.URL, ReplyTo: nt.ReplyTo, IdempotencyKey: nt.IdempotencyKey, CreatedAt: now,
	}
	id, created, err := n.store.insertNotification(ctx, tx, sn, now.Add(-n.o.idempotencyTTL))
	if err != nil {
		return Receipt{}, fmt.Errorf("notify: store notification: %w", err)
	}
	if !created {
		prev, err := n.store.getNotification(ctx, id)
		if err != nil {
			return Receipt{}, fmt.Errorf("notify: read notification %s: %w", id, err)
		}
		return Receipt{ID: id, Duplicate: true, Priority: prev.Priority}, nil
	}
	err = n.queue.InsertTx(ctx, tx, jobs.InsertParams{
		Args: routeArgs{NotificationID: sn.ID, Round: 1}, Priority: jobPriority(sn.Priority), Unique: true,
	})
	if err != nil {
		return Receipt{}, fmt.Errorf("notify: queue notification: %w", err)
	}
	return Receipt{ID: sn.ID, Priority: sn.Priority}, nil
}

// prefixField puts a validation error's field under parent.
func prefixField(parent string, err error) error { return validate.Prefix(parent, err) }
