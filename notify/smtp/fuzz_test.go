package smtp

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/wedsync/integrations/notify"
	"github.com/wedsync/integrations/notify/smtp/smtptest"
)

// FuzzBuild feeds arbitrary header values and bodies to the message
// builder: either it refuses them (a recipient or validation error), or
// the message it writes parses back with the same values and no header
// that was not meant to be there.
func FuzzBuild(f *testing.F) {
	f.Add("Réservation ✓", "Zoë", "couple@example.org", "Hello\nthere", "<p>hi</p>", "zoe@example.com")
	f.Add("Hi\r\nBcc: x@y.z", "Sam", "", "t", "", "sam@example.com")
	f.Add("a", "\"Quoted\" <name>", "Name <a@b.c>", "=3D\r\n.\r\n", "", "a.b+c@example.com")
	f.Add(strings.Repeat("long subject words ", 20), "", "", "", "", "x@example.com")
	p, err := New("smtp.example.com", 587, WithFrom("bookings@wedsync.example", "WedSync"))
	if err != nil {
		f.Fatal(err)
	}
	allowed := map[string]bool{
		"Date": true, "Mime-Version": true, "Message-Id": true, "Subject": true, "From": true, "To": true,
		"Reply-To": true, "Content-Type": true, "Content-Transfer-Encoding": true,
	}
	f.Fuzz(func(t *testing.T, subject, name, replyTo, text, html, to string) {
		m := &notify.Message{NotificationID: "ntf_1", To: to, Name: name, Subject: subject, ReplyTo: replyTo, Text: text, HTML: html}
		msg, err := p.build(m)
		if err != nil {
			if !errors.Is(err, notify.ErrBadRecipient) && !errors.Is(err, notify.ErrInvalid) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if _, err := msg.WriteTo(&buf); err != nil {
			t.Fatalf("writing: %v", err)
		}
		got, err := smtptest.Parse(smtptest.Message{Data: buf.Bytes()})
		if err != nil {
			t.Fatalf("the message does not parse: %v\n%s", err, buf.Bytes())
		}
		for k := range got.Header {
			if !allowed[k] {
				t.Fatalf("unexpected header %q in\n%s", k, buf.Bytes())
			}
		}
		if len(got.To) != 1 || got.To[0].Address != to {
			t.Fatalf("To: got %v, want %q", got.To, to)
		}
		if !sameWords(got.To[0].Name, name) {
			t.Fatalf("To name: got %q, want %q", got.To[0].Name, name)
		}
		if !sameWords(got.Subject, subject) {
			t.Fatalf("Subject: got %q, want %q", got.Subject, subject)
		}
		if replyTo == "" && len(got.ReplyTo) != 0 || replyTo != "" && len(got.ReplyTo) != 1 {
			t.Fatalf("Reply-To: got %v for %q", got.ReplyTo, replyTo)
		}
		if want := bodyOnWire(text); got.Text != want && !(html == "" && got.Text == strings.TrimSuffix(want, "\n")) {
			t.Fatalf("text: got %q, want %q", got.Text, want)
		}
		if html != "" && got.HTML != bodyOnWire(html) {
			t.Fatalf("html: got %q, want %q", got.HTML, bodyOnWire(html))
		}
	})
}

// sameWords compares header values as a reader sees them: folding and
// encoding may change the whitespace between words, not the words.
func sameWords(a, b string) bool {
	return strings.Join(strings.Fields(a), " ") == strings.Join(strings.Fields(b), " ")
}

// bodyOnWire is what a body becomes once sent as text: every line break
// (CRLF, or a lone CR or LF) is CRLF on the wire, which Parse turns into
// LF.
func bodyOnWire(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}
