package smtptest_test

import (
	"context"
	"fmt"
	"log"
	"net/smtp"
	"time"

	"github.com/wedsync/integrations/notify/smtp/smtptest"
)

// Any SMTP client can send to the server; here the standard library's.
func ExampleStart() {
	srv, err := smtptest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	body := "From: bookings@wedsync.example\r\nTo: zoe@example.com\r\nSubject: Hello\r\n\r\nSee you on the 14th.\r\n"
	if err := smtp.SendMail(srv.Addr(), nil, "bookings@wedsync.example", []string{"zoe@example.com"}, []byte(body)); err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	msgs, err := srv.Wait(ctx, 1)
	if err != nil {
		log.Fatal(err)
	}
	p, err := smtptest.Parse(msgs[0])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(msgs[0].From, "->", msgs[0].To)
	fmt.Println(p.Subject)
	fmt.Println(p.Text)
	// Output:
	// bookings@wedsync.example -> [zoe@example.com]
	// Hello
	// See you on the 14th.
}
