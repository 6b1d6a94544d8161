package notify_test

import (
	"fmt"

	"github.com/wedsync/integrations/notify"
)

func ExampleTemplates() {
	ts := notify.NewTemplates() // holds the digest event already
	err := ts.AddEvent(notify.EventSpec{
		Name:      "booking.confirmed",
		Category:  notify.CategoryBooking,
		Variables: []string{"couple_name", "wedding_date"},
		Optional:  []string{"note"},
		Channels:  []notify.Channel{notify.ChannelEmail, notify.ChannelSMS},
	})
	if err != nil {
		panic(err)
	}
	for _, tpl := range []notify.Template{{
		Event: "booking.confirmed", Channel: notify.ChannelEmail,
		Subject: "{{.couple_name}} booked you",
		Text:    "Hi {{.recipient_name}}, {{.couple_name}} booked you for {{.wedding_date}}.{{with .note}} {{.}}{{end}}",
		HTML:    "<p>Hi {{.recipient_name}}, {{.couple_name}} booked you for {{.wedding_date}}.</p>",
	}, {
		Event: "booking.confirmed", Channel: notify.ChannelSMS,
		Text: "{{.couple_name}} booked you for {{.wedding_date}}.",
	}, {
		Event: "booking.confirmed", Channel: notify.ChannelSMS, Locale: "fr",
		Text: "{{.couple_name}} vous a réservé pour le {{.wedding_date}}.",
	}} {
		if err := ts.Add(tpl); err != nil {
			panic(err)
		}
	}
	// A typo is caught when the template is added, not when it is sent.
	fmt.Println(ts.Add(notify.Template{Event: "booking.confirmed", Channel: notify.ChannelSMS, VendorType: "venue",
		Text: "{{.coupl_name}} booked the venue"}))
	if err := ts.Validate(); err != nil {
		panic(err)
	}

	data := map[string]any{"couple_name": "Ana & Ben", "wedding_date": "2026-06-20", "recipient_name": "Sam"}
	if err := ts.CheckData("booking.confirmed", data); err != nil {
		panic(err)
	}
	email, err := ts.Render("booking.confirmed", notify.ChannelEmail, "photographer", "en-GB", data)
	if err != nil {
		panic(err)
	}
	fmt.Println(email.Subject)
	fmt.Println(email.Text)
	fmt.Println(email.HTML)

	sms, err := ts.Render("booking.confirmed", notify.ChannelSMS, "photographer", "fr-CA", data)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s (%s, %d units, %d SMS, variant %q)\n", sms.Text, sms.SMS.Encoding, sms.SMS.Units, sms.SMS.Segments, sms.Locale)
	// Output:
	// notify: template booking.confirmed/sms/venue.text: {{.coupl_name}} is not a variable of event booking.confirmed
	// Ana & Ben booked you
	// Hi Sam, Ana & Ben booked you for 2026-06-20.
	// <p>Hi Sam, Ana &amp; Ben booked you for 2026-06-20.</p>
	// Ana & Ben vous a réservé pour le 2026-06-20. (GSM-7, 44 units, 1 SMS, variant "fr")
}
