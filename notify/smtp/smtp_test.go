package smtp_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/notify/smtp"
	"github.com/wedsync/integrations/notify/smtp/smtptest"
)

const from = "bookings@wedsync.example"

// newProvider returns a provider for srv, in clear (smtptest's default).
func newProvider(t *testing.T, srv *smtptest.Server, opts ...smtp.Option) *smtp.Provider {
	t.Helper()
	base := []smtp.Option{smtp.WithTLS(smtp.NoTLS), smtp.WithFrom(from, "WedSync Bookings")}
	p, err := smtp.New(srv.Host(), srv.Port(), append(base, opts...)...)
	require.NoError(t, err)
	return p
}

func waitOne(t *testing.T, srv *smtptest.Server) (smtptest.Message, *smtptest.Parsed) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	msgs, err := srv.Wait(ctx, 1)
	require.NoError(t, err)
	p, err := smtptest.Parse(msgs[0])
	require.NoError(t, err)
	return msgs[0], p
}

func fullMessage() *notify.Message {
	return &notify.Message{
		NotificationID: "ntf_01HZX3",
		Attempt:        1,
		Channel:        notify.ChannelEmail,
		To:             "zoe@example.com",
		Name:           "Zoë Ångström",
		Subject:        "Réservation confirmée ✓ for the 14th",
		Text: "Hello Zoë,\n\nThe Smiths booked you for 14 June 2027. " +
			"This line is long enough to need quoted-printable soft line breaks on the wire, é à ü.\n" +
			"A line with = and a trailing space \nEnd.",
		HTML:            "<p>Hello Zoë,</p>\n<p>The Smiths booked you for <b>14 June 2027</b>.</p>",
		ReplyTo:         "The Smiths <couple@example.org>",
		ListUnsubscribe: "https://wedsync.example/preferences/sup_1?token=a%2Fb",
	}
}

func TestSendBuildsMultipartAlternative(t *testing.T) {
	srv := smtptest.StartT(t)
	p := newProvider(t, srv)
	m := fullMessage()
	before := time.Now().Truncate(time.Second)

	res, err := p.Send(t.Context(), m)
	require.NoError(t, err)

	raw, got := waitOne(t, srv)
	require.Equal(t, from, raw.From, "envelope sender")
	require.Equal(t, []string{m.To}, raw.To, "envelope recipients")

	require.Equal(t, "multipart/alternative", got.ContentType)
	require.Equal(t, []string{"text/plain", "text/html"}, got.ContentTypes(), "text first, then HTML")
	require.Equal(t, m.Text, got.Text)
	require.Equal(t, m.HTML, got.HTML)
	for _, part := range got.Parts {
		require.Equal(t, "UTF-8", strings.ToUpper(part.Params["charset"]))
		require.Equal(t, "quoted-printable", part.Header.Get("Content-Transfer-Encoding"))
	}

	require.Equal(t, "WedSync Bookings", got.From.Name)
	require.Equal(t, from, got.From.Address)
	require.Len(t, got.To, 1)
	require.Equal(t, m.Name, got.To[0].Name)
	require.Equal(t, m.To, got.To[0].Address)
	require.Len(t, got.ReplyTo, 1)
	require.Equal(t, "couple@example.org", got.ReplyTo[0].Address)
	require.Equal(t, "The Smiths", got.ReplyTo[0].Name)

	require.Equal(t, m.Subject, got.Subject)
	rawSubject := raw.Header.Get("Subject")
	require.True(t, strings.HasPrefix(strings.ToLower(rawSubject), "=?utf-8?"), "non-ASCII subject is RFC 2047 encoded, got %q", rawSubject)
	require.NotContains(t, string(raw.Data), "Zoë Ångström", "non-ASCII names are encoded in headers")

	require.Equal(t, "<"+m.ListUnsubscribe+">", raw.Header.Get("List-Unsubscribe"))
	require.Equal(t, "List-Unsubscribe=One-Click", raw.Header.Get("List-Unsubscribe-Post"))

	require.Equal(t, "<ntf_01HZX3@wedsync.example>", got.MessageID)
	require.Equal(t, got.MessageID, res.ExternalID)

	require.False(t, got.Date.Before(before), "Date %s is before the send", got.Date)
	require.False(t, got.Date.After(time.Now()), "Date %s is after the send", got.Date)
	require.Equal(t, "1.0", raw.Header.Get("MIME-Version"))
	require.Empty(t, raw.Header.Get("User-Agent"), "no library fingerprint")
	require.Empty(t, raw.Header.Get("X-Mailer"), "no library fingerprint")
}

