package notify

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func requireBadRecipient(t *testing.T, err error, field string) *RecipientError {
	t.Helper()
	require.ErrorIs(t, err, ErrBadRecipient)
	var re *RecipientError
	require.True(t, errors.As(err, &re))
	require.Equal(t, field, re.Field)
	require.NotEmpty(t, re.Rule)
	return re
}

func TestCheckEmail(t *testing.T) {
	good := []string{
		"a@b.c",
		"jane@example.com",
		"jane.doe+weddings@mail.example.co.uk",
		"o'brien@example.ie",
		"x@xn--bcher-kva.example",
		"user_name-1@sub-domain.example.org",
		strings.Repeat("a", 64) + "@example.com",
		strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61), // 254 bytes
	}
	for _, addr := range good {
		require.NoError(t, checkEmail(addr), "%q (%d bytes)", addr, len(addr))
	}
	bad := []string{
		"",
		"jane",
		"jane@",
		"@example.com",
		"jane@localhost",
		"jane@example",
		"Jane <jane@example.com>",
		"<jane@example.com>",
		"jane@example.com, john@example.com",
		" jane@example.com",
		"jane@example.com ",
		"jane@example.com\r\nBcc: all@example.com",
		"jane@exam\nple.com",
		"jane@@example.com",
		"jane@-example.com",
		"jane@example-.com",
		"jane@example..com",
		"jane@.example.com",
		"jane@example.com.",
		"jane@exa_mple.com",
		"jane@[192.0.2.1]",
		"jane@192.0.2.1",
		"jane@bücher.example",
		`"jane doe"@example.com`,
		"jane doe@example.com",
		"jane@example.com (Jane)",
		strings.Repeat("a", 65) + "@example.com",
		"a@" + strings.Repeat("b", 64) + ".com",
		strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 62), // 255 bytes
	}
	for _, addr := range bad {
		err := checkEmail(addr)
		require.Error(t, err, "%q", addr)
		re := requireBadRecipient(t, err, "recipient.email")
		if len(addr) > 8 {
			msg := strings.ReplaceAll(re.Error(), "name@example.com", "")
			require.NotContains(t, msg, addr, "the error echoes the address")
		}
		require.False(t, strings.ContainsAny(re.Error(), "\r\n"), "line break in %q", re.Error())
	}
	re := requireBadRecipient(t, checkEmail("Jane <jane.doe@example.com>"), "recipient.email")
	require.Equal(t, "must be a plain address like name@example.com, got J***@e***", re.Rule)
}

func TestCheckPhone(t *testing.T) {
	good := []string{
		"+447400123456", // UK mobile, libphonenumber's example
		"+447911123456", // Guernsey mobile (+44 too)
		"+14155552671",  // US, San Francisco
		"+12015550123",  // US, libphonenumber's example
		"+33612345678",  // France mobile
		"+61412345678",  // Australia mobile
		"+919876543210", // India mobile
		"+6421234567",   // New Zealand mobile
	}
	for _, num := range good {
		require.NoError(t, checkPhone(num), num)
	}
	tests := []struct {
		num  string
		rule string // part of the rule
	}{
		{"", "E.164"},
		{"+1 415 555 2671", "E.164"},
		{"+1-415-555-2671", "E.164"},
		{"07700900123", "E.164"},
		{"447700900123", "E.164"},
		{"+44 7700 900123", "E.164"},
		{"+44(0)7700900123", "E.164"},
		{"+1234567", "E.164"},          // 7 digits
		{"+1234567890123456", "E.164"}, // 16 digits
		{"++447700900123", "E.164"},
		{"+447700900123\n", "E.164"},
		{"+٤٤٧٧٠٠٩٠٠١٢٣", "E.164"}, // Arabic-Indic digits
		{"+99912345678", "not a valid"},
		{"+999123456789012", "not a valid"},
		{"+4477009001", "not a valid"},    // too short for a UK mobile
		{"+4407700900123", "not a valid"}, // national prefix kept
	}
	for _, tt := range tests {
		err := checkPhone(tt.num)
		require.Error(t, err, "%q", tt.num)
		re := requireBadRecipient(t, err, "recipient.phone")
		require.Contains(t, re.Rule, tt.rule, tt.num)
		if len(tt.num) > 8 {
			require.NotContains(t, re.Error(), tt.num, "the error echoes the number")
		}
	}
	re := requireBadRecipient(t, checkPhone("+1 415 555 2671"), "recipient.phone")
	require.Equal(t, "must be an E.164 number like +447400123456, got +1 *********671", re.Rule)
	re = requireBadRecipient(t, checkPhone("+99912345678"), "recipient.phone")
	require.Equal(t, "is not a valid phone number: +99******678", re.Rule)
}

