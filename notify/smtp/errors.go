package smtp

import (
	"context"
	"errors"
	"net"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	gomail "github.com/wneessen/go-mail"
	gmsmtp "github.com/wneessen/go-mail/smtp"

	"github.com/wedsync/integrations/notify"
)

// watch follows the one connection of a send: a cancelled ctx closes it,
// and Send closes it at the end whatever go-mail left open.
type watch struct {
	parent   context.Context
	timedOut atomic.Bool

	mu     sync.Mutex
	conn   net.Conn
	stop   func() bool
	closed bool
}

// attach records conn; false when the send has already ended.
func (w *watch) attach(conn net.Conn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	w.conn = conn
	w.stop = context.AfterFunc(w.parent, func() { _ = conn.Close() })
	return true
}

func (w *watch) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.stop != nil {
		w.stop()
	}
	if w.conn != nil {
		_ = w.conn.Close()
	}
}

// watchedConn notes read and write timeouts, which go-mail's SendError does
// not expose.
type watchedConn struct {
	net.Conn
	w *watch
}

func (c *watchedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.note(err)
	return n, err
}

func (c *watchedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.note(err)
	return n, err
}

func (c *watchedConn) note(err error) {
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		c.w.timedOut.Store(true)
	}
}

// classify turns a go-mail error into notify's terms: a permanent refusal
// of the recipient at RCPT is a *notify.RecipientError, anything else a
// *notify.ProviderError.
func (p *Provider) classify(ctx context.Context, err error, w *watch, to string) error {
	var se *gomail.SendError
	if errors.As(err, &se) && se.Reason == gomail.ErrSMTPRcptTo && !se.IsTemp() &&
		recipientRefused(se.ErrorCode(), se.EnhancedStatusCode()) {
		return notify.BadRecipient("recipient.email", "the mail server refused it: %d", se.ErrorCode())
	}
	return p.providerError(ctx, err, w, to)
}

// recipientRefused reports whether a permanent RCPT reply concerns the
// recipient. Enhanced status codes decide when the server sends them
// (RFC 3463: 5.1.x is a bad destination address, 5.7.x a security or
// policy refusal such as "relaying denied" that concerns the sender);
// otherwise the reply codes of RFC 5321 for a bad mailbox or syntax do.
func recipientRefused(code int, enhanced string) bool {
	switch {
	case strings.HasPrefix(enhanced, "5.1."):
		return true
	case strings.HasPrefix(enhanced, "5.7."):
		return false
	}
	switch code {
	case 550, 551, 553, 501:
		return true
	}
	return false
}

func (p *Provider) providerError(ctx context.Context, err error, w *watch, to string) error {
	pe := &notify.ProviderError{Provider: p.name}
	var se *gomail.SendError
	var te *textproto.Error
	switch {
	case errors.As(err, &se):
		pe.StatusCode = se.ErrorCode()
	case errors.As(err, &te):
		pe.StatusCode = te.Code
	}
	var ne net.Error
	pe.Timeout = (w != nil && w.timedOut.Load()) || errors.Is(ctx.Err(), context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
	cause := err
	if ctx.Err() != nil {
		// The connection was closed under go-mail's feet: what it reports
		// is a consequence, the context is the cause.
		cause = ctx.Err()
	}
	pe.Err = &scrubbed{text: p.scrub(err.Error(), to), cause: cause}
	return pe
}

// scrubbed is an error whose text has the recipient's address and the
// password taken out.
type scrubbed struct {
	text  string
	cause error
}

func (e *scrubbed) Error() string { return e.text }
func (e *scrubbed) Unwrap() error { return e.cause }

// scrub removes what an error text must not carry: the password (servers
// do not echo it, but a misbehaving one might) and the recipient's address
// (servers quote it in RCPT replies; the attempt log masks it).
func (p *Provider) scrub(s, to string) string {
	if p.pass != "" && strings.Contains(s, string(p.pass)) {
		s = strings.ReplaceAll(s, string(p.pass), "[redacted]")
	}
	if to != "" {
		s = regexp.MustCompile("(?i)"+regexp.QuoteMeta(to)).ReplaceAllLiteralString(s, "<recipient>")
	}
	return strings.ReplaceAll(s, "<<recipient>>", "<recipient>")
}

// plainOrLogin authenticates with AUTH PLAIN, or AUTH LOGIN when the server
// offers only that (Office 365 did for years). One is made per send: the
// LOGIN exchange has state. go-mail's mechanisms refuse to send the
// password over a connection that is not TLS, except to a loopback host.
type plainOrLogin struct {
	user  string
	pass  secret
	host  string
	inner gmsmtp.Auth
}

func (a *plainOrLogin) Start(server *gmsmtp.ServerInfo) (string, []byte, error) {
	switch {
	case slices.Contains(server.Auth, "PLAIN"):
		a.inner = gmsmtp.PlainAuth("", a.user, string(a.pass), a.host, false)
	case slices.Contains(server.Auth, "LOGIN"):
		a.inner = gmsmtp.LoginAuth(a.user, string(a.pass), a.host, false)
	case len(server.Auth) == 0:
		return "", nil, errors.New("the server offers no AUTH (is it the submission port?)")
	default:
		return "", nil, errors.New("the server offers neither AUTH PLAIN nor AUTH LOGIN, but " + strings.Join(server.Auth, " "))
	}
	return a.inner.Start(server)
}

func (a *plainOrLogin) Next(fromServer []byte, more bool) ([]byte, error) {
	return a.inner.Next(fromServer, more)
}
