package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/notify/smtp"
	"github.com/wedsync/integrations/notify/smtp/smtptest"
	"github.com/wedsync/integrations/notify/twilio"
	"github.com/wedsync/integrations/notify/webpush"
	"github.com/wedsync/integrations/realtime"
)

// The demo's notifications (package notify): everything runs in this
// process. Email goes to the demo's own SMTP server (smtptest, a real SMTP
// server on loopback), SMS to a fake Twilio on loopback, push through a Web
// Push provider to nobody (no browser has subscribed, so push fails with
// "no live push subscription"), and in-app messages to the supplier's
// dashboards through the realtime hub.

// notifyEscalation is the demo's escalation delay (the package default is
// 5 minutes; 10 s is its minimum): a critical notification not acknowledged
// goes out on the next channel after this long.
const notifyEscalation = 15 * time.Second

// notifyFrom is the sender of the demo's email.
const notifyFrom = "notifications@wedsync.example"

// Events the realtime hub carries to the dashboards for the notification
// panel.
const (
	eventNotifyStatus = "notify.status"
	eventNotifyInApp  = "notify.inapp"
)

// photographerSupplier is the second sample supplier: reachable through the
// API (supplier=sup_demo_photographer), to show a vendor-type variant.
const photographerSupplier = "sup_demo_photographer"

// directory is the host's supplier profiles: the contact details each
// notification carries. The page shows the first one.
var directory = map[string]notify.Recipient{
	demoSupplier: {SupplierID: demoSupplier, VendorType: notify.VendorFlorist, Name: "Fern & Bloom",
		Email: "hello@fernandbloom.example", Phone: "+447700900123", TimeZone: "Europe/London", Locale: "en-GB"},
	photographerSupplier: {SupplierID: photographerSupplier, VendorType: notify.VendorPhotographer, Name: "Lens & Light",
		Email: "studio@lensandlight.example", Phone: "+447700900456", TimeZone: "Europe/London", Locale: "en-GB"},
}

// demoEvents are the events the demo registers, for the test form.
var demoEvents = []string{"booking.confirmed", "payment.failed", "ceremony.moved"}

