package notify

import (
	"encoding/json"
	"time"
)

// Channel is a way of reaching a supplier.
type Channel string

// Channels.
const (
	// ChannelEmail sends email through the EmailProvider chain (SMTP).
	ChannelEmail Channel = "email"
	// ChannelSMS sends a text message (Twilio).
	ChannelSMS Channel = "sms"
	// ChannelPush sends to the supplier's push subscriptions (Web Push, FCM).
	ChannelPush Channel = "push"
	// ChannelInApp stores the notification in the supplier's in-app inbox
	// and hands it to the host's WithInAppHandler (to show it live through
	// realtime). It is silent, so quiet hours and digests do not hold it.
	ChannelInApp Channel = "in_app"
)

// AllChannels lists every channel, in the order statuses are reported.
func AllChannels() []Channel { return []Channel{ChannelPush, ChannelSMS, ChannelEmail, ChannelInApp} }

// Valid reports whether c is one of the four channels.
func (c Channel) Valid() bool {
	switch c {
	case ChannelEmail, ChannelSMS, ChannelPush, ChannelInApp:
		return true
	}
	return false
}

// Priority says how urgently a notification must reach its supplier.
type Priority string

// Priorities.
const (
	// PriorityDefault lets the notifier decide: critical for an item about
	// a wedding that takes place today in the supplier's time zone
	// (Notification.WeddingDate), normal otherwise.
	PriorityDefault Priority = ""
	// PriorityNormal respects quiet hours and digests and goes out on every
	// channel the supplier allows for its category.
	PriorityNormal Priority = "normal"
	// PriorityCritical bypasses quiet hours and digests, goes ahead of
	// normal work in the queue, and escalates: it goes out on the first
	// channel of the supplier's escalation order, and on the next one each
	// time the escalation delay passes without an acknowledgement.
	PriorityCritical Priority = "critical"
)

// Category groups events for preferences: a supplier switches channels
// on and off per category, and digests per category.
type Category string

// Categories the default preferences know. A host may use others; they
// follow Preferences.Default.
const (
	CategoryBooking          Category = "booking"
	CategoryEnquiry          Category = "enquiry"
	CategoryPayment          Category = "payment"
	CategoryMessage          Category = "message"
	CategoryReview           Category = "review"
	CategoryCalendarConflict Category = "calendar_conflict"
	CategoryTimeline         Category = "timeline"
	CategorySystem           Category = "system"
)

// Vendor types with default preferences of their own (DefaultPreferences).
// Any other non-empty value is accepted and gets VendorOther's defaults.
const (
	VendorPhotographer = "photographer"
	VendorVideographer = "videographer"
	VendorVenue        = "venue"
	VendorFlorist      = "florist"
	VendorPlanner      = "planner"
	VendorCaterer      = "caterer"
	VendorMusic        = "music"
	VendorOther        = "other"
)

// Recipient is the supplier a notification is for, with the contact details
// each channel needs. The host passes it with every notification (it owns
// the supplier's profile); push subscriptions are registered separately
// (AddPushSubscription), because browsers create and expire them.
type Recipient struct {
	// SupplierID identifies the supplier. Required.
	SupplierID string `json:"supplier_id"`
	// VendorType picks default preferences and template variants
	// ("photographer", "venue", ...). Defaults to "other".
	VendorType string `json:"vendor_type,omitempty"`
	// Name is how messages address the supplier.
	Name string `json:"name,omitempty"`
	// Email is the address for ChannelEmail. A malformed one fails that
	// channel only, with an error naming recipient.email.
	Email string `json:"email,omitempty"`
	// Phone is the E.164 number (+447700900123) for ChannelSMS. A malformed
	// one fails that channel only, with an error naming recipient.phone.
	Phone string `json:"phone,omitempty"`
	// TimeZone is the supplier's IANA zone ("Europe/London"), for quiet
	// hours and for "a wedding today". Defaults to "UTC".
	TimeZone string `json:"time_zone,omitempty"`
	// Locale picks template variants (BCP 47: "en-GB", "fr"). Defaults to
	// the default variant.
	Locale string `json:"locale,omitempty"`
}