func TestSendTextOnly(t *testing.T) {
	srv := smtptest.StartT(t)
	p := newProvider(t, srv)

	_, err := p.Send(t.Context(), &notify.Message{To: "sam@example.com", Subject: "Plain", Text: "Just text.\nTwo lines."})
	require.NoError(t, err)

	raw, got := waitOne(t, srv)
	require.Equal(t, "text/plain", got.ContentType)
	require.Equal(t, []string{"text/plain"}, got.ContentTypes())
	require.Equal(t, "Just text.\nTwo lines.", got.Text)
	require.Empty(t, got.HTML)
	require.Equal(t, "Plain", raw.Header.Get("Subject"), "an ASCII subject is sent as it is")
	for _, h := range []string{"Reply-To", "List-Unsubscribe", "List-Unsubscribe-Post"} {
		require.Empty(t, raw.Header.Get(h), h)
	}
	require.Equal(t, "sam@example.com", got.To[0].Address)
	require.Empty(t, got.To[0].Name)
}

func TestMessageIDWithoutNotificationIDIsRandom(t *testing.T) {
	srv := smtptest.StartT(t)
	p := newProvider(t, srv)
	ids := map[string]bool{}
	for _, nid := range []string{"", "", "has space", "a..b"} {
		res, err := p.Send(t.Context(), &notify.Message{NotificationID: nid, To: "sam@example.com", Subject: "s", Text: "t"})
		require.NoError(t, err)
		require.Regexp(t, `^<[0-9a-f]{32}@wedsync\.example>$`, res.ExternalID)
		ids[res.ExternalID] = true
	}
	require.Len(t, ids, 4)
}

func TestListUnsubscribe(t *testing.T) {
	srv := smtptest.StartT(t)
	p := newProvider(t, srv)

	// RFC 8058 one-click is for https only: an http target (a demo on
	// localhost) gets List-Unsubscribe alone.
	_, err := p.Send(t.Context(), &notify.Message{To: "sam@example.com", Subject: "s", Text: "t", ListUnsubscribe: "http://127.0.0.1:8080/u/1"})
	require.NoError(t, err)
	raw, _ := waitOne(t, srv)
	require.Equal(t, "<http://127.0.0.1:8080/u/1>", raw.Header.Get("List-Unsubscribe"))
	require.Empty(t, raw.Header.Get("List-Unsubscribe-Post"))

	for _, bad := range []string{"mailto:x@example.com", "https://", "https://x.example/a b", "https://x.example/>, <https://evil.example/", "https://x.example/\r\nBcc: a@b.c"} {
		_, err := p.Send(t.Context(), &notify.Message{To: "sam@example.com", Subject: "s", Text: "t", ListUnsubscribe: bad})
		require.ErrorIs(t, err, notify.ErrInvalid, bad)
		require.ErrorContains(t, err, "list_unsubscribe", bad)
	}
	require.Equal(t, 1, srv.Count(), "nothing sent for a bad target")
}

