package notify

import (
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// Limits of recipients.
const (
	maxSupplierID   = 255
	maxVendorType   = 50
	maxLocale       = 35
	maxEmail        = 254 // RFC 5321's path limit less the angle brackets
	maxEmailLocal   = 64
	maxDomainLabel  = 63
	minPhoneDigits  = 8
	maxPhoneDigits  = 15 // E.164
	maxTimeZoneName = 255
)

// checkEmail checks an address for ChannelEmail: a bare address as
// net/mail parses it ("name@example.com": no display name, no list, no
// surrounding spaces, no line breaks), a local part of at most 64 bytes, a
// domain of dot-separated letter-digit-hyphen labels (at least two; the last
// not all digits), at most 254 bytes in all. The error is a *RecipientError
// for recipient.email, and shows the address masked.
func checkEmail(addr string) error {
	bad := func(rule string) error {
		return BadRecipient("recipient.email", "%s, got %s", rule, MaskRecipient(ChannelEmail, addr))
	}
	if addr == "" {
		return BadRecipient("recipient.email", "is empty")
	}
	if strings.ContainsAny(addr, "\r\n") {
		return bad("must not contain line breaks")
	}
	if len(addr) > maxEmail {
		return BadRecipient("recipient.email", "must be at most %d bytes, got %d", maxEmail, len(addr))
	}
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Name != "" || a.Address != addr {
		return bad("must be a plain address like name@example.com")
	}
	at := strings.LastIndexByte(addr, '@')
	local, domain := addr[:at], addr[at+1:]
	if len(local) > maxEmailLocal {
		return bad("the part before @ must be at most 64 bytes")
	}
	for _, r := range local {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return bad("the part before @ must not contain spaces or control characters")
		}
	}
	if !validDomain(domain) {
		return bad("the domain must be a host name like example.com")
	}
	return nil
}