// demoTemplates registers the demo's events and their templates: a default
// on each channel, and vendor-type variants of booking.confirmed.
func demoTemplates() (*notify.Templates, error) {
	ts := notify.NewTemplates()
	all := []notify.Channel{notify.ChannelEmail, notify.ChannelSMS, notify.ChannelPush, notify.ChannelInApp}
	for _, e := range []notify.EventSpec{
		{Name: "booking.confirmed", Category: notify.CategoryBooking, Variables: []string{"couple_name", "wedding_date", "booking_id"},
			Optional: []string{"note"}, Channels: all},
		{Name: "payment.failed", Category: notify.CategoryPayment, Variables: []string{"couple_name", "booking_id", "amount", "reason"},
			Channels: all},
		{Name: "ceremony.moved", Category: notify.CategoryTimeline, Variables: []string{"couple_name", "wedding_date", "venue", "old_time", "new_time"},
			Channels: all},
	} {
		if err := ts.AddEvent(e); err != nil {
			return nil, err
		}
	}
	const footer = "\n\n-- \nWedSync: {{.url}}\nChange what you are told, and how, in your notification preferences."
	const htmlFooter = `<p style="color:#777;font-size:12px">WedSync &middot; <a href="{{.url}}">open the dashboard</a> &middot; change your notification preferences there</p>`
	for _, t := range []notify.Template{
		// booking.confirmed
		{Event: "booking.confirmed", Channel: notify.ChannelEmail,
			Subject: "Booking confirmed: {{.couple_name}}, {{.wedding_date}}",
			Text:    "Hi {{.recipient_name}},\n\n{{.couple_name}} confirmed booking {{.booking_id}} for their wedding on {{.wedding_date}}.{{with .note}}\n\nTheir note: {{.}}{{end}}" + footer,
			HTML:    "<p>Hi {{.recipient_name}},</p><p><strong>{{.couple_name}}</strong> confirmed booking {{.booking_id}} for their wedding on {{.wedding_date}}.</p>{{with .note}}<blockquote>{{.}}</blockquote>{{end}}" + htmlFooter},
		{Event: "booking.confirmed", Channel: notify.ChannelEmail, VendorType: notify.VendorFlorist,
			Subject: "New flowers booking: {{.couple_name}}, {{.wedding_date}}",
			Text:    "Hi {{.recipient_name}},\n\n{{.couple_name}} booked your flowers (booking {{.booking_id}}) for {{.wedding_date}}. Time to plan the bouquets and order the stems.{{with .note}}\n\nTheir note: {{.}}{{end}}" + footer,
			HTML:    "<p>Hi {{.recipient_name}},</p><p><strong>{{.couple_name}}</strong> booked your flowers (booking {{.booking_id}}) for {{.wedding_date}}. Time to plan the bouquets and order the stems.</p>{{with .note}}<blockquote>{{.}}</blockquote>{{end}}" + htmlFooter},
		{Event: "booking.confirmed", Channel: notify.ChannelEmail, VendorType: notify.VendorPhotographer,
			Subject: "Shoot booked: {{.couple_name}}, {{.wedding_date}}",
			Text:    "Hi {{.recipient_name}},\n\n{{.couple_name}} booked you to photograph their wedding on {{.wedding_date}} (booking {{.booking_id}}). Send them your shot-list questionnaire.{{with .note}}\n\nTheir note: {{.}}{{end}}" + footer,
			HTML:    "<p>Hi {{.recipient_name}},</p><p><strong>{{.couple_name}}</strong> booked you to photograph their wedding on {{.wedding_date}} (booking {{.booking_id}}). Send them your shot-list questionnaire.</p>{{with .note}}<blockquote>{{.}}</blockquote>{{end}}" + htmlFooter},
		{Event: "booking.confirmed", Channel: notify.ChannelSMS,
			Text: "WedSync: {{.couple_name}} confirmed booking {{.booking_id}} for {{.wedding_date}}."},
		{Event: "booking.confirmed", Channel: notify.ChannelSMS, VendorType: notify.VendorPhotographer,
			Text: "WedSync: shoot booked! {{.couple_name}}, {{.wedding_date}} ({{.booking_id}})."},
		{Event: "booking.confirmed", Channel: notify.ChannelPush,
			Subject: "Booking confirmed", Text: "{{.couple_name}}, {{.wedding_date}}"},
		{Event: "booking.confirmed", Channel: notify.ChannelInApp,
			Subject: "Booking confirmed: {{.couple_name}}", Text: "Wedding on {{.wedding_date}} (booking {{.booking_id}})."},
		// payment.failed
		{Event: "payment.failed", Channel: notify.ChannelEmail,
			Subject: "Payment failed: {{.amount}} from {{.couple_name}}",
			Text:    "Hi {{.recipient_name}},\n\nThe payment of {{.amount}} for booking {{.booking_id}} ({{.couple_name}}) failed: {{.reason}}.\nAsk the couple to pay again, or take the payment another way." + footer,
			HTML:    "<p>Hi {{.recipient_name}},</p><p>The payment of <strong>{{.amount}}</strong> for booking {{.booking_id}} ({{.couple_name}}) failed: {{.reason}}.</p><p>Ask the couple to pay again, or take the payment another way.</p>" + htmlFooter},
		{Event: "payment.failed", Channel: notify.ChannelSMS,
			Text: "WedSync: payment of {{.amount}} from {{.couple_name}} failed ({{.reason}})."},
		{Event: "payment.failed", Channel: notify.ChannelPush,
			Subject: "Payment failed", Text: "{{.amount}} from {{.couple_name}}: {{.reason}}"},
		{Event: "payment.failed", Channel: notify.ChannelInApp,
			Subject: "Payment failed: {{.amount}}", Text: "{{.couple_name}}, booking {{.booking_id}}: {{.reason}}."},
		// ceremony.moved
		{Event: "ceremony.moved", Channel: notify.ChannelEmail,
			Subject: "Ceremony moved to {{.new_time}}: {{.couple_name}}, {{.wedding_date}}",
			Text:    "Hi {{.recipient_name}},\n\nThe ceremony of {{.couple_name}} at {{.venue}} on {{.wedding_date}} moved from {{.old_time}} to {{.new_time}}. Check your set-up and delivery times." + footer,
			HTML:    "<p>Hi {{.recipient_name}},</p><p>The ceremony of <strong>{{.couple_name}}</strong> at {{.venue}} on {{.wedding_date}} moved from {{.old_time}} to <strong>{{.new_time}}</strong>.</p><p>Check your set-up and delivery times.</p>" + htmlFooter},
		{Event: "ceremony.moved", Channel: notify.ChannelSMS,
			Text: "WedSync: {{.couple_name}}'s ceremony ({{.wedding_date}}, {{.venue}}) moved from {{.old_time}} to {{.new_time}}."},
		{Event: "ceremony.moved", Channel: notify.ChannelPush,
			Subject: "Ceremony moved to {{.new_time}}", Text: "{{.couple_name}} at {{.venue}}, {{.wedding_date}}"},
		{Event: "ceremony.moved", Channel: notify.ChannelInApp,
			Subject: "Ceremony moved to {{.new_time}}", Text: "{{.couple_name}} at {{.venue}} on {{.wedding_date}} (was {{.old_time}})."},
	} {
		if err := ts.Add(t); err != nil {
			return nil, err
		}
	}
	return ts, nil
}

