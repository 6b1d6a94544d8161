package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/wedsync/integrations/notify"
)

// printer is a provider that prints what it is asked to send instead of
// sending it; a host plugs in notify/smtp, notify/twilio and the push
// providers, or its own.
type printer struct{ ch notify.Channel }

func (p printer) Name() string            { return "printer-" + string(p.ch) }
func (p printer) Channel() notify.Channel { return p.ch }

func (p printer) Send(_ context.Context, m *notify.Message) (notify.Result, error) {
	if m.Subject != "" {
		fmt.Printf("%s to %s: %s | %s\n", m.Channel, m.To, m.Subject, m.Text)
	} else {
		fmt.Printf("%s to %s: %s\n", m.Channel, m.To, m.Text)
	}
	return notify.Result{ExternalID: "msg-1"}, nil
}

// enquiryTemplates declares one event with an email and an in-app template.
func enquiryTemplates() *notify.Templates {
	ts := notify.NewTemplates()
	if err := ts.AddEvent(notify.EventSpec{
		Name:      "enquiry.received",
		Category:  notify.CategoryEnquiry,
		Variables: []string{"couple_name", "wedding_date"},
		Channels:  []notify.Channel{notify.ChannelEmail, notify.ChannelInApp},
	}); err != nil {
		panic(err)
	}
	for _, ch := range []notify.Channel{notify.ChannelEmail, notify.ChannelInApp} {
		if err := ts.Add(notify.Template{
			Event: "enquiry.received", Channel: ch,
			Subject: "New enquiry from {{.couple_name}}",
			Text:    "Hi {{.recipient_name}}, {{.couple_name}} asked about {{.wedding_date}}.",
		}); err != nil {
			panic(err)
		}
	}
	return ts
}

// A memory-mode notifier sending one enquiry by email and to the in-app
// inbox.
func ExampleNotifier() {
	ctx := context.Background()
	n, err := notify.NewNotifier(
		notify.WithTemplates(enquiryTemplates()),
		notify.WithProvider(printer{notify.ChannelEmail}),
		notify.WithInAppHandler(func(_ context.Context, m notify.InAppMessage) {
			// A host broadcasts m on the supplier's realtime topic here.
		}),
	)
	if err != nil {
		panic(err)
	}
	if err := n.Start(ctx); err != nil {
		panic(err)
	}
	defer func() { _ = n.Stop(ctx) }()

	// Explicit preferences: the defaults' quiet hours (22:00 to 07:00)
	// would hold the email until the morning when this runs at night.
	err = n.SetPreferences(ctx, "sup_florist", notify.Preferences{
		Default: notify.CategoryPreferences{Channels: map[notify.Channel]bool{
			notify.ChannelEmail: true, notify.ChannelInApp: true,
		}},
	})
	if err != nil {
		panic(err)
	}

	receipt, err := n.Send(ctx, notify.Notification{
		Event: "enquiry.received",
		Recipient: notify.Recipient{
			SupplierID: "sup_florist", VendorType: notify.VendorFlorist, Name: "Maya",
			Email: "maya@florist.example", TimeZone: "Europe/London",
		},
		Data:           map[string]any{"couple_name": "Ana & Ben", "wedding_date": "2027-05-01"},
		IdempotencyKey: "enquiry:enq_42",
	})
	if err != nil {
		panic(err)
	}
	if err := n.WaitIdle(ctx); err != nil { // memory mode: wait for the jobs
		panic(err)
	}

	st, err := n.Status(ctx, receipt.ID)
	if err != nil {
		panic(err)
	}
	for _, c := range st.Channels {
		fmt.Printf("%s: %s by %s, %d attempt(s)\n", c.Channel, c.Status, c.Provider, c.Attempts)
	}
	attempts, _ := n.Attempts(ctx, receipt.ID) // recipients masked
	for _, a := range attempts {
		if a.Channel == notify.ChannelEmail {
			fmt.Printf("attempt %d: %s via %s ok=%t\n", a.Number, a.Recipient, a.Provider, a.OK)
		}
	}
	unread, _ := n.UnreadCount(ctx, "sup_florist")
	fmt.Println("unread in-app messages:", unread)

	again, _ := n.Send(ctx, notify.Notification{ // the same key: nothing new is sent
		Event:          "enquiry.received",
		Recipient:      notify.Recipient{SupplierID: "sup_florist"},
		Data:           map[string]any{"couple_name": "Ana & Ben", "wedding_date": "2027-05-01"},
		IdempotencyKey: "enquiry:enq_42",
	})
	fmt.Println("duplicate:", again.Duplicate, again.ID == receipt.ID)
	// Output:
	// email to maya@florist.example: New enquiry from Ana & Ben | Hi Maya, Ana & Ben asked about 2027-05-01.
	// email: sent by printer-email, 1 attempt(s)
	// in_app: sent by inapp, 1 attempt(s)
	// attempt 1: m***@f***.example via printer-email ok=true
	// unread in-app messages: 1
	// duplicate: true true
}

