package notify

import "time"

// Preferences are one supplier's notification settings (Knock's and Novu's
// model: a global switch, per-category channel switches, quiet hours and
// digests). A supplier without stored preferences gets its vendor type's
// defaults (DefaultPreferences, or WithDefaultPreferences).
type Preferences struct {
	// Muted is the global switch: when true nothing is sent on any channel
	// but in-app (kept in the inbox, so nothing is lost). Default false.
	Muted bool `json:"muted"`
	// Categories sets each category's channels and digest.
	Categories map[Category]CategoryPreferences `json:"categories,omitempty"`
	// Default applies to categories not in Categories.
	Default CategoryPreferences `json:"default"`
	// Escalation is the order in which a critical notification goes out,
	// one channel at a time until it is acknowledged. Channels the
	// category turns off are skipped; in-app is never part of it (it
	// always goes at once). Defaults to push, sms, email.
	Escalation []Channel `json:"escalation,omitempty"`
	// QuietHours are weekly windows, in the recipient's time zone, in which
	// normal notifications wait (critical ones do not).
	QuietHours []QuietWindow `json:"quiet_hours,omitempty"`
}

// CategoryPreferences are the settings of one category.
type CategoryPreferences struct {
	// Channels switches each channel on (true) or off (false or absent).
	Channels map[Channel]bool `json:"channels"`
	// Digest, when positive, batches the category's normal notifications
	// on email, SMS and push into one message per window of this length,
	// which opens with the first item. Zero sends each item at once.
	Digest time.Duration `json:"digest,omitempty"`
}

// QuietWindow is a weekly window of quiet, in the recipient's local time:
// it starts at Start on each of Days and ends at End, the next day when End
// is not after Start ("22:00" to "07:00").
type QuietWindow struct {
	// Days are the days the window starts on; empty means every day.
	Days []time.Weekday `json:"days,omitempty"`
	// Start and End are local wall-clock times, "HH:MM" (24-hour).
	Start string `json:"start"`
	End   string `json:"end"`
}

// DefaultPreferences returns the defaults of a vendor type (see the Vendor
// constants); unknown types get VendorOther's.
func DefaultPreferences(vendorType string) Preferences {
	panic("TODO(preferences helper)")
}

// Validate reports the first bad field as a *ValidationError whose Field is
// the JSON path ("quiet_hours[1].start", "categories.booking.channels.fax",
// "escalation[0]").
func (p Preferences) Validate() error {
	panic("TODO(preferences helper)")
}

// Allows reports whether ch is on for category c (Muted turns everything but
// in-app off).
func (p Preferences) Allows(c Category, ch Channel) bool {
	panic("TODO(preferences helper)")
}

// DigestWindow is the digest window of category c (zero: no digest).
func (p Preferences) DigestWindow(c Category) time.Duration {
	panic("TODO(preferences helper)")
}

// EscalationOrder is the escalation order for category c: Escalation (or
// its default) without the channels c turns off, without in-app.
func (p Preferences) EscalationOrder(c Category) []Channel {
	panic("TODO(preferences helper)")
}

// QuietUntil reports whether now falls in quiet hours in loc, and if so when
// the quiet ends: the end of the window now is in, extended through windows
// that overlap or touch it. Wall-clock times are read in loc on the day they
// fall, so a window keeps its local times across DST changes (a local time
// that does not exist that day is read as time.Date normalises it).
func (p Preferences) QuietUntil(now time.Time, loc *time.Location) (time.Time, bool) {
	panic("TODO(preferences helper)")
}
