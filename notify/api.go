package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
)

// Status returns a notification and where it stands on each channel.
func (n *Notifier) Status(ctx context.Context, id string) (*NotificationStatus, error) {
	sn, err := n.store.getNotification(ctx, id)
	if err != nil {
		return nil, err
	}
	return n.status(ctx, sn)
}

func (n *Notifier) status(ctx context.Context, sn *storedNotification) (*NotificationStatus, error) {
	rows, err := n.store.channels(ctx, sn.ID)
	if err != nil {
		return nil, err
	}
	st := &NotificationStatus{
		ID: sn.ID, SupplierID: sn.SupplierID, Event: sn.Event, Category: sn.Category, Priority: sn.Priority,
		CreatedAt: sn.CreatedAt, AcknowledgedAt: sn.AcknowledgedAt, Channels: []ChannelStatus{},
	}
	for _, ch := range AllChannels() {
		for _, r := range rows {
			if r.Channel == ch {
				st.Channels = append(st.Channels, r.ChannelStatus)
			}
		}
	}
	return st, nil
}

// List returns a supplier's notifications with their statuses, newest
// first: at most limit (default 50, at most 500), older than the
// notification before ("" for the newest).
func (n *Notifier) List(ctx context.Context, supplierID, before string, limit int) ([]NotificationStatus, error) {
	if supplierID == "" {
		return nil, invalid("supplier_id", "is required")
	}
	limit = clampLimit(limit)
	sns, err := n.store.listNotifications(ctx, supplierID, before, limit)
	if err != nil {
		return nil, err
	}
	out := make([]NotificationStatus, 0, len(sns))
	for _, sn := range sns {
		st, err := n.status(ctx, sn)
		if err != nil {
			return nil, err
		}
		out = append(out, *st)
	}
	return out, nil
}

// Attempts returns the provider calls made for a notification, oldest
// first, with recipients masked.
func (n *Notifier) Attempts(ctx context.Context, id string) ([]Attempt, error) {
	if _, err := n.store.getNotification(ctx, id); err != nil {
		return nil, err
	}
	return n.store.listAttempts(ctx, id)
}

// Acknowledge records that the supplier has seen the notification: a
// critical one stops escalating, and channels still waiting (for their
// escalation turn, a retry or the end of quiet hours) are not sent; their
// status becomes acknowledged. Reading an in-app message acknowledges its
// notification too (MarkRead). Acknowledging twice is not an error.
func (n *Notifier) Acknowledge(ctx context.Context, id string) error {
	if _, err := n.store.getNotification(ctx, id); err != nil {
		return err
	}
	return n.acknowledge(ctx, id)
}

func (n *Notifier) acknowledge(ctx context.Context, id string) error {
	now := n.o.clock.Now()
	first, err := n.store.acknowledge(ctx, id, now)
	if err != nil || !first {
		return err
	}
	rows, err := n.store.channels(ctx, id)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if r.Status == StatusQueued || r.Status == StatusDeferred {
			if err := n.settle(ctx, id, r.Channel, StatusAcknowledged, ""); err != nil {
				return err
			}
		}
	}
	n.tel.acknowledged(ctx)
	n.changed(ctx, id)
	return nil
}

// ReportDelivery records what a provider later said about a message it
// accepted (a Twilio status callback, say): delivered, or failed with a
// reason. provider and externalID are the provider's Name and the
// ExternalID it returned. An unknown message gives ErrNotFound.
func (n *Notifier) ReportDelivery(ctx context.Context, provider, externalID string, delivered bool, reason string) error {
	r, err := n.store.channelByExternalID(ctx, provider, externalID)
	if err != nil {
		return err
	}
	st := StatusDelivered
	if !delivered {
		st = StatusFailed
		if reason == "" {
			reason = provider + " reported the message undelivered"
		}
	}
	now := n.o.clock.Now()
	err = n.queue.InTx(ctx, func(tx pgx.Tx) error {
		return n.store.updateChannel(ctx, tx, r.NotificationID, r.Channel, func(c *channelRow) error {
			if c.Status == StatusSent || c.Status == StatusDelivered {
				c.Status, c.Error, c.UpdatedAt = st, reason, now
			}
			return nil
		})
	})
	if err == nil {
		n.changed(ctx, r.NotificationID)
	}
	return err
}

