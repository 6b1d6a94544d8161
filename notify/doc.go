// Package notify sends notifications to wedding suppliers by email, SMS,
// push and an in-app inbox, routed by each supplier's preferences, rendered
// from validated templates, and never lost: the notifying half of WedSync,
// which the WedSync backend embeds.
//
// A Notifier takes a Notification (an event, the supplier it is for, the
// event's data) and does the rest in durable jobs:
//
//   - Send and SendTx store the notification and queue its routing. SendTx
//     writes them in the host's own pgx.Tx (the transactional outbox): a
//     committed change always produces its notification, a rolled-back one
//     never does. An idempotency key returns the first notification for 24
//     hours and sends nothing new.
//   - Routing reads the supplier's Preferences (stored with SetPreferences,
//     or the defaults of the supplier's vendor type): a global switch,
//     channels per category, quiet hours as weekly windows in the supplier's
//     time zone, and digests that batch a category's normal items into one
//     message per window. Each channel gets a status (queued, sent,
//     delivered, failed, suppressed, deferred, digested, acknowledged) that
//     Status and List report.
//   - A critical notification (PriorityCritical, or the default for an item
//     about a wedding taking place today in the supplier's time zone)
//     bypasses quiet hours and digests, goes ahead of normal work in the
//     queue, and escalates: it goes out on the first channel of the
//     supplier's escalation order (push, then SMS, then email by default),
//     and on the next one each time WithEscalationDelay passes without an
//     Acknowledge (or a MarkRead of its in-app message).
//   - Each channel has providers (Provider: notify/smtp, notify/twilio,
//     notify/webpush, notify/fcm, or the host's own), tried in order: when
//     one fails or its circuit breaker is open, the next takes over
//     (failover). When all fail, the channel is retried with backoff;
//     a provider's Retry-After is honoured. Every provider call is in the
//     attempt log (Attempts) with the recipient masked. A rate limit per
//     provider holds calls without counting them as failures.
//   - A bad recipient (a malformed email address, a phone number that is not
//     E.164, a supplier without a live push subscription) fails its channel
//     with an error that names the field, and the other channels still go.
//     A push subscription the push service calls gone is marked dead; the
//     push channel fails when no subscription took the message.
//   - In-app messages are stored (InApp, UnreadCount, MarkRead) and handed to
//     WithInAppHandler, so the host can show them live through the realtime
//     package; notify does not import realtime.
//
// Templates are registered per event and channel, with vendor-type and
// locale variants that fall back to a default. They are checked when they
// are registered: a template that uses a variable its event does not
// declare, or an event without a default variant on one of its channels, is
// an error at start-up, not at send time. Preview renders a notification
// without sending it and reports an SMS's encoding and segment count.
//
// In Postgres mode (WithPostgres; run Migrate first) notifications,
// statuses, preferences, push subscriptions (their keys encrypted at rest),
// digests, the inbox and the attempt log live in tables, and the jobs are
// River jobs in a schema of notify's own: they survive a crash of the host
// process and every host instance shares them. Without WithPostgres the
// notifier runs in memory mode, for demos and tests, and loses everything on
// exit.
//
// docs/notify.md in the repository covers wiring, preferences, templates,
// statuses and metrics.
package notify