func TestCheckTimeZone(t *testing.T) {
	for _, tz := range []string{"", "UTC"} {
		loc, err := checkTimeZone(tz)
		require.NoError(t, err)
		require.Same(t, time.UTC, loc)
	}
	for _, tz := range []string{"Europe/London", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "Etc/GMT+5"} {
		loc, err := checkTimeZone(tz)
		require.NoError(t, err)
		require.Equal(t, tz, loc.String())
		again, err := checkTimeZone(tz)
		require.NoError(t, err)
		require.Same(t, loc, again, "cached")
	}
	for _, tz := range []string{"Local", "Europe/Londn", "europe/london", "../../etc/passwd", "/etc/localtime",
		"Europe/London ", "GMT+1", strings.Repeat("A", 300), "Europe\x00London"} {
		_, err := checkTimeZone(tz)
		require.ErrorIs(t, err, ErrInvalid, "%q", tz)
		var ve *ValidationError
		require.True(t, errors.As(err, &ve))
		require.Equal(t, "recipient.time_zone", ve.Field)
		_, cached := locations.Load(tz)
		require.False(t, cached, "failures are not cached: %q", tz)
	}
}

func TestRecipientValidate(t *testing.T) {
	ok := Recipient{SupplierID: "sup_123", VendorType: VendorPhotographer, TimeZone: "Europe/London", Locale: "en-GB",
		Email: "not an address", Phone: "not a number"}
	require.NoError(t, ok.validate(), "email and phone are not checked here")
	require.NoError(t, (&Recipient{SupplierID: "x"}).validate())

	tests := []struct {
		name   string
		change func(r *Recipient)
		field  string
	}{
		{"no supplier", func(r *Recipient) { r.SupplierID = "" }, "recipient.supplier_id"},
		{"supplier too long", func(r *Recipient) { r.SupplierID = strings.Repeat("é", 256) }, "recipient.supplier_id"},
		{"supplier 255 characters", func(r *Recipient) { r.SupplierID = strings.Repeat("é", 255) }, ""},
		{"supplier with newline", func(r *Recipient) { r.SupplierID = "sup\n1" }, "recipient.supplier_id"},
		{"supplier with NUL", func(r *Recipient) { r.SupplierID = "sup\x001" }, "recipient.supplier_id"},
		{"supplier not UTF-8", func(r *Recipient) { r.SupplierID = "sup\xff" }, "recipient.supplier_id"},
		{"vendor type capitals", func(r *Recipient) { r.VendorType = "Photographer" }, "recipient.vendor_type"},
		{"vendor type space", func(r *Recipient) { r.VendorType = "hair stylist" }, "recipient.vendor_type"},
		{"vendor type custom", func(r *Recipient) { r.VendorType = "hair_stylist" }, ""},
		{"vendor type empty", func(r *Recipient) { r.VendorType = "" }, ""},
		{"vendor type too long", func(r *Recipient) { r.VendorType = strings.Repeat("a", 51) }, "recipient.vendor_type"},
		{"time zone", func(r *Recipient) { r.TimeZone = "Mars/Olympus" }, "recipient.time_zone"},
		{"time zone Local", func(r *Recipient) { r.TimeZone = "Local" }, "recipient.time_zone"},
		{"locale underscore", func(r *Recipient) { r.Locale = "en_GB" }, "recipient.locale"},
		{"locale one letter", func(r *Recipient) { r.Locale = "e" }, "recipient.locale"},
		{"locale trailing dash", func(r *Recipient) { r.Locale = "en-" }, "recipient.locale"},
		{"locale digits first", func(r *Recipient) { r.Locale = "419" }, "recipient.locale"},
		{"locale long subtag", func(r *Recipient) { r.Locale = "en-abcdefghi" }, "recipient.locale"},
		{"locale too long", func(r *Recipient) { r.Locale = "en-" + strings.Repeat("abcdefgh-", 4) }, "recipient.locale"},
		{"locale es-419", func(r *Recipient) { r.Locale = "es-419" }, ""},
		{"locale zh-Hant-TW", func(r *Recipient) { r.Locale = "zh-Hant-TW" }, ""},
		{"locale fr", func(r *Recipient) { r.Locale = "fr" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			tt.change(&r)
			err := r.validate()
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalid)
			var ve *ValidationError
			require.True(t, errors.As(err, &ve))
			require.Equal(t, tt.field, ve.Field)
		})
	}
}

