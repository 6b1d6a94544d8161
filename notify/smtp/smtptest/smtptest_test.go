package smtptest_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wedsync/integrations/notify/smtp/smtptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// send sends raw with the standard library's client, which is independent
// of the provider under test elsewhere.
func send(srv *smtptest.Server, auth smtp.Auth, from string, to []string, raw string) error {
	return smtp.SendMail(srv.Addr(), auth, from, to, []byte(strings.ReplaceAll(raw, "\n", "\r\n")))
}

func simple(subject string) string {
	return "From: a@example.com\nTo: b@example.com\nSubject: " + subject + "\n\nbody of " + subject + "\n"
}

func ctxMinute(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestReceivesAndParses(t *testing.T) {
	srv := smtptest.StartT(t)
	require.Equal(t, "127.0.0.1", srv.Host())
	require.Equal(t, fmt.Sprintf("127.0.0.1:%d", srv.Port()), srv.Addr())
	require.Nil(t, srv.RootCAs())

	// A mixed message holding an alternative one and a base64 attachment,
	// with a folded, encoded subject and encoded names.
	raw := `From: =?utf-8?q?Zo=C3=AB?= <zoe@example.com>
To: "Sam" <sam@example.com>, b@example.com
Reply-To: =?utf-8?b?w4VuZ3N0csO2bQ==?= <ang@example.org>
Subject: =?utf-8?q?R=C3=A9servation?=
 =?utf-8?q?_confirm=C3=A9e?=
Message-ID: <abc@example.com>
Date: Mon, 02 Jan 2006 15:04:05 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

Caf=C3=A9 on a line that is long enough to be broken with a soft line brea=
k here.
--inner
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: base64

PHA+Q2Fmw6k8L3A+
--inner--

--outer
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

AAEC
/w==
--outer--
`
	require.NoError(t, send(srv, nil, "zoe@example.com", []string{"sam@example.com", "b@example.com"}, raw))
	msgs, err := srv.Wait(ctxMinute(t), 1)
	require.NoError(t, err)
	m := msgs[0]
	require.Equal(t, "zoe@example.com", m.From)
	require.Equal(t, []string{"sam@example.com", "b@example.com"}, m.To)
	require.Equal(t, "localhost", m.Helo)
	require.False(t, m.TLS)
	require.Empty(t, m.Username)
	require.Equal(t, "<abc@example.com>", m.Header.Get("Message-Id"))
	require.False(t, m.ReceivedAt.IsZero())

	p, err := smtptest.Parse(m)
	require.NoError(t, err)
	require.Equal(t, "Réservation confirmée", p.Subject)
	require.Equal(t, "Zoë", p.From.Name)
	require.Len(t, p.To, 2)
	require.Equal(t, "Sam", p.To[0].Name)
	require.Equal(t, "Ångström", p.ReplyTo[0].Name)
	require.Equal(t, "<abc@example.com>", p.MessageID)
	require.Equal(t, time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC), p.Date.UTC())
	require.Equal(t, "multipart/mixed", p.ContentType)
	require.Equal(t, []string{"text/plain", "text/html", "application/octet-stream"}, p.ContentTypes())
	require.Equal(t, "Café on a line that is long enough to be broken with a soft line break here.", p.Text)
	require.Equal(t, "<p>Café</p>", p.HTML)
	require.Equal(t, "\x00\x01\x02\xff", p.Parts[2].Body, "base64 across lines")
	require.Equal(t, "UTF-8", p.Parts[0].Params["charset"])
}

func TestParseRefusesBrokenMessages(t *testing.T) {
	for name, data := range map[string]string{
		"bad header line":  "not a header\r\n\r\nx",
		"bad boundary":     "Content-Type: multipart/alternative\r\n\r\nx",
		"bad encoding":     "Content-Type: text/plain\r\nContent-Transfer-Encoding: rot13\r\n\r\nx",
		"bad base64":       "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!",
		"bad content type": "Content-Type: text/\r\n\r\nx",
	} {
		_, err := smtptest.Parse(smtptest.Message{Data: []byte(data)})
		require.Error(t, err, name)
	}
	p, err := smtptest.Parse(smtptest.Message{Data: []byte("Subject: x\r\n\r\nhello\r\n")})
	require.NoError(t, err)
	require.Equal(t, "text/plain", p.ContentType, "RFC 2045's default")
	require.Equal(t, "hello", p.Text)
}

