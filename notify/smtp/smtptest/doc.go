// Package smtptest runs a real SMTP server (emersion/go-smtp) on loopback
// that keeps what it receives, for tests of the email provider and for
// demos that want to show the mail they send without an internet relay.
//
//	srv, err := smtptest.Start()
//	...
//	defer srv.Close()
//	p, err := smtp.New(srv.Host(), srv.Port(), smtp.WithTLS(smtp.NoTLS),
//		smtp.WithFrom("bookings@wedsync.example", "WedSync"))
//	...
//	msgs, err := srv.Wait(ctx, 1)
//	parsed, err := smtptest.Parse(msgs[0])
//
// The server can require AUTH PLAIN (WithAuth), offer STARTTLS or speak
// TLS from the first byte with a certificate it makes for itself
// (WithStartTLS, WithImplicitTLS; trust it with RootCAs), refuse chosen
// recipients (WithRejectRecipient) and fail every transaction until told
// otherwise (FailWith), for failover tests. Its inbox keeps the last 1000
// messages (WithInboxSize). Parse walks a message's MIME tree with the
// standard library and returns its decoded text and HTML parts.
//
// Nothing in the core API needs a *testing.T; StartT is the test helper
// that closes the server when the test ends.
package smtptest