// sampleNotification is a test notification of event for r, with sample
// data. ceremony.moved is about a wedding today in the supplier's time
// zone, so that with the default priority the notifier makes it critical.
func sampleNotification(event string, r notify.Recipient, now time.Time, pageURL string) notify.Notification {
	nt := notify.Notification{Event: event, Recipient: r, URL: pageURL}
	switch event {
	case "booking.confirmed":
		nt.Data = map[string]any{"couple_name": "Alex & Sam", "wedding_date": "2027-05-01", "booking_id": "bk_1001",
			"note": "Could the bouquet have white peonies?"}
		nt.WeddingDate = "2027-05-01"
	case "payment.failed":
		nt.Data = map[string]any{"couple_name": "Priya & Jordan", "booking_id": "bk_1002", "amount": "GBP 450.00",
			"reason": "the card was declined"}
	case "ceremony.moved":
		loc, err := time.LoadLocation(r.TimeZone)
		if err != nil {
			loc = time.UTC
		}
		today := now.In(loc).Format(time.DateOnly)
		nt.Data = map[string]any{"couple_name": "Alex & Sam", "wedding_date": today, "venue": "Kew Gardens",
			"old_time": "14:00", "new_time": "15:30"}
		nt.WeddingDate = today
	}
	return nt
}

// demoPreferences are the preferences stored for a sample supplier at
// start-up: the vendor type's defaults without quiet hours, so that the
// demo sends at any hour (the defaults hold everything from 22:00 to
// 07:00). The panel switches quiet hours on.
func demoPreferences(vendorType string) notify.Preferences {
	p := notify.DefaultPreferences(vendorType)
	p.QuietHours = nil
	return p
}

// notifySide is the demo's notifier and the servers it sends to.
type notifySide struct {
	n       *notify.Notifier
	mail    *smtptest.Server
	sms     *fakeTwilio
	hub     *realtime.Hub
	out     *console
	pageURL string
	onEvent func(notify.NotificationStatus) // test hook

	mu    sync.Mutex
	seen  map[string]map[notify.Channel]notify.ChannelStatus // notification -> what the console last showed
	order []string                                           // notifications of seen, oldest first
}

// maxSeen bounds what the console remembers of notifications.
const maxSeen = 1000