func TestWaitBlocksUntilMessagesArrive(t *testing.T) {
	srv := smtptest.StartT(t)
	got := make(chan []smtptest.Message, 1)
	go func() {
		msgs, err := srv.Wait(ctxMinute(t), 2)
		if err != nil {
			panic(err)
		}
		got <- msgs
	}()
	require.NoError(t, send(srv, nil, "a@example.com", []string{"b@example.com"}, simple("one")))
	require.NoError(t, send(srv, nil, "a@example.com", []string{"b@example.com"}, simple("two")))
	msgs := <-got
	require.Len(t, msgs, 2)
	require.Equal(t, "one", msgs[0].Header.Get("Subject"))
	require.Equal(t, "two", msgs[1].Header.Get("Subject"))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := srv.Wait(ctx, 3)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "have 2")
}

func TestInboxIsBounded(t *testing.T) {
	srv := smtptest.StartT(t, smtptest.WithInboxSize(3))
	for i := 1; i <= 5; i++ {
		require.NoError(t, send(srv, nil, "a@example.com", []string{"b@example.com"}, simple(fmt.Sprint(i))))
	}
	msgs := srv.Messages()
	require.Len(t, msgs, 3)
	for i, m := range msgs {
		require.Equal(t, fmt.Sprint(i+3), m.Header.Get("Subject"), "the oldest went first")
	}
	_, err := srv.Wait(t.Context(), 4)
	require.ErrorContains(t, err, "WithInboxSize")

	srv.Reset()
	require.Zero(t, srv.Count())
	require.Empty(t, srv.Messages())
}

func TestAuth(t *testing.T) {
	srv := smtptest.StartT(t, smtptest.WithAuth("user", "pass"))

	require.NoError(t, send(srv, smtp.PlainAuth("", "user", "pass", "127.0.0.1"), "a@example.com", []string{"b@example.com"}, simple("ok")))
	msgs, err := srv.Wait(ctxMinute(t), 1)
	require.NoError(t, err)
	require.Equal(t, "user", msgs[0].Username)

	err = send(srv, smtp.PlainAuth("", "user", "wrong", "127.0.0.1"), "a@example.com", []string{"b@example.com"}, simple("no"))
	requireCode(t, err, 535)
	err = send(srv, nil, "a@example.com", []string{"b@example.com"}, simple("no"))
	requireCode(t, err, 530)
	require.Equal(t, 1, srv.Count())
}

func requireCode(t *testing.T, err error, code int) {
	t.Helper()
	var te *textproto.Error
	require.ErrorAs(t, err, &te)
	require.Equal(t, code, te.Code, te.Msg)
}

func TestRefusals(t *testing.T) {
	srv := smtptest.StartT(t, smtptest.WithRejectRecipient(func(addr string) *gosmtp.SMTPError {
		if addr == "gone@example.com" {
			return smtptest.ErrUserUnknown
		}
		return nil
	}))
	err := send(srv, nil, "a@example.com", []string{"gone@example.com"}, simple("x"))
	requireCode(t, err, 550)

	srv.FailWith(smtptest.ErrTemporary)
	err = send(srv, nil, "a@example.com", []string{"b@example.com"}, simple("x"))
	requireCode(t, err, 451)
	srv.Reset() // clears FailWith too
	require.NoError(t, send(srv, nil, "a@example.com", []string{"b@example.com"}, simple("x")))
	require.Equal(t, 1, srv.Count())
}