func TestMaskRecipient(t *testing.T) {
	tests := []struct {
		ch       Channel
		to, want string
	}{
		{ChannelEmail, "jane.doe@example.com", "j***@e***.com"},
		{ChannelEmail, "jane@mail.example.co.uk", "j***@m***.uk"},
		{ChannelEmail, "a@b.c", "a***@b***"},
		{ChannelEmail, "@example.com", "***@e***.com"},
		{ChannelEmail, "józef@example.pl", "j***@e***.pl"},
		{ChannelEmail, "Jane <jane@example.com>", "J***@e***"}, // the tld "com>" is not letters
		{ChannelEmail, "\njane@example.com", "****@e***.com"},
		{ChannelEmail, "not an address", "no…"},
		{ChannelEmail, "a@b", "***"},
		{ChannelSMS, "+447700900123", "+44*******123"},
		{ChannelSMS, "+14155552671", "+14******671"},
		{ChannelSMS, "+1 415 555 2671", "+1 *********671"},
		{ChannelSMS, "+1234567", "+12**567"},
		{ChannelSMS, "+123456", "***"},
		{ChannelSMS, "", "***"},
		{ChannelPush, "https://fcm.googleapis.com/fcm/send/dXNlcl90b2tlbg:APA91b", "https://fcm.googleapis.com/…"},
		{ChannelPush, "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk", "https://updates.push.services.mozilla.com/…"},
		{ChannelPush, "https://user:secret@push.example.com/x", "https://push.example.com/…"},
		{ChannelPush, "ftp://push.example.com/x", "ft…"},
		{ChannelPush, "dXNlcl90b2tlbjpBUEE5MWJIUE5NS0w3eTg", "dXNlcl…"},
		{ChannelPush, "short_token", "***"},
		{ChannelInApp, "sup_123456", "su…"},
		{"fax", "+447700900123", "+4…"},
		{ChannelEmail, "abcd", "***"},
		{ChannelEmail, "a***@b***.com", "***"}, // masking would give the input back
	}
	for _, tt := range tests {
		got := MaskRecipient(tt.ch, tt.to)
		require.Equal(t, tt.want, got, "%s %q", tt.ch, tt.to)
		if len(tt.to) > 8 {
			require.NotContains(t, got, tt.to)
		}
	}
}

func FuzzRecipientParsing(f *testing.F) {
	for _, s := range []string{"jane@example.com", "a@b.c", "Jane <jane@example.com>", "+447700900123", "+14155552671",
		"+1 415 555 2671", "07700900123", "+99912345678", "https://fcm.googleapis.com/fcm/send/abc", "dXNlcl90b2tlbg",
		"a***@b***.com", "\"a b\"@example.com", "x@[127.0.0.1]", "+٤٤٧٧٠٠٩٠٠١٢٣", "\xff@\xfe.com", "Europe/London"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := checkEmail(s); err == nil {
			require.NoError(t, checkEmail(s), "re-validates")
			a, err := mail.ParseAddress(s)
			require.NoError(t, err)
			require.Equal(t, s, a.Address)
			require.Empty(t, a.Name)
			require.LessOrEqual(t, len(s), maxEmail)
			require.False(t, strings.ContainsAny(s, "\r\n \t"))
		} else {
			requireBadRecipient(t, err, "recipient.email")
		}
		if err := checkPhone(s); err == nil {
			require.NoError(t, checkPhone(s), "re-validates")
			require.Equal(t, byte('+'), s[0])
			require.True(t, allDigits(s[1:]))
		} else {
			requireBadRecipient(t, err, "recipient.phone")
		}
		if loc, err := checkTimeZone(s); err == nil {
			require.NotNil(t, loc)
			require.NotEqual(t, "Local", loc.String())
		}
		for _, ch := range append(AllChannels(), "other") {
			m := MaskRecipient(ch, s)
			require.True(t, utf8.ValidString(m), "%q", m)
			require.False(t, strings.ContainsFunc(m, unicode.IsControl), "%q", m)
			if len(s) > 8 {
				require.NotContains(t, m, s, "%s mask of %q", ch, s)
			}
		}
	})
}

func BenchmarkCheckTimeZone(b *testing.B) {
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := checkTimeZone("Europe/London"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("LoadLocation", func(b *testing.B) {
		for b.Loop() {
			if _, err := time.LoadLocation("Europe/London"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func ExampleMaskRecipient() {
	fmt.Println(MaskRecipient(ChannelEmail, "jane.doe@example.com"))
	fmt.Println(MaskRecipient(ChannelSMS, "+447700900123"))
	fmt.Println(MaskRecipient(ChannelPush, "https://fcm.googleapis.com/fcm/send/dXNlcl90b2tlbg:APA91b"))
	// Output:
	// j***@e***.com
	// +44*******123
	// https://fcm.googleapis.com/…
}