// startNotify starts the SMTP server, the fake Twilio and the notifier, and
// stores the sample suppliers' preferences. With a pool it runs in Postgres
// mode (notify.Migrate, encKey seals push subscriptions at rest).
func startNotify(ctx context.Context, pool *pgxpool.Pool, encKey []byte, hub *realtime.Hub, out *console, logger *slog.Logger,
	pageURL string, onStatus func(notify.NotificationStatus)) (_ *notifySide, err error) {
	s := &notifySide{hub: hub, out: out, pageURL: pageURL, onEvent: onStatus, seen: map[string]map[notify.Channel]notify.ChannelStatus{}}
	if s.mail, err = smtptest.Start(smtptest.WithAddr("127.0.0.1:0"), smtptest.WithDomain("mail.wedsync-demo.local")); err != nil {
		return nil, fmt.Errorf("the demo's SMTP server: %w", err)
	}
	if s.sms, err = startFakeTwilio(out); err != nil {
		return nil, errors.Join(err, s.mail.Close())
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.closeServers(context.WithoutCancel(ctx)))
		}
	}()
	ts, err := demoTemplates()
	if err != nil {
		return nil, fmt.Errorf("notification templates: %w", err)
	}
	email, err := smtp.New(s.mail.Host(), s.mail.Port(), smtp.WithTLS(smtp.NoTLS), smtp.WithFrom(notifyFrom, "WedSync"))
	if err != nil {
		return nil, err
	}
	text, err := twilio.New(s.sms.accountSID, s.sms.authToken, twilio.WithFrom(fakeTwilioFrom), twilio.WithBaseURL(s.sms.base),
		twilio.WithHTTPClient(s.sms.client()))
	if err != nil {
		return nil, err
	}
	// A fresh VAPID key pair each run: no browser subscribes in this demo,
	// so the push channel fails with "no live push subscription", as it
	// does for a supplier who never allowed notifications.
	pub, priv, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		return nil, err
	}
	push, err := webpush.New(pub, priv, "mailto:"+notifyFrom)
	if err != nil {
		return nil, err
	}
	opts := []notify.Option{
		notify.WithTemplates(ts),
		notify.WithProvider(email), notify.WithProvider(text), notify.WithProvider(push),
		notify.WithRetrySchedule(demoSchedule...),
		notify.WithEscalationDelay(notifyEscalation),
		notify.WithLogger(logger),
		notify.WithInAppHandler(s.inApp),
		notify.WithStatusHook(s.status),
		notify.WithUnsubscribeURL(func(notify.Recipient, notify.Category) string { return pageURL }),
	}
	if pool != nil {
		if err := notify.Migrate(ctx, pool); err != nil {
			return nil, fmt.Errorf("migrate notify: %w", err)
		}
		opts = append(opts, notify.WithPostgres(pool), notify.WithEncryptionKey(encKey))
	}
	if s.n, err = notify.NewNotifier(opts...); err != nil {
		return nil, err
	}
	for _, id := range slices.Sorted(maps.Keys(directory)) {
		if err := s.n.SetPreferences(ctx, id, demoPreferences(directory[id].VendorType)); err != nil {
			return nil, fmt.Errorf("preferences of %s: %w", id, err)
		}
	}
	if err := s.n.Start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// stop stops the notifier (running sends finish, or are cut when ctx
// ends), then the servers it was sending to.
func (s *notifySide) stop(ctx context.Context) error {
	var errs []error
	if err := s.n.Stop(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop notifications: %w", err))
	}
	return errors.Join(append(errs, s.closeServers(ctx))...)
}

func (s *notifySide) closeServers(ctx context.Context) error {
	var errs []error
	if err := s.mail.Close(); err != nil {
		errs = append(errs, fmt.Errorf("the demo's SMTP server: %w", err))
	}
	if err := s.sms.close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("the fake Twilio: %w", err))
	}
	return errors.Join(errs...)
}

// send sends a test notification of event to supplier, as the host would
// when the event happens.
func (s *notifySide) send(ctx context.Context, event string, priority notify.Priority, supplier string) (notify.Receipt, error) {
	r, ok := directory[supplier]
	if !ok {
		return notify.Receipt{}, unknownSupplier()
	}
	nt := sampleNotification(event, r, time.Now(), s.pageURL)
	nt.Priority = priority
	return s.n.Send(ctx, nt)
}

func unknownSupplier() error {
	known := slices.Sorted(maps.Keys(directory))
	return badRequest("supplier", "is not one of the demo's suppliers (%s)", strings.Join(known, ", "))
}

// inApp shows a new in-app message live: a notify.inapp broadcast on the
// supplier's topic.
func (s *notifySide) inApp(ctx context.Context, m notify.InAppMessage) {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	payload := map[string]any{"id": m.ID, "notification_id": m.NotificationID, "event": m.Event, "priority": m.Priority,
		"title": m.Title, "body": m.Body, "created_at": m.CreatedAt}
	if _, err := s.hub.Broadcast(bctx, realtime.SupplierTopic(m.SupplierID), eventNotifyInApp, payload); err != nil &&
		!errors.Is(err, realtime.ErrHubClosed) {
		s.out.printf("NOTIFY     could not broadcast in-app message %s: %v", m.ID, err)
	}
}