func TestMaxMessageBytes(t *testing.T) {
	srv := smtptest.StartT(t, smtptest.WithMaxMessageBytes(100))
	err := send(srv, nil, "a@example.com", []string{"b@example.com"}, simple(strings.Repeat("x", 200)))
	requireCode(t, err, 552)
}

func TestTLSModes(t *testing.T) {
	t.Run("STARTTLS", func(t *testing.T) {
		srv := smtptest.StartT(t, smtptest.WithStartTLS())
		require.NotNil(t, srv.RootCAs())
		c, err := smtp.Dial(srv.Addr())
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.StartTLS(&tls.Config{RootCAs: srv.RootCAs(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}))
		sendOn(t, c)
		msgs, err := srv.Wait(ctxMinute(t), 1)
		require.NoError(t, err)
		require.True(t, msgs[0].TLS)
	})
	t.Run("implicit", func(t *testing.T) {
		srv := smtptest.StartT(t, smtptest.WithImplicitTLS())
		conn, err := tls.Dial("tcp", srv.Addr(), &tls.Config{RootCAs: srv.RootCAs(), ServerName: "localhost", MinVersion: tls.VersionTLS12})
		require.NoError(t, err)
		c, err := smtp.NewClient(conn, "localhost")
		require.NoError(t, err)
		defer c.Close()
		sendOn(t, c)
		msgs, err := srv.Wait(ctxMinute(t), 1)
		require.NoError(t, err)
		require.True(t, msgs[0].TLS)
	})
}

func sendOn(t *testing.T, c *smtp.Client) {
	t.Helper()
	require.NoError(t, c.Mail("a@example.com"))
	require.NoError(t, c.Rcpt("b@example.com"))
	w, err := c.Data()
	require.NoError(t, err)
	_, err = w.Write([]byte(strings.ReplaceAll(simple("tls"), "\n", "\r\n")))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, c.Quit())
}

func TestFixedAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	srv := smtptest.StartT(t, smtptest.WithAddr(addr))
	require.Equal(t, addr, srv.Addr())

	_, err = smtptest.Start(smtptest.WithAddr(addr))
	require.Error(t, err, "the address is taken")
}

func TestCloseEndsOpenConnections(t *testing.T) {
	srv, err := smtptest.Start()
	require.NoError(t, err)
	// Clients that connected and went quiet must not hold Close up.
	var clients []*smtp.Client
	for range 3 {
		c, err := smtp.Dial(srv.Addr())
		require.NoError(t, err)
		require.NoError(t, c.Hello("localhost"))
		clients = append(clients, c)
	}
	require.NoError(t, srv.Close())
	require.NoError(t, srv.Close(), "a second Close returns the first one's result")
	for _, c := range clients {
		require.Error(t, c.Noop(), "the server closed the connection")
		_ = c.Close()
	}
}

func TestCloseRightAfterStart(t *testing.T) {
	// Close may come before go-smtp's Serve goroutine has run.
	for range 50 {
		srv, err := smtptest.Start()
		require.NoError(t, err)
		require.NoError(t, srv.Close())
	}
}

func TestConcurrentClients(t *testing.T) {
	srv := smtptest.StartT(t)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() { errs <- send(srv, nil, "a@example.com", []string{"b@example.com"}, simple(fmt.Sprint(i))) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	msgs, err := srv.Wait(ctxMinute(t), n)
	require.NoError(t, err)
	require.Len(t, msgs, n)
}

func TestStartValidates(t *testing.T) {
	for _, opts := range [][]smtptest.Option{
		{smtptest.WithInboxSize(0)},
		{smtptest.WithMaxMessageBytes(0)},
		{smtptest.WithAuth("", "x")},
		{smtptest.WithErrorLog(nil)},
		{smtptest.WithAddr("256.0.0.1:0")},
	} {
		srv, err := smtptest.Start(opts...)
		require.Error(t, err)
		require.Nil(t, srv)
		require.True(t, strings.HasPrefix(err.Error(), "smtptest: "), err.Error())
		require.False(t, errors.Is(err, context.Canceled))
	}
}