func TestHeaderInjectionIsRefused(t *testing.T) {
	srv := smtptest.StartT(t)
	p := newProvider(t, srv)
	base := notify.Message{To: "sam@example.com", Name: "Sam", Subject: "Hello", Text: "t"}

	for _, tc := range []struct {
		name  string
		edit  func(m *notify.Message)
		field string
		bad   bool // a *notify.RecipientError rather than a validation error
	}{
		{"subject CRLF", func(m *notify.Message) { m.Subject = "Hi\r\nBcc: victim@example.net" }, "subject", false},
		{"subject LF", func(m *notify.Message) { m.Subject = "Hi\nBcc: victim@example.net" }, "subject", false},
		{"subject NUL", func(m *notify.Message) { m.Subject = "Hi\x00" }, "subject", false},
		{"name CRLF", func(m *notify.Message) { m.Name = "Sam\r\nBcc: victim@example.net" }, "recipient.name", true},
		{"reply-to CRLF", func(m *notify.Message) { m.ReplyTo = "a@example.org\r\nBcc: victim@example.net" }, "reply_to", false},
		{"reply-to malformed", func(m *notify.Message) { m.ReplyTo = "not an address" }, "reply_to", false},
		{"to CRLF", func(m *notify.Message) { m.To = "sam@example.com\r\nBcc: victim@example.net" }, "recipient.email", true},
		{"to with a name", func(m *notify.Message) { m.To = "Sam <sam@example.com>" }, "recipient.email", true},
		{"to malformed", func(m *notify.Message) { m.To = "sam.example.com" }, "recipient.email", true},
		{"to two addresses", func(m *notify.Message) { m.To = "sam@example.com, victim@example.net" }, "recipient.email", true},
		{"to empty", func(m *notify.Message) { m.To = "" }, "recipient.email", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := base
			tc.edit(&m)
			_, err := p.Send(t.Context(), &m)
			require.Error(t, err)
			if tc.bad {
				require.ErrorIs(t, err, notify.ErrBadRecipient)
				var re *notify.RecipientError
				require.ErrorAs(t, err, &re)
				require.Equal(t, tc.field, re.Field)
			} else {
				require.ErrorIs(t, err, notify.ErrInvalid)
				require.NotErrorIs(t, err, notify.ErrBadRecipient)
				var ve *notify.ValidationError
				require.ErrorAs(t, err, &ve)
				require.Equal(t, tc.field, ve.Field)
			}
		})
	}
	require.Zero(t, srv.Count(), "nothing reached the server")
}

func TestAuth(t *testing.T) {
	const user, password = "wedsync", "s3cret-Passw0rd!"
	srv := smtptest.StartT(t, smtptest.WithAuth(user, password))

	t.Run("right password", func(t *testing.T) {
		srv.Reset()
		p := newProvider(t, srv, smtp.WithAuth(user, password))
		_, err := p.Send(t.Context(), &notify.Message{To: "sam@example.com", Subject: "s", Text: "t"})
		require.NoError(t, err)
		raw, _ := waitOne(t, srv)
		require.Equal(t, user, raw.Username)
	})
	t.Run("wrong password", func(t *testing.T) {
		srv.Reset()
		const wrong = "wrong-Passw0rd-123"
		p := newProvider(t, srv, smtp.WithAuth(user, wrong))
		_, err := p.Send(t.Context(), &notify.Message{To: "sam@example.com", Subject: "s", Text: "t"})
		var pe *notify.ProviderError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, "smtp", pe.Provider)
		require.Equal(t, 535, pe.StatusCode)
		require.False(t, pe.Timeout)
		require.NotErrorIs(t, err, notify.ErrBadRecipient)
		require.NotContains(t, err.Error(), wrong)
		require.NotContains(t, fmt.Sprintf("%+v %#v", err, err), wrong)
		require.Zero(t, srv.Count())
	})
	t.Run("no credentials", func(t *testing.T) {
		srv.Reset()
		p := newProvider(t, srv)
		_, err := p.Send(t.Context(), &notify.Message{To: "sam@example.com", Subject: "s", Text: "t"})
		var pe *notify.ProviderError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, 530, pe.StatusCode)
	})
	t.Run("server without AUTH", func(t *testing.T) {
		plain := smtptest.StartT(t)
		p := newProvider(t, plain, smtp.WithAuth(user, password))
		_, err := p.Send(t.Context(), &notify.Message{To: "sam@example.com", Subject: "s", Text: "t"})
		var pe *notify.ProviderError
		require.ErrorAs(t, err, &pe)
		require.ErrorContains(t, err, "offers no AUTH")
		require.NotContains(t, err.Error(), password)
	})
}

