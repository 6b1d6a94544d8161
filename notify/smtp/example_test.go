package smtp_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/notify/smtp"
	"github.com/wedsync/integrations/notify/smtp/smtptest"
)

// A provider sends to smtptest's server on loopback, which keeps the
// message; Parse takes it apart. Against a real relay, leave WithTLS out
// (STARTTLS is required by default) and add WithAuth.
func Example() {
	srv, err := smtptest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	p, err := smtp.New(srv.Host(), srv.Port(),
		smtp.WithTLS(smtp.NoTLS),
		smtp.WithFrom("bookings@wedsync.example", "WedSync"))
	if err != nil {
		log.Fatal(err)
	}
	res, err := p.Send(context.Background(), &notify.Message{
		NotificationID:  "ntf_123",
		To:              "zoe@example.com",
		Name:            "Zoë",
		Subject:         "Booking confirmed: 14 June",
		Text:            "The Smiths booked you for 14 June.",
		HTML:            "<p>The Smiths booked you for <b>14 June</b>.</p>",
		ListUnsubscribe: "https://wedsync.example/preferences/sup_1",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("sent:", res.ExternalID)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	msgs, err := srv.Wait(ctx, 1)
	if err != nil {
		log.Fatal(err)
	}
	m, err := smtptest.Parse(msgs[0])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("to:", m.To[0].Name, m.To[0].Address)
	fmt.Println("subject:", m.Subject)
	fmt.Println("parts:", m.ContentTypes())
	fmt.Println("text:", m.Text)
	fmt.Println("one-click:", m.Header.Get("List-Unsubscribe-Post"))
	// Output:
	// sent: <ntf_123@wedsync.example>
	// to: Zoë zoe@example.com
	// subject: Booking confirmed: 14 June
	// parts: [text/plain text/html]
	// text: The Smiths booked you for 14 June.
	// one-click: List-Unsubscribe=One-Click
}