// status is the notifier's status hook: it prints what changed and tells
// the supplier's dashboards, which reload their notification panel.
func (s *notifySide) status(st notify.NotificationStatus) {
	s.print(st)
	bctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	chans := map[string]string{}
	for _, c := range st.Channels {
		chans[string(c.Channel)] = string(c.Status)
	}
	payload := map[string]any{"id": st.ID, "event": st.Event, "priority": st.Priority, "channels": chans,
		"acknowledged": !st.AcknowledgedAt.IsZero()}
	if _, err := s.hub.Broadcast(bctx, realtime.SupplierTopic(st.SupplierID), eventNotifyStatus, payload); err != nil &&
		!errors.Is(err, realtime.ErrHubClosed) {
		s.out.printf("NOTIFY     could not broadcast the status of %s: %v", st.ID, err)
	}
	if s.onEvent != nil {
		s.onEvent(st)
	}
}

// print writes a console line for each channel whose status changed.
func (s *notifySide) print(st notify.NotificationStatus) {
	s.mu.Lock()
	prev, ok := s.seen[st.ID]
	first := !ok && len(st.Channels) > 0
	if !ok {
		prev = map[notify.Channel]notify.ChannelStatus{}
		s.seen[st.ID] = prev
		s.order = append(s.order, st.ID)
		if len(s.order) > maxSeen {
			delete(s.seen, s.order[0])
			s.order = s.order[1:]
		}
	}
	var changed []notify.ChannelStatus
	var was []notify.ChannelStatus
	for _, c := range st.Channels {
		p := prev[c.Channel]
		if p.Status != c.Status || !p.NotBefore.Equal(c.NotBefore) || p.Error != c.Error {
			changed = append(changed, c)
			was = append(was, p)
			prev[c.Channel] = c
		}
	}
	s.mu.Unlock()

	tz := directory[st.SupplierID].TimeZone
	if first {
		chs := make([]string, len(st.Channels))
		for i, c := range st.Channels {
			chs[i] = string(c.Channel)
		}
		s.out.printf("%-17s %-17s %s for %s, %s priority: %s", "NOTIFY", st.Event, st.ID, st.SupplierID, st.Priority, strings.Join(chs, ", "))
	}
	line := func(what string, c notify.ChannelStatus, format string, args ...any) {
		s.out.printf("%-17s %-17s %s %s"+format, append([]any{"NOTIFY " + what, st.Event, st.ID, c.Channel}, args...)...)
	}
	for i, c := range changed {
		p := was[i]
		switch c.Status {
		case notify.StatusSent:
			switch c.Channel {
			case notify.ChannelEmail:
				s.mailLine(c.ExternalID)
				line("SENT", c, " through %s, Message-ID %s", c.Provider, c.ExternalID)
			case notify.ChannelInApp:
				line("SENT", c, ": in the inbox, and broadcast to the supplier's dashboards")
			default:
				line("SENT", c, " through %s (id %s)", c.Provider, c.ExternalID)
			}
		case notify.StatusDelivered:
			line("DELIVERED", c, ": %s reported delivery", c.Provider)
		case notify.StatusFailed:
			line("FAILED", c, ": %s", humanError(c.Channel, c.Error))
		case notify.StatusSuppressed:
			line("SUPPRESSED", c, ": %s", humanError(c.Channel, c.Error))
		case notify.StatusDeferred:
			line("DEFERRED", c, ": quiet hours; goes out at %s", localTime(c.NotBefore, tz))
		case notify.StatusDigested:
			when := ""
			if !c.NotBefore.IsZero() {
				when = ", which goes out at " + localTime(c.NotBefore, tz)
			}
			line("DIGESTED", c, ": batched into the %s digest%s", st.Category, when)
		case notify.StatusAcknowledged:
			line("ACKNOWLEDGED", c, ": not sent, the supplier acknowledged the notification first")
		case notify.StatusQueued:
			switch {
			case !p.NotBefore.IsZero() && c.NotBefore.IsZero() && st.Priority == notify.PriorityCritical && p.Error == "":
				if time.Now().Before(p.NotBefore) {
					line("ESCALATED", c, ": the channel before it failed and nothing else reached the supplier, so it goes out on %s now", c.Channel)
				} else {
					line("ESCALATED", c, ": not acknowledged within %s, so it goes out on %s now", notifyEscalation, c.Channel)
				}
			case !c.NotBefore.IsZero() && c.Error != "":
				line("RETRY", c, " at %s: %s", localTime(c.NotBefore, tz), humanError(c.Channel, c.Error))
			case !c.NotBefore.IsZero() && st.Priority == notify.PriorityCritical:
				line("WAITING", c, ": escalates to it at %s unless acknowledged", localTime(c.NotBefore, tz))
			}
		}
	}
}

