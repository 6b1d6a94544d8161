package webpush

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"unicode/utf8"

	wp "github.com/SherClockHolmes/webpush-go"

	"github.com/wedsync/integrations/notify"
)

// MaxPayloadSize is the largest plaintext, in bytes, that a push message
// carries: webpush-go encrypts into one 4,096-byte record (RFC 8030 asks push
// services to accept at least 4,096 bytes), less the 86-byte aes128gcm
// header, the 16-byte AES-GCM tag and the 1-byte padding delimiter.
const MaxPayloadSize = int(wp.MaxRecordSize) - 86 - 16 - 1

// ellipsis ends a cut body or title.
const ellipsis = "…"

// Payload is the JSON that the browser's service worker receives in the
// push event (event.data.json()). Every field is always present.
type Payload struct {
	// Title is the message's Subject.
	Title string `json:"title"`
	// Body is the message's Text, cut to fit MaxPayloadSize if need be.
	Body string `json:"body"`
	// URL is where a click on the notification leads ("" for none).
	URL string `json:"url"`
	// NotificationID identifies the notification, for acknowledgement.
	NotificationID string          `json:"notification_id"`
	Category       notify.Category `json:"category"`
	Priority       notify.Priority `json:"priority"`
}

func marshal(pl Payload) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<" as is, not \u003c: more text fits
	_ = enc.Encode(pl)       // strings only: cannot fail
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// encodePayload marshals pl into at most MaxPayloadSize bytes: when it is
// too long, the body is cut on a character boundary and ended with "…";
// when even an empty body is too long, the title is cut the same way.
func encodePayload(pl Payload) ([]byte, error) {
	// JSON never encodes a string shorter than its bytes (an invalid byte
	// becomes the 3-byte U+FFFD), so a payload whose texts alone are too
	// long is not marshalled whole: a body of megabytes costs no more than
	// one of 4 KB.
	raw := len(pl.Title) + len(pl.Body) + len(pl.URL) + len(pl.NotificationID) + len(pl.Category) + len(pl.Priority)
	if raw <= MaxPayloadSize {
		if b := marshal(pl); len(b) <= MaxPayloadSize {
			return b, nil
		}
	}
	body := pl.Body
	pl.Body = ""
	if len(marshal(pl)) <= MaxPayloadSize {
		pl.Body = fit(body, func(s string) bool { pl.Body = s; return len(marshal(pl)) <= MaxPayloadSize })
		return marshal(pl), nil
	}
	title := pl.Title
	pl.Title = ""
	if len(marshal(pl)) <= MaxPayloadSize {
		pl.Title = fit(title, func(s string) bool { pl.Title = s; return len(marshal(pl)) <= MaxPayloadSize })
		return marshal(pl), nil
	}
	return nil, fmt.Errorf("webpush: payload: url, notification id, category and priority alone exceed the %d bytes of a push message: %w",
		MaxPayloadSize, ErrPayloadTooLarge)
}

// fit returns the longest prefix of s, cut on a rune boundary and followed
// by "…", that fits (fits is monotonic in the prefix's length), or "" when
// not even "…" fits.
func fit(s string, fits func(string) bool) string {
	// No prefix longer than MaxPayloadSize bytes can fit (see above).
	if len(s) > MaxPayloadSize {
		t := MaxPayloadSize
		for t > 0 && !utf8.RuneStart(s[t]) {
			t--
		}
		s = s[:t]
	}
	var cuts []int // rune starts in s: the prefixes s[:cut]
	for i := range s {
		cuts = append(cuts, i)
	}
	// The largest cut whose prefix fits; cuts[0] = 0 is "…" alone.
	n := sort.Search(len(cuts), func(i int) bool { return !fits(s[:cuts[i]] + ellipsis) })
	var out string
	if n > 0 {
		out = s[:cuts[n-1]] + ellipsis
	}
	return out
}