// Preview renders a notification on each channel its event offers, without
// sending anything: subject, text, HTML, and for SMS its encoding, length
// and segment count. It checks the notification as Send does.
func (n *Notifier) Preview(ctx context.Context, nt Notification) (map[Channel]*Rendered, error) {
	if _, err := n.validateNotification(&nt); err != nil {
		return nil, err
	}
	data, err := json.Marshal(nt.Data)
	if err != nil {
		return nil, invalid("data", "must be JSON-serialisable: %v", err)
	}
	if nt.Recipient.VendorType == "" {
		nt.Recipient.VendorType = VendorOther
	}
	sn := &storedNotification{SupplierID: nt.Recipient.SupplierID, Event: nt.Event, Recipient: nt.Recipient, Data: data, URL: nt.URL}
	spec, _ := n.o.templates.Event(nt.Event)
	out := map[Channel]*Rendered{}
	for _, ch := range spec.Channels {
		r, err := n.render(sn, ch)
		if err != nil {
			return nil, err
		}
		out[ch] = r
	}
	return out, nil
}

// Preferences returns the supplier's preferences: the stored ones, or the
// defaults of vendorType when none are stored.
func (n *Notifier) Preferences(ctx context.Context, supplierID, vendorType string) (Preferences, error) {
	if supplierID == "" {
		return Preferences{}, invalid("supplier_id", "is required")
	}
	return n.preferences(ctx, supplierID, vendorType)
}

// SetPreferences stores the supplier's preferences after checking them;
// routing uses them from the next notification on (and for notifications
// whose quiet hours end later).
func (n *Notifier) SetPreferences(ctx context.Context, supplierID string, p Preferences) error {
	if supplierID == "" {
		return invalid("supplier_id", "is required")
	}
	if err := p.Validate(); err != nil {
		return err
	}
	return n.store.setPreferences(ctx, supplierID, &p, n.o.clock.Now())
}

// ResetPreferences deletes the supplier's stored preferences: the vendor
// type's defaults apply again.
func (n *Notifier) ResetPreferences(ctx context.Context, supplierID string) error {
	return n.store.deletePreferences(ctx, supplierID)
}

// AddPushSubscription registers a browser's or device's push subscription
// for a supplier. Registering the same endpoint (or FCM token) again
// replaces its keys and revives it. The keys and the token are encrypted at
// rest; the returned copy has its ID and CreatedAt set.
func (n *Notifier) AddPushSubscription(ctx context.Context, s PushSubscription) (PushSubscription, error) {
	if s.SupplierID == "" {
		return PushSubscription{}, invalid("supplier_id", "is required")
	}
	switch s.Kind {
	case PushWeb:
		u, err := url.Parse(s.Endpoint)
		if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || len(s.Endpoint) > 2048 {
			return PushSubscription{}, invalid("endpoint", "must be the https URL the browser's PushSubscription gave")
		}
		if s.P256DH == "" || s.Auth == "" || len(s.P256DH) > 200 || len(s.Auth) > 100 {
			return PushSubscription{}, invalid("keys", "p256dh and auth are required (base64url, from the browser's PushSubscription)")
		}
		if s.Token != "" {
			return PushSubscription{}, invalid("token", "is for fcm subscriptions only")
		}
	case PushFCM:
		if s.Token == "" || len(s.Token) > 4096 {
			return PushSubscription{}, invalid("token", "is required (the FCM registration token), at most 4096 bytes")
		}
		if s.Endpoint != "" || s.P256DH != "" || s.Auth != "" {
			return PushSubscription{}, invalid("endpoint", "is for webpush subscriptions only")
		}
	default:
		return PushSubscription{}, invalid("kind", "must be %q or %q, got %q", PushWeb, PushFCM, s.Kind)
	}
	s.ID, s.CreatedAt, s.DeadAt = newID("psub_"), n.o.clock.Now(), time.Time{}
	secret, err := json.Marshal(pushSecret{P256DH: s.P256DH, Auth: s.Auth, Token: s.Token})
	if err != nil {
		return PushSubscription{}, err
	}
	row := &subscriptionRow{PushSubscription: s, Sealed: n.keys.Seal(secret, subscriptionAAD(s.SupplierID, s.Kind))}
	// The store keeps a hash of the token to recognise a device that
	// registers again, never the token itself.
	row.P256DH, row.Auth = "", ""
	if err := n.store.insertSubscription(ctx, row); err != nil {
		return PushSubscription{}, err
	}
	s.ID, s.CreatedAt = row.ID, row.CreatedAt
	return s, nil
}