// mailLine prints what the demo's SMTP server received for the message
// with this Message-ID (the email provider's ExternalID).
func (s *notifySide) mailLine(messageID string) {
	msgs := s.mail.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m.Header.Get("Message-Id") != messageID {
			continue
		}
		p, err := smtptest.Parse(m)
		if err != nil {
			s.out.printf("MAIL       received a message the demo cannot parse: %v", err)
			return
		}
		s.out.printf("MAIL       the demo's SMTP server received %q for %s (%s, %d bytes)", p.Subject, strings.Join(m.To, ", "),
			strings.Join(p.ContentTypes(), " + "), len(m.Data))
		return
	}
}

// localTime formats t in the supplier's time zone, with the date when it is
// not today there.
func localTime(t time.Time, tz string) string {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	if lt.Format(time.DateOnly) == time.Now().In(loc).Format(time.DateOnly) {
		return lt.Format("15:04:05") + " " + tz
	}
	return lt.Format("Mon 2 Jan 15:04") + " " + tz
}

// humanError turns a channel's error into what a supplier (or an operator
// reading the console) wants to read.
func humanError(ch notify.Channel, e string) string {
	s := e
	for {
		t := strings.TrimPrefix(s, "notify: ")
		if t == s {
			break
		}
		s = t
	}
	switch {
	case strings.Contains(s, "no live push subscription"):
		return "no live push subscription: this supplier has not allowed notifications in a browser or the app yet"
	case strings.Contains(s, "every push subscription was refused"):
		return "every device of this supplier refused the push message or has unsubscribed"
	case strings.HasPrefix(s, "no provider is configured"):
		return "this server has no " + string(ch) + " provider configured"
	case strings.HasPrefix(s, "recipient.email: "):
		return "the supplier's email address " + strings.TrimPrefix(s, "recipient.email: ")
	case strings.HasPrefix(s, "recipient.phone: "):
		return "the supplier's phone number " + strings.TrimPrefix(s, "recipient.phone: ")
	}
	return s
}

// Wire formats of the notification API.

// prefsJSON is notify.Preferences with digests as durations people write
// ("1h", "24h", "" for none) instead of nanoseconds.
type prefsJSON struct {
	Muted      bool                             `json:"muted"`
	Categories map[notify.Category]catPrefsJSON `json:"categories"`
	Default    catPrefsJSON                     `json:"default"`
	Escalation []notify.Channel                 `json:"escalation"`
	QuietHours []notify.QuietWindow             `json:"quiet_hours"`
}

type catPrefsJSON struct {
	Channels map[notify.Channel]bool `json:"channels"`
	// Digest is a Go duration ("1h", "24h"); "" sends each item at once.
	Digest string `json:"digest"`
}

func toPrefsJSON(p notify.Preferences) prefsJSON {
	cat := func(c notify.CategoryPreferences) catPrefsJSON {
		chs := c.Channels
		if chs == nil {
			chs = map[notify.Channel]bool{}
		}
		return catPrefsJSON{Channels: chs, Digest: shortDuration(c.Digest)}
	}
	out := prefsJSON{Muted: p.Muted, Categories: map[notify.Category]catPrefsJSON{}, Default: cat(p.Default),
		Escalation: p.Escalation, QuietHours: p.QuietHours}
	for k, c := range p.Categories {
		out.Categories[k] = cat(c)
	}
	if out.Escalation == nil {
		out.Escalation = []notify.Channel{}
	}
	if out.QuietHours == nil {
		out.QuietHours = []notify.QuietWindow{}
	}
	return out
}

