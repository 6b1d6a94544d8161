// Package ids makes the SDK's record ids: a short prefix that says what the
// record is ("msg_", "ntf_") and a UUIDv7 in hex. Version 7 UUIDs start with
// the time, so ids sort by creation time (lists page by id) and index well.
package ids

import "github.com/google/uuid"

// New returns prefix followed by a new UUIDv7 in 32 hex digits.
func New(prefix string) string {
	u, err := uuid.NewV7()
	if err != nil {
		u = uuid.New()
	}
	b := make([]byte, 0, len(prefix)+32)
	b = append(b, prefix...)
	const hexd = "0123456789abcdef"
	for _, c := range u {
		b = append(b, hexd[c>>4], hexd[c&15])
	}
	return string(b)
}
