// Package smtp is the email provider of package notify: a notify.Provider
// for notify.ChannelEmail that sends through an SMTP server (a relay such as
// Amazon SES, Postmark or an Exchange connector) with go-mail.
//
//	p, err := smtp.New("email-smtp.eu-west-1.amazonaws.com", 587,
//		smtp.WithFrom("bookings@wedsync.example", "WedSync"),
//		smtp.WithAuth(user, password))
//
// Each Send opens its own connection (EHLO, STARTTLS, AUTH, MAIL, RCPT,
// DATA, QUIT), so a Provider is safe for concurrent use and a broken
// connection never outlives the message that found it. The message is
// multipart/alternative (text/plain, then text/html) when it has HTML, and
// text/plain otherwise, in UTF-8 with quoted-printable bodies and RFC 2047
// encoded headers. It carries a Message-ID derived from the notification's
// id, so that a retry or a failover to a second provider repeats the same
// id and mailbox providers that deduplicate on it (Gmail does) show the
// message once; Result.ExternalID is that Message-ID.
//
// A List-Unsubscribe target (notify.Message.ListUnsubscribe) becomes the
// List-Unsubscribe header; when it is an https URL the message also
// announces one-click unsubscribe (RFC 8058, List-Unsubscribe-Post), which
// Gmail and Yahoo require of bulk senders.
//
// Errors follow notify.Provider's contract. A malformed recipient address,
// or one the server refuses permanently at RCPT (550, 551, 553, 501, or
// any 5.1.x enhanced status), is a *notify.RecipientError naming
// recipient.email, so the notifier neither retries nor fails over; a 5.7.x
// refusal at RCPT (relaying denied, authentication required) concerns the
// sender and is not. Everything else (refused connections, timeouts, 4xx
// replies, a failed AUTH or STARTTLS) is a *notify.ProviderError carrying
// the SMTP reply code. Error texts never contain the password, and the
// recipient's address is replaced by "<recipient>" in the server replies
// they quote.
//
// Package smtptest runs a real SMTP server on loopback for tests and demos.
package smtp