// Notification is one event to tell a supplier about.
type Notification struct {
	// Event names the templates to render ("booking.confirmed"). It must
	// have been registered with the Templates the notifier was given.
	Event string `json:"event"`
	// Recipient is the supplier. Required.
	Recipient Recipient `json:"recipient"`
	// Category overrides the event's category for preferences. Defaults
	// to the category the event was registered with.
	Category Category `json:"category,omitempty"`
	// Priority; see PriorityDefault.
	Priority Priority `json:"priority,omitempty"`
	// Data holds the template variables the event declares: every
	// required one must be present, and no undeclared one may be.
	Data map[string]any `json:"data,omitempty"`
	// WeddingDate is the civil date (2006-01-02) of the wedding the item
	// is about, if any: on that day in the supplier's time zone a
	// notification with PriorityDefault is critical.
	WeddingDate string `json:"wedding_date,omitempty"`
	// URL is where a click on a push or in-app message leads; templates
	// can use it as {{.url}}.
	URL string `json:"url,omitempty"`
	// ReplyTo is the Reply-To of the email (the couple's address, say).
	ReplyTo string `json:"reply_to,omitempty"`
	// IdempotencyKey makes Send safe to retry: the same key for the same
	// supplier within the idempotency window (24 h) returns the first
	// notification and sends nothing new. At most 255 bytes of UTF-8.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// Receipt is what Send returns.
type Receipt struct {
	// ID identifies the notification ("ntf_...").
	ID string `json:"id"`
	// Duplicate is true when the idempotency key had been used: ID is then
	// the first notification's, and nothing new was sent.
	Duplicate bool `json:"duplicate"`
	// Priority is the priority the notification was given.
	Priority Priority `json:"priority"`
}

// Status is where a notification stands on one channel.
type Status string

// Statuses of a channel, as Knock and Novu name them where they have one.
const (
	// StatusQueued: waiting to be sent: for a worker, for the next attempt
	// after every provider failed (NotBefore, with the last Error), or, for
	// a critical item, for its turn in the escalation (NotBefore).
	StatusQueued Status = "queued"
	// StatusSent: a provider accepted it.
	StatusSent Status = "sent"
	// StatusDelivered: the provider reported delivery (ReportDelivery).
	StatusDelivered Status = "delivered"
	// StatusFailed: it could not be sent (a bad recipient, or every retry
	// failed); Error says why.
	StatusFailed Status = "failed"
	// StatusSuppressed: the supplier's preferences turn this channel off
	// for this category (or everything off).
	StatusSuppressed Status = "suppressed"
	// StatusDeferred: held by quiet hours until NotBefore.
	StatusDeferred Status = "deferred"
	// StatusDigested: batched into a digest that goes out at NotBefore. It
	// stays digested after the digest went out: the digest is a
	// notification of its own (event DigestEvent).
	StatusDigested Status = "digested"
	// StatusAcknowledged: the supplier acknowledged the notification before
	// this channel's turn came, so it was not sent.
	StatusAcknowledged Status = "acknowledged"
)

// ChannelStatus is a notification's state on one channel.
type ChannelStatus struct {
	Channel Channel `json:"channel"`
	Status  Status  `json:"status"`
	// Provider is the provider that sent it (or last tried).
	Provider string `json:"provider,omitempty"`
	// Error says why it failed or was suppressed.
	Error string `json:"error,omitempty"`
	// Attempts counts provider calls made for this channel.
	Attempts int `json:"attempts"`
	// NotBefore is when a deferred, digested or escalation-queued channel
	// goes out (zero otherwise).
	NotBefore time.Time `json:"not_before,omitzero"`
	// ExternalID is the provider's id of what it sent (Twilio's message
	// SID, FCM's message name).
	ExternalID string    `json:"external_id,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// NotificationStatus is a notification and where it stands on each channel.
type NotificationStatus struct {
	ID         string    `json:"id"`
	SupplierID string    `json:"supplier_id"`
	Event      string    `json:"event"`
	Category   Category  `json:"category"`
	Priority   Priority  `json:"priority"`
	CreatedAt  time.Time `json:"created_at"`
	// AcknowledgedAt is when the supplier acknowledged it (zero if not).
	AcknowledgedAt time.Time `json:"acknowledged_at,omitzero"`
	// Channels has one entry per channel considered, in AllChannels order;
	// empty until the notification has been routed.
	Channels []ChannelStatus `json:"channels"`
}

// Attempt is one provider call, as the attempt log keeps it. The recipient
// is masked (j***@e***.com, +44*******123).
type Attempt struct {
	NotificationID string        `json:"notification_id"`
	Channel        Channel       `json:"channel"`
	Provider       string        `json:"provider"`
	Recipient      string        `json:"recipient"`
	Number         int           `json:"number"`
	OK             bool          `json:"ok"`
	Error          string        `json:"error,omitempty"`
	ExternalID     string        `json:"external_id,omitempty"`
	Latency        time.Duration `json:"latency"`
	At             time.Time     `json:"at"`
}

// InAppMessage is one entry of a supplier's in-app inbox.
type InAppMessage struct {
	ID             string          `json:"id"`
	SupplierID     string          `json:"supplier_id"`
	NotificationID string          `json:"notification_id"`
	Event          string          `json:"event"`
	Category       Category        `json:"category"`
	Priority       Priority        `json:"priority"`
	Title          string          `json:"title"`
	Body           string          `json:"body"`
	URL            string          `json:"url,omitempty"`
	Data           json.RawMessage `json:"data,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	ReadAt         time.Time       `json:"read_at,omitzero"`
}

// PushKind says which push service a subscription belongs to.
type PushKind string

// Push kinds.
const (
	// PushWeb is a browser's Web Push subscription (RFC 8030/8291/8292).
	PushWeb PushKind = "webpush"
	// PushFCM is a Firebase Cloud Messaging registration token.
	PushFCM PushKind = "fcm"
)

// PushSubscription is one device or browser of a supplier.
type PushSubscription struct {
	// ID is set by AddPushSubscription ("psub_...").
	ID         string   `json:"id"`
	SupplierID string   `json:"supplier_id"`
	Kind       PushKind `json:"kind"`
	// Endpoint is the Web Push endpoint URL (PushWeb).
	Endpoint string `json:"endpoint,omitempty"`
	// P256DH and Auth are the browser's keys (base64url, PushWeb). They are
	// encrypted at rest.
	P256DH string `json:"p256dh,omitempty"`
	Auth   string `json:"auth,omitempty"`
	// Token is the FCM registration token (PushFCM); encrypted at rest.
	Token     string    `json:"token,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// DeadAt is when the push service said the subscription is gone (404
	// or 410); a dead subscription is not used again.
	DeadAt time.Time `json:"dead_at,omitzero"`
}