// A supplier turns email off for enquiries and keeps quiet hours: an
// enquiry at 23:30 goes to the inbox at once and waits for 07:00 on the
// other channels. A fake clock shows the night pass.
func ExampleNotifier_SetPreferences() {
	ctx := context.Background()
	london, _ := time.LoadLocation("Europe/London")
	clock := clockwork.NewFakeClockAt(time.Date(2026, 6, 12, 23, 30, 0, 0, london))

	ts := notify.NewTemplates()
	_ = ts.AddEvent(notify.EventSpec{
		Name: "enquiry.received", Category: notify.CategoryEnquiry,
		Variables: []string{"couple_name"},
		Channels:  []notify.Channel{notify.ChannelSMS, notify.ChannelEmail, notify.ChannelInApp},
	})
	_ = ts.Add(notify.Template{Event: "enquiry.received", Channel: notify.ChannelSMS, Text: "Enquiry from {{.couple_name}}"})
	for _, ch := range []notify.Channel{notify.ChannelEmail, notify.ChannelInApp} {
		_ = ts.Add(notify.Template{Event: "enquiry.received", Channel: ch, Subject: "New enquiry", Text: "From {{.couple_name}}"})
	}
	n, err := notify.NewNotifier(
		notify.WithTemplates(ts),
		notify.WithClock(clock),
		notify.WithProvider(printer{notify.ChannelSMS}),
		notify.WithProvider(printer{notify.ChannelEmail}),
	)
	if err != nil {
		panic(err)
	}
	if err := n.Start(ctx); err != nil {
		panic(err)
	}
	defer func() { _ = n.Stop(ctx) }()

	prefs := notify.DefaultPreferences(notify.VendorPhotographer)
	prefs.Categories[notify.CategoryEnquiry] = notify.CategoryPreferences{
		Channels: map[notify.Channel]bool{notify.ChannelSMS: true, notify.ChannelInApp: true}, // email off
	}
	prefs.QuietHours = []notify.QuietWindow{{Start: "22:00", End: "07:00"}}
	if err := n.SetPreferences(ctx, "sup_photo", prefs); err != nil {
		panic(err)
	}

	// Preferences are checked before they are stored.
	bad := prefs
	bad.QuietHours = []notify.QuietWindow{{Start: "22:00", End: "7am"}}
	fmt.Println(n.SetPreferences(ctx, "sup_photo", bad))

	// The JSON shape a settings page reads and writes (digest in nanoseconds).
	js, _ := json.Marshal(notify.Preferences{
		Default:    notify.CategoryPreferences{Channels: map[notify.Channel]bool{notify.ChannelEmail: true}, Digest: time.Hour},
		QuietHours: []notify.QuietWindow{{Days: []time.Weekday{time.Saturday}, Start: "08:00", End: "12:00"}},
	})
	fmt.Println(string(js))

	receipt, err := n.Send(ctx, notify.Notification{
		Event: "enquiry.received",
		Recipient: notify.Recipient{
			SupplierID: "sup_photo", VendorType: notify.VendorPhotographer,
			Email: "sam@photo.example", Phone: "+447400123456", TimeZone: "Europe/London",
		},
		Data: map[string]any{"couple_name": "Ana & Ben"},
	})
	if err != nil {
		panic(err)
	}
	show := func() {
		if err := n.WaitIdle(ctx); err != nil {
			panic(err)
		}
		st, _ := n.Status(ctx, receipt.ID)
		for _, c := range st.Channels {
			line := fmt.Sprintf("  %s: %s", c.Channel, c.Status)
			if !c.NotBefore.IsZero() {
				line += " until " + c.NotBefore.In(london).Format("15:04")
			}
			if c.Status == notify.StatusSuppressed {
				line += " (" + c.Error + ")"
			}
			fmt.Println(line)
		}
	}
	fmt.Println("at 23:30:")
	show()
	clock.Advance(7*time.Hour + 30*time.Minute)
	fmt.Println("at 07:00:")
	show()
	// Output:
	// notify: quiet_hours[0].end: must be a time from 00:00 to 24:00 (HH:MM), got "7am"
	// {"muted":false,"default":{"channels":{"email":true},"digest":3600000000000},"quiet_hours":[{"days":[6],"start":"08:00","end":"12:00"}]}
	// at 23:30:
	//   sms: deferred until 07:00
	//   email: suppressed (the supplier turned email off for enquiry)
	//   in_app: sent
	// at 07:00:
	// sms to +447400123456: Enquiry from Ana & Ben
	//   sms: sent
	//   email: suppressed (the supplier turned email off for enquiry)
	//   in_app: sent
}