func TestRecipientRefusals(t *testing.T) {
	srv := smtptest.StartT(t, smtptest.WithRejectRecipient(func(addr string) *gosmtp.SMTPError {
		switch addr {
		case "gone@example.com":
			return smtptest.ErrUserUnknown
		case "nodomain@example.com":
			return &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCodeNotSet, Message: "Bad destination mailbox address syntax"}
		case "busy@example.com":
			return smtptest.ErrTemporary
		case "relay@example.com":
			return smtptest.ErrRelayDenied
		case "full@example.com":
			return &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 2, 2}, Message: "Mailbox full"}
		}
		return nil
	}))
	p := newProvider(t, srv)
	send := func(to string) error {
		_, err := p.Send(t.Context(), &notify.Message{To: to, Subject: "s", Text: "t"})
		return err
	}

	for to, code := range map[string]int{"gone@example.com": 550, "nodomain@example.com": 553} {
		err := send(to)
		require.ErrorIs(t, err, notify.ErrBadRecipient, to)
		var re *notify.RecipientError
		require.ErrorAs(t, err, &re)
		require.Equal(t, "recipient.email", re.Field)
		require.Equal(t, fmt.Sprintf("the mail server refused it: %d", code), re.Rule)
	}
	// Temporary refusals, policy refusals about the sender and a full
	// mailbox are for a retry or another provider.
	for to, code := range map[string]int{"busy@example.com": 451, "relay@example.com": 550, "full@example.com": 552} {
		err := send(to)
		require.NotErrorIs(t, err, notify.ErrBadRecipient, to)
		var pe *notify.ProviderError
		require.ErrorAs(t, err, &pe, to)
		require.Equal(t, code, pe.StatusCode, to)
		require.NotContains(t, err.Error(), to, "the recipient's address is scrubbed from the error")
		require.Contains(t, err.Error(), "<recipient>")
	}
	require.NoError(t, send("fine@example.com"))
	require.Equal(t, 1, srv.Count())
}

func TestServerFailure(t *testing.T) {
	srv := smtptest.StartT(t)
	p := newProvider(t, srv)
	m := &notify.Message{To: "sam@example.com", Subject: "s", Text: "t"}

	srv.FailWith(smtptest.ErrTemporary)
	_, err := p.Send(t.Context(), m)
	var pe *notify.ProviderError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, 451, pe.StatusCode)

	srv.FailWith(nil)
	_, err = p.Send(t.Context(), m)
	require.NoError(t, err)
}

func TestServerDown(t *testing.T) {
	srv, err := smtptest.Start()
	require.NoError(t, err)
	p := newProvider(t, srv)
	require.NoError(t, srv.Close())

	_, err = p.Send(t.Context(), &notify.Message{To: "sam@example.com", Subject: "s", Text: "t"})
	var pe *notify.ProviderError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "smtp", pe.Provider)
	require.Zero(t, pe.StatusCode)
	require.False(t, pe.Timeout)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
}

// tarpit accepts connections and never says a word, like a relay that
// hangs; accepted reports each connection.
func tarpit(t *testing.T) (host string, port int, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ch := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			ch <- struct{}{}
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	addr := ln.Addr().(*net.TCPAddr)
	return "127.0.0.1", addr.Port, ch
}

func TestContextIsHonoured(t *testing.T) {
	host, port, accepted := tarpit(t)
	p, err := smtp.New(host, port, smtp.WithTLS(smtp.NoTLS), smtp.WithFrom(from, ""), smtp.WithTimeout(time.Hour))
	require.NoError(t, err)
	m := &notify.Message{To: "sam@example.com", Subject: "s", Text: "t"}

	t.Run("cancelled while the server is silent", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := p.Send(ctx, m)
			done <- err
		}()
		<-accepted
		cancel()
		err := <-done // with WithTimeout(time.Hour), only the cancel ends it
		require.ErrorIs(t, err, context.Canceled)
		var pe *notify.ProviderError
		require.ErrorAs(t, err, &pe)
		require.False(t, pe.Timeout)
	})
	t.Run("deadline while the server is silent", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err := p.Send(ctx, m)
		<-accepted
		require.ErrorIs(t, err, context.DeadlineExceeded)
		var pe *notify.ProviderError
		require.ErrorAs(t, err, &pe)
		require.True(t, pe.Timeout)
	})
	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := p.Send(ctx, m)
		require.ErrorIs(t, err, context.Canceled)
	})
}

func TestTimeoutOfACommand(t *testing.T) {
	host, port, accepted := tarpit(t)
	p, err := smtp.New(host, port, smtp.WithTLS(smtp.NoTLS), smtp.WithFrom(from, ""), smtp.WithTimeout(50*time.Millisecond))
	require.NoError(t, err)
	_, err = p.Send(t.Context(), &notify.Message{To: "sam@example.com", Subject: "s", Text: "t"})
	<-accepted
	var pe *notify.ProviderError
	require.ErrorAs(t, err, &pe)
	require.True(t, pe.Timeout, "%v", err)
	require.NotErrorIs(t, err, context.DeadlineExceeded, "the ctx did not end")
}