func fromPrefsJSON(in prefsJSON) (notify.Preferences, error) {
	cat := func(field string, c catPrefsJSON) (notify.CategoryPreferences, error) {
		out := notify.CategoryPreferences{Channels: c.Channels}
		if c.Digest != "" && c.Digest != "0" {
			d, err := time.ParseDuration(c.Digest)
			if err != nil {
				return out, badRequest(field+".digest", "must be a duration such as \"1h\" or \"24h\", or \"\" for no digest, got %q", truncate(c.Digest, 40))
			}
			out.Digest = d
		}
		return out, nil
	}
	p := notify.Preferences{Muted: in.Muted, Escalation: in.Escalation, QuietHours: in.QuietHours}
	var err error
	if p.Default, err = cat("default", in.Default); err != nil {
		return p, err
	}
	if len(in.Categories) > 0 {
		p.Categories = map[notify.Category]notify.CategoryPreferences{}
	}
	for _, k := range slices.Sorted(maps.Keys(in.Categories)) {
		if p.Categories[k], err = cat("categories."+string(k), in.Categories[k]); err != nil {
			return p, err
		}
	}
	return p, nil
}

// shortDuration writes 1h for 1h0m0s, 90m as 1h30m, 0 as "".
func shortDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

type channelJSON struct {
	notify.ChannelStatus
	// Reason says in words why the channel is where it is.
	Reason string `json:"reason,omitempty"`
}

type notificationJSON struct {
	notify.NotificationStatus
	Channels []channelJSON `json:"channels"`
	// CanAcknowledge is true for a critical notification not yet
	// acknowledged.
	CanAcknowledge bool `json:"can_acknowledge"`
}

func toNotificationJSON(st notify.NotificationStatus) notificationJSON {
	tz := directory[st.SupplierID].TimeZone
	if tz == "" {
		tz = "UTC"
	}
	out := notificationJSON{NotificationStatus: st, Channels: make([]channelJSON, 0, len(st.Channels)),
		CanAcknowledge: st.Priority == notify.PriorityCritical && st.AcknowledgedAt.IsZero()}
	for _, c := range st.Channels {
		cj := channelJSON{ChannelStatus: c}
		switch c.Status {
		case notify.StatusQueued:
			switch {
			case !c.NotBefore.IsZero() && c.Error != "":
				cj.Reason = "retry at " + localTime(c.NotBefore, tz) + " after: " + humanError(c.Channel, c.Error)
			case !c.NotBefore.IsZero():
				cj.Reason = "goes out at " + localTime(c.NotBefore, tz) + " unless acknowledged first"
			default:
				cj.Reason = "sending"
			}
		case notify.StatusSent:
			cj.Reason = "sent through " + c.Provider
			if c.Channel == notify.ChannelInApp {
				cj.Reason = "in the in-app inbox"
			}
		case notify.StatusDelivered:
			cj.Reason = c.Provider + " reported it delivered"
		case notify.StatusFailed, notify.StatusSuppressed:
			cj.Reason = humanError(c.Channel, c.Error)
		case notify.StatusDeferred:
			cj.Reason = "quiet hours: goes out at " + localTime(c.NotBefore, tz)
		case notify.StatusDigested:
			cj.Reason = "batched into the " + string(st.Category) + " digest"
			if !c.NotBefore.IsZero() {
				cj.Reason += ", which goes out at " + localTime(c.NotBefore, tz)
			}
		case notify.StatusAcknowledged:
			cj.Reason = "not sent: acknowledged before its turn"
		}
		out.Channels = append(out.Channels, cj)
	}
	return out
}

// supplierParam reads ?supplier= (default: the sample supplier).
func supplierParam(r *http.Request) (string, error) {
	return supplierOrDemo("supplier", r.URL.Query().Get("supplier"))
}

// supplierOrDemo checks the supplier id a request gave in field: empty
// means the sample supplier, anything else must match eventSupplierRe.
func supplierOrDemo(field, s string) (string, error) {
	if s == "" {
		return demoSupplier, nil
	}
	if !eventSupplierRe.MatchString(s) {
		return "", badRequest(field, "must be 1 to 128 characters of letters, digits and _.@-")
	}
	return s, nil
}
