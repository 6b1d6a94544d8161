package smtp

import (
	"crypto/rand"
	"encoding/hex"
	"net/mail"
	"net/url"
	"strings"

	gomail "github.com/wneessen/go-mail"

	"github.com/wedsync/integrations/internal/validate"
	"github.com/wedsync/integrations/notify"
)

// build checks m and turns it into a go-mail message. Problems with the
// recipient are *notify.RecipientError; problems with the rest of the
// message (a subject or Reply-To that would inject headers) are
// *notify.ValidationError, which no retry cures either.
func (p *Provider) build(m *notify.Message) (*gomail.Msg, error) {
	switch {
	case m.To == "":
		return nil, notify.BadRecipient("recipient.email", "is required for the email channel")
	case !isBareAddress(m.To):
		return nil, notify.BadRecipient("recipient.email", "is not a valid email address")
	case hasBreak(m.Name):
		return nil, notify.BadRecipient("recipient.name", "must not contain CR, LF or NUL")
	case hasBreak(m.Subject):
		return nil, validate.New(pkg, "subject", "must not contain CR, LF or NUL")
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(p.from)
	msg.AddToMailAddress(&mail.Address{Name: m.Name, Address: m.To})
	msg.Subject(m.Subject)
	if m.ReplyTo != "" {
		if hasBreak(m.ReplyTo) {
			return nil, validate.New(pkg, "reply_to", "must not contain CR, LF or NUL")
		}
		rt, err := mail.ParseAddress(m.ReplyTo)
		if err != nil {
			return nil, validate.New(pkg, "reply_to", "is not a valid email address")
		}
		msg.ReplyToMailAddress(rt)
	}
	if m.ListUnsubscribe != "" {
		if err := listUnsubscribe(msg, m.ListUnsubscribe); err != nil {
			return nil, err
		}
	}
	msg.SetMessageIDWithValue(p.messageID(m.NotificationID))
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// listUnsubscribe sets List-Unsubscribe, and List-Unsubscribe-Post for an
// https target: RFC 8058 defines one-click unsubscribe for https only, so
// an http target (a demo on localhost) gets the plain header alone.
func listUnsubscribe(msg *gomail.Msg, target string) error {
	u, err := url.Parse(target)
	if err != nil || hasBreak(target) || strings.ContainsAny(target, "<> \t") ||
		(u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return validate.New(pkg, "list_unsubscribe", "must be an http or https URL")
	}
	if u.Scheme == "https" {
		return msg.SetListUnsubscribeOneClick(target)
	}
	msg.SetListUnsubscribe(target)
	return nil
}

// messageID returns the Message-ID's content (without the angle
// brackets): the notification's id at the sender's domain, so that every
// attempt of a notification, on any provider, carries the same id and
// mailboxes that deduplicate on it show a retried message once. Without a
// usable notification id it is random.
func (p *Provider) messageID(notificationID string) string {
	if notificationID != "" && len(notificationID) <= 128 && isDotAtom(notificationID) {
		return notificationID + "@" + p.fromDomain
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "@" + p.fromDomain
}

// isDotAtom reports whether s is an RFC 5322 dot-atom-text, the form a
// Message-ID's left part must have.
func isDotAtom(s string) bool {
	if s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0:
		default:
			return false
		}
	}
	return true
}