func TestConcurrentSends(t *testing.T) {
	srv := smtptest.StartT(t)
	p := newProvider(t, srv)
	const n = 50
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := p.Send(t.Context(), &notify.Message{
				NotificationID: fmt.Sprintf("ntf_%02d", i),
				To:             fmt.Sprintf("s%02d@example.com", i), Subject: fmt.Sprintf("n%02d", i), Text: "t", HTML: "<p>h</p>",
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	msgs, err := srv.Wait(ctx, n)
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, raw := range msgs {
		got, err := smtptest.Parse(raw)
		require.NoError(t, err)
		i := strings.TrimPrefix(got.Subject, "n")
		require.Equal(t, []string{"s" + i + "@example.com"}, raw.To, "each message went to its own recipient")
		require.Equal(t, "<ntf_"+i+"@wedsync.example>", got.MessageID)
		seen[i] = true
	}
	require.Len(t, seen, n)
}

func TestTLS(t *testing.T) {
	m := &notify.Message{To: "sam@example.com", Subject: "s", Text: "t"}
	const user, password = "wedsync", "s3cret-Passw0rd!"

	t.Run("STARTTLS is the default", func(t *testing.T) {
		srv := smtptest.StartT(t, smtptest.WithStartTLS(), smtptest.WithAuth(user, password))
		p, err := smtp.New(srv.Host(), srv.Port(), smtp.WithFrom(from, ""), smtp.WithAuth(user, password),
			smtp.WithTLSConfig(&tls.Config{RootCAs: srv.RootCAs(), MinVersion: tls.VersionTLS12}))
		require.NoError(t, err)
		_, err = p.Send(t.Context(), m)
		require.NoError(t, err)
		raw, _ := waitOne(t, srv)
		require.True(t, raw.TLS)
		require.Equal(t, user, raw.Username)
	})
	t.Run("mandatory fails without STARTTLS", func(t *testing.T) {
		srv := smtptest.StartT(t)
		p, err := smtp.New(srv.Host(), srv.Port(), smtp.WithFrom(from, ""))
		require.NoError(t, err)
		_, err = p.Send(t.Context(), m)
		var pe *notify.ProviderError
		require.ErrorAs(t, err, &pe)
		require.ErrorContains(t, err, "STARTTLS")
		require.Zero(t, srv.Count())
	})
	t.Run("mandatory fails on an untrusted certificate", func(t *testing.T) {
		srv := smtptest.StartT(t, smtptest.WithStartTLS())
		p, err := smtp.New(srv.Host(), srv.Port(), smtp.WithFrom(from, ""))
		require.NoError(t, err)
		_, err = p.Send(t.Context(), m)
		var pe *notify.ProviderError
		require.ErrorAs(t, err, &pe)
		require.ErrorContains(t, err, "certificate")
		require.Zero(t, srv.Count())
	})
	t.Run("opportunistic goes on in clear", func(t *testing.T) {
		srv := smtptest.StartT(t)
		p, err := smtp.New(srv.Host(), srv.Port(), smtp.WithFrom(from, ""), smtp.WithTLS(smtp.TLSOpportunistic))
		require.NoError(t, err)
		_, err = p.Send(t.Context(), m)
		require.NoError(t, err)
		raw, _ := waitOne(t, srv)
		require.False(t, raw.TLS)
	})
	t.Run("opportunistic uses STARTTLS when offered", func(t *testing.T) {
		srv := smtptest.StartT(t, smtptest.WithStartTLS())
		p, err := smtp.New(srv.Host(), srv.Port(), smtp.WithFrom(from, ""), smtp.WithTLS(smtp.TLSOpportunistic),
			smtp.WithTLSConfig(&tls.Config{RootCAs: srv.RootCAs(), MinVersion: tls.VersionTLS12}))
		require.NoError(t, err)
		_, err = p.Send(t.Context(), m)
		require.NoError(t, err)
		raw, _ := waitOne(t, srv)
		require.True(t, raw.TLS)
	})
	t.Run("implicit", func(t *testing.T) {
		srv := smtptest.StartT(t, smtptest.WithImplicitTLS(), smtptest.WithAuth(user, password))
		p, err := smtp.New(srv.Host(), srv.Port(), smtp.WithFrom(from, ""), smtp.WithTLS(smtp.TLSImplicit), smtp.WithAuth(user, password),
			smtp.WithTLSConfig(&tls.Config{RootCAs: srv.RootCAs(), MinVersion: tls.VersionTLS12}))
		require.NoError(t, err)
		_, err = p.Send(t.Context(), m)
		require.NoError(t, err)
		raw, _ := waitOne(t, srv)
		require.True(t, raw.TLS)
		require.Equal(t, user, raw.Username)
	})
}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		name  string
		host  string
		port  int
		opts  []smtp.Option
		field string
	}{
		{"no from", "smtp.example.com", 587, nil, "WithFrom"},
		{"from with a name in it", "smtp.example.com", 587, []smtp.Option{smtp.WithFrom("WedSync <a@example.com>", "")}, "WithFrom"},
		{"from malformed", "smtp.example.com", 587, []smtp.Option{smtp.WithFrom("example.com", "")}, "WithFrom"},
		{"from name CRLF", "smtp.example.com", 587, []smtp.Option{smtp.WithFrom("a@example.com", "x\r\nBcc: y@z")}, "WithFrom"},
		{"no host", "", 587, []smtp.Option{smtp.WithFrom("a@example.com", "")}, "host"},
		{"host with port", "smtp.example.com:587", 587, []smtp.Option{smtp.WithFrom("a@example.com", "")}, "host"},
		{"port", "smtp.example.com", 0, []smtp.Option{smtp.WithFrom("a@example.com", "")}, "port"},
		{"name", "smtp.example.com", 587, []smtp.Option{smtp.WithFrom("a@example.com", ""), smtp.WithName("")}, "WithName"},
		{"timeout", "smtp.example.com", 587, []smtp.Option{smtp.WithFrom("a@example.com", ""), smtp.WithTimeout(0)}, "WithTimeout"},
		{"helo", "smtp.example.com", 587, []smtp.Option{smtp.WithFrom("a@example.com", ""), smtp.WithHelo("a b")}, "WithHelo"},
		{"tls mode", "smtp.example.com", 587, []smtp.Option{smtp.WithFrom("a@example.com", ""), smtp.WithTLS(smtp.TLSMode(9))}, "WithTLS"},
		{"password in clear", "smtp.example.com", 587, []smtp.Option{smtp.WithFrom("a@example.com", ""), smtp.WithTLS(smtp.NoTLS), smtp.WithAuth("u", "p")}, "WithTLS"},
		{"empty password", "smtp.example.com", 587, []smtp.Option{smtp.WithFrom("a@example.com", ""), smtp.WithAuth("u", "")}, "WithAuth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := smtp.New(tc.host, tc.port, tc.opts...)
			require.ErrorIs(t, err, notify.ErrInvalid)
			var ve *notify.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tc.field, ve.Field)
			require.Equal(t, "smtp", ve.Package)
		})
	}
	_, err := smtp.New("localhost", 2525, smtp.WithFrom("a@example.com", ""), smtp.WithTLS(smtp.NoTLS), smtp.WithAuth("u", "p"))
	require.NoError(t, err, "NoTLS with a password is fine on loopback")
	_, err = smtp.New("::1", 2525, smtp.WithFrom("a@example.com", ""))
	require.NoError(t, err, "IPv6 literal")
}

func TestStringHidesThePassword(t *testing.T) {
	const password = "hunter2-but-longer"
	p, err := smtp.New("smtp.example.com", 587, smtp.WithName("ses"), smtp.WithFrom(from, "WedSync"), smtp.WithAuth("AKIAEXAMPLE", password))
	require.NoError(t, err)
	require.Equal(t, "ses", p.Name())
	require.Equal(t, notify.ChannelEmail, p.Channel())
	require.Equal(t, `smtp "ses" smtp.example.com:587 tls=mandatory auth=AKIAEXAMPLE from=bookings@wedsync.example`, p.String())
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		require.NotContains(t, fmt.Sprintf(format, p), password, format)
		require.NotContains(t, fmt.Sprintf(format, *p), password, format)
	}
}

func TestNilMessage(t *testing.T) {
	p, err := smtp.New("smtp.example.com", 587, smtp.WithFrom(from, ""))
	require.NoError(t, err)
	_, err = p.Send(t.Context(), nil)
	require.EqualError(t, err, "smtp: nil message")
}