// subscriptionAAD binds a sealed subscription to its supplier and kind: a
// sealed value copied onto another supplier's row does not open there.
func subscriptionAAD(supplierID string, kind PushKind) []byte {
	return []byte("notify/push\x00" + supplierID + "\x00" + string(kind))
}

// pushSecret is what a subscription keeps sealed.
type pushSecret struct {
	P256DH string `json:"p256dh,omitempty"`
	Auth   string `json:"auth,omitempty"`
	Token  string `json:"token,omitempty"`
}

// PushSubscriptions lists a supplier's subscriptions, dead ones included,
// without their keys and tokens.
func (n *Notifier) PushSubscriptions(ctx context.Context, supplierID string) ([]PushSubscription, error) {
	rows, err := n.store.subscriptions(ctx, supplierID, false)
	if err != nil {
		return nil, err
	}
	out := make([]PushSubscription, 0, len(rows))
	for _, r := range rows {
		s := r.PushSubscription
		s.P256DH, s.Auth, s.Token = "", "", ""
		out = append(out, s)
	}
	return out, nil
}

// RemovePushSubscription deletes one of the supplier's subscriptions.
func (n *Notifier) RemovePushSubscription(ctx context.Context, supplierID, id string) error {
	return n.store.deleteSubscription(ctx, supplierID, id)
}

// subscriptions returns a supplier's subscriptions with their secrets.
func (n *Notifier) subscriptions(ctx context.Context, supplierID string, liveOnly bool) ([]PushSubscription, error) {
	rows, err := n.store.subscriptions(ctx, supplierID, liveOnly)
	if err != nil {
		return nil, err
	}
	out := make([]PushSubscription, 0, len(rows))
	for _, r := range rows {
		plain, err := n.keys.Open(r.Sealed, subscriptionAAD(r.SupplierID, r.Kind))
		if err != nil {
			n.o.logger.Warn("notify: cannot decrypt a push subscription (wrong encryption key?)", "subscription", r.ID, "err", err)
			continue
		}
		var sec pushSecret
		if err := json.Unmarshal(plain, &sec); err != nil {
			return nil, fmt.Errorf("notify: subscription %s: %w", r.ID, err)
		}
		s := r.PushSubscription
		s.P256DH, s.Auth, s.Token = sec.P256DH, sec.Auth, sec.Token
		out = append(out, s)
	}
	return out, nil
}

// InApp lists a supplier's in-app messages, newest first.
func (n *Notifier) InApp(ctx context.Context, supplierID string, q InAppQuery) ([]InAppMessage, error) {
	if supplierID == "" {
		return nil, invalid("supplier_id", "is required")
	}
	q.Limit = clampLimit(q.Limit)
	return n.store.listInApp(ctx, supplierID, q)
}

// UnreadCount counts a supplier's unread in-app messages.
func (n *Notifier) UnreadCount(ctx context.Context, supplierID string) (int, error) {
	return n.store.unreadInApp(ctx, supplierID)
}

// MarkRead marks the supplier's in-app messages read (all unread ones when
// no id is given) and acknowledges their notifications. Ids of other
// suppliers' messages are ignored. It returns how many messages it marked.
func (n *Notifier) MarkRead(ctx context.Context, supplierID string, ids ...string) (int, error) {
	if supplierID == "" {
		return 0, invalid("supplier_id", "is required")
	}
	nids, err := n.store.markRead(ctx, supplierID, ids, n.o.clock.Now())
	if err != nil {
		return 0, err
	}
	for _, id := range nids {
		if err := n.acknowledge(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
			return len(nids), err
		}
	}
	return len(nids), nil
}

// changed tells the status hook about a notification.
func (n *Notifier) changed(ctx context.Context, id string) {
	if n.o.statusHook == nil {
		return
	}
	st, err := n.Status(context.WithoutCancel(ctx), id)
	if err != nil {
		return
	}
	n.o.statusHook(*st)
}
