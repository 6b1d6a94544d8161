package smtp_test

import (
	"context"
	"testing"

	gomail "github.com/wneessen/go-mail"

	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/notify/smtp"
	"github.com/wedsync/integrations/notify/smtp/smtptest"
)

// The two benchmarks send the same message (multipart/alternative, with
// Reply-To and one-click unsubscribe) to the same loopback server, one
// connection per message: BenchmarkSend through the provider,
// BenchmarkGoMailPlain with go-mail alone. The difference is the
// provider's overhead (checks, error watching, its own dialer).

func benchServer(b *testing.B) *smtptest.Server {
	b.Helper()
	srv := smtptest.StartT(b, smtptest.WithInboxSize(16))
	return srv
}

func benchMessage() *notify.Message {
	return &notify.Message{
		NotificationID:  "ntf_bench",
		To:              "zoe@example.com",
		Name:            "Zoë Ångström",
		Subject:         "Réservation confirmée for 14 June",
		Text:            "The Smiths booked you for 14 June 2027. Reply to this email to reach them.",
		HTML:            "<p>The Smiths booked you for <b>14 June 2027</b>. Reply to this email to reach them.</p>",
		ReplyTo:         "couple@example.org",
		ListUnsubscribe: "https://wedsync.example/preferences/sup_1",
	}
}

func BenchmarkSend(b *testing.B) {
	srv := benchServer(b)
	p, err := smtp.New(srv.Host(), srv.Port(), smtp.WithTLS(smtp.NoTLS), smtp.WithFrom(from, "WedSync"))
	if err != nil {
		b.Fatal(err)
	}
	m := benchMessage()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGoMailPlain sends with go-mail alone: with its defaults (a NOOP
// before the message and an RSET after it), and without those two round
// trips, as the provider does on its fresh connections.
func BenchmarkGoMailPlain(b *testing.B) {
	b.Run("defaults", func(b *testing.B) { benchGoMail(b) })
	b.Run("without-noop-rset", func(b *testing.B) { benchGoMail(b, gomail.WithoutNoop(), gomail.WithoutRset()) })
}

// BenchmarkGoMailReuse sends every message over one connection (RSET in
// between): what a connection pool could save at most, here on loopback.
func BenchmarkGoMailReuse(b *testing.B) {
	srv := benchServer(b)
	c, err := gomail.NewClient(srv.Host(), gomail.WithPort(srv.Port()), gomail.WithTLSPolicy(gomail.NoTLS), gomail.WithoutNoop())
	if err != nil {
		b.Fatal(err)
	}
	if err := c.DialWithContext(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	m := benchMessage()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Send(goMailMessage(b, m)); err != nil {
			b.Fatal(err)
		}
	}
}

func benchGoMail(b *testing.B, opts ...gomail.Option) {
	srv := benchServer(b)
	opts = append([]gomail.Option{gomail.WithPort(srv.Port()), gomail.WithTLSPolicy(gomail.NoTLS)}, opts...)
	c, err := gomail.NewClient(srv.Host(), opts...)
	if err != nil {
		b.Fatal(err)
	}
	m := benchMessage()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.DialAndSendWithContext(ctx, goMailMessage(b, m)); err != nil {
			b.Fatal(err)
		}
	}
}

// goMailMessage builds with go-mail the message the provider builds from m.
func goMailMessage(b *testing.B, m *notify.Message) *gomail.Msg {
	msg := gomail.NewMsg()
	if err := msg.FromFormat("WedSync", from); err != nil {
		b.Fatal(err)
	}
	if err := msg.AddToFormat(m.Name, m.To); err != nil {
		b.Fatal(err)
	}
	if err := msg.ReplyTo(m.ReplyTo); err != nil {
		b.Fatal(err)
	}
	msg.Subject(m.Subject)
	if err := msg.SetListUnsubscribeOneClick(m.ListUnsubscribe); err != nil {
		b.Fatal(err)
	}
	msg.SetMessageID()
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	return msg
}