// validDomain reports whether d is a host name of at least two labels of
// letters, digits and hyphens (not first or last), each 1 to 63 bytes, the
// last not all digits (so not an IP address).
func validDomain(d string) bool {
	if len(d) > maxEmail || !strings.Contains(d, ".") {
		return false
	}
	labels := strings.Split(d, ".")
	for _, l := range labels {
		if len(l) == 0 || len(l) > maxDomainLabel || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := range len(l) {
			if c := l[i]; !isASCIIAlnum(c) && c != '-' {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	return strings.ContainsFunc(tld, func(r rune) bool { return r < '0' || r > '9' })
}

// checkPhone checks a number for ChannelSMS: E.164 ("+" and 8 to 15
// digits, nothing else) and a valid number by libphonenumber's metadata
// (github.com/nyaruka/phonenumbers), written as libphonenumber writes it.
// Numbers reserved for fiction are not valid numbers: Ofcom's drama range
// +44 7700 900000 to 900999, say, which the metadata leaves unassigned.
// The error is a *RecipientError for recipient.phone, and shows the number
// masked.
func checkPhone(num string) error {
	masked := MaskRecipient(ChannelSMS, num)
	if len(num) < 1+minPhoneDigits || len(num) > 1+maxPhoneDigits || num[0] != '+' || !allDigits(num[1:]) {
		return BadRecipient("recipient.phone", "must be an E.164 number like +447400123456, got %s", masked)
	}
	n, err := phonenumbers.Parse(num, "")
	// Possible, not valid: libphonenumber's validity tables lag behind the
	// numbering plans (v1.8.1 calls Ofcom's +44 7700 900xxx drama range
	// invalid), and whether a number is allocated is the SMS provider's
	// call (Twilio's 21211). Possible still refuses wrong lengths and
	// country codes.
	if err != nil || phonenumbers.IsPossibleNumberWithReason(n) != phonenumbers.IS_POSSIBLE ||
		phonenumbers.Format(n, phonenumbers.E164) != num {
		return BadRecipient("recipient.phone", "is not a valid phone number: %s", masked)
	}
	return nil
}

// locations caches loaded time zones by name: time.LoadLocation reads and
// parses the zoneinfo on every call, and every notification needs its
// supplier's zone. Only zones that loaded are kept, so the cache is bounded
// by the zoneinfo database (about 600 names).
var locations sync.Map // string -> *time.Location

// checkTimeZone loads the IANA zone tz; "" is UTC. "Local" is refused: it
// is the server's zone, not the supplier's.
func checkTimeZone(tz string) (*time.Location, error) {
	if tz == "" || tz == "UTC" {
		return time.UTC, nil
	}
	if l, ok := locations.Load(tz); ok {
		return l.(*time.Location), nil
	}
	bad := func() error {
		return invalid("recipient.time_zone", "must be an IANA time zone like Europe/London, got %q", clip(tz))
	}
	if tz == "Local" || len(tz) > maxTimeZoneName {
		return nil, bad()
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, bad()
	}
	l, _ := locations.LoadOrStore(tz, loc)
	return l.(*time.Location), nil
}

// validate checks what Send refuses outright: supplier_id (1 to 255
// characters, no control characters), vendor_type (0 to 50 of a-z, 0-9 and
// _), time_zone (an IANA zone) and locale (a BCP 47 tag such as en-GB:
// subtags of 1 to 8 letters and digits joined by '-', the first of 2 to 8
// letters; at most 35 characters). Email and phone are not checked here: a
// bad one fails its channel only (checkEmail, checkPhone).
func (r *Recipient) validate() error {
	switch n := utf8.RuneCountInString(r.SupplierID); {
	case r.SupplierID == "":
		return invalid("recipient.supplier_id", "is required")
	case n > maxSupplierID:
		return invalid("recipient.supplier_id", "must be at most %d characters, got %d", maxSupplierID, n)
	case !utf8.ValidString(r.SupplierID) || strings.ContainsFunc(r.SupplierID, unicode.IsControl):
		return invalid("recipient.supplier_id", "must be UTF-8 text without control characters")
	}
	if len(r.VendorType) > maxVendorType || (r.VendorType != "" && !validCategoryName(r.VendorType)) {
		return invalid("recipient.vendor_type", "must be at most %d of a-z, 0-9 and _, got %q", maxVendorType, clip(r.VendorType))
	}
	if _, err := checkTimeZone(r.TimeZone); err != nil {
		return err
	}
	if r.Locale != "" && !validLocale(r.Locale) {
		return invalid("recipient.locale", "must be a BCP 47 language tag like en-GB or fr, got %q", clip(r.Locale))
	}
	return nil
}

func validLocale(s string) bool {
	if len(s) > maxLocale {
		return false
	}
	for i, sub := range strings.Split(s, "-") {
		if len(sub) == 0 || len(sub) > 8 || (i == 0 && len(sub) < 2) {
			return false
		}
		for j := range len(sub) {
			if c := sub[j]; !isASCIIAlnum(c) || (i == 0 && c >= '0' && c <= '9') {
				return false
			}
		}
	}
	return true
}

// MaskRecipient hides most of a recipient address for logs, statuses and
// the attempt log, keeping enough to tell addresses apart:
//
//	ChannelEmail  jane.doe@example.com                -> j***@e***.com
//	ChannelSMS    +447700900123                       -> +44*******123
//	ChannelPush   https://fcm.googleapis.com/fcm/...  -> https://fcm.googleapis.com/…
//	ChannelPush   an FCM registration token           -> its first 6 characters and …
//
// Anything else (another channel, or a value that is not of the channel's
// form) keeps its first two characters. Values of a few characters become
// "***", and the result never contains a value longer than 8 bytes whole,
// nor control characters.
func MaskRecipient(ch Channel, to string) string {
	const short = "***"
	rs := []rune(to) // invalid UTF-8 becomes U+FFFD, so no raw bytes leak
	var out string
	switch {
	case len(rs) <= 4:
		return short
	case ch == ChannelEmail && strings.Contains(to, "@"):
		out = maskEmail(to)
	case ch == ChannelSMS:
		if len(rs) < 8 {
			return short
		}
		out = string(rs[:3]) + strings.Repeat("*", len(rs)-6) + string(rs[len(rs)-3:])
	case ch == ChannelPush && strings.Contains(to, "://"):
		u, err := url.Parse(to)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			out = string(rs[:2]) + "…"
		} else {
			out = u.Scheme + "://" + u.Host + "/…"
		}
	case ch == ChannelPush:
		if len(rs) < 12 {
			return short
		}
		out = string(rs[:6]) + "…"
	default:
		out = string(rs[:2]) + "…"
	}
	out = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return '*'
		}
		return r
	}, out)
	if len(to) > 8 && strings.Contains(out, to) {
		return short
	}
	return out
}

// maskEmail keeps the first character of the local part and of the domain,
// and the top-level domain when it is 2 to 24 letters.
func maskEmail(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	local, domain := addr[:at], addr[at+1:]
	first := func(s string) string {
		if s == "" {
			return ""
		}
		r, _ := utf8.DecodeRuneInString(s)
		return string(r)
	}
	out := first(local) + "***@" + first(domain) + "***"
	if dot := strings.LastIndexByte(domain, '.'); dot > 0 {
		if tld := domain[dot+1:]; len(tld) >= 2 && len(tld) <= 24 && !strings.ContainsFunc(tld, func(r rune) bool {
			return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z')
		}) {
			out += "." + tld
		}
	}
	return out
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isASCIIAlnum(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}
