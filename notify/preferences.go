package notify

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"time"
)

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
	// Start and End are local wall-clock times, "HH:MM" (24-hour). Start
	// is 00:00 to 23:59; End is 00:00 to 24:00 (24:00 is the end of the
	// start day) and differs from Start.
	Start string `json:"start"`
	End   string `json:"end"`
}

// Limits of Preferences, as Validate enforces them.
const (
	maxCategoryName = 50
	maxQuietWindows = 14
	minDigest       = time.Minute
	maxDigest       = 7 * 24 * time.Hour
	minutesPerDay   = 24 * 60
	minutesPerWeek  = 7 * minutesPerDay
	// quietHorizonDays bounds how far ahead QuietUntil follows a chain of
	// windows. Windows that Validate accepts leave some time of the week
	// free, so a chain ends within two weeks (one, unless the free time
	// falls in the hour a DST change skips).
	quietHorizonDays = 16
)

// defaultEscalation is the escalation order when Preferences.Escalation is
// empty.
var defaultEscalation = [...]Channel{ChannelPush, ChannelSMS, ChannelEmail}

// DefaultPreferences returns the defaults of a vendor type (see the Vendor
// constants); unknown types, and "", get VendorOther's. Each call returns
// new maps and slices, so the caller may change them.
//
// The baseline, which VendorOther gets as it is ("-" is off; "default" is
// Preferences.Default, which covers categories not listed):
//
//	category           push  sms  email  in_app  digest
//	booking            on    -    on     on      -
//	enquiry            on    -    on     on      -
//	payment            on    on   on     on      -
//	message            on    -    on     on      -
//	review             -     -    on     on      24h
//	calendar_conflict  on    on   on     on      -
//	timeline           -     -    on     on      1h
//	system             -     -    on     on      -
//	default            -     -    on     on      -
//
// Payments and calendar conflicts go by SMS for everyone: a failed payment
// or a double booking needs the supplier today. Escalation is push, then
// SMS, then email. Quiet hours are every day from 22:00 to 07:00.
//
// The vendor types differ from the baseline where their working week does:
//
//	vendor type                 differs in
//	photographer, videographer  booking: SMS on (on shoots at weekends, away from email and the app)
//	music                       booking: SMS on (performing at weddings at weekends, as photographers shoot them)
//	venue                       enquiry: 1 h digest (office-based, many enquiries a day)
//	planner                     enquiry: 1 h digest (as venues); timeline: push on, no digest (they run the day)
//	caterer                     timeline: SMS and push on, no digest (a guest count change alters the order)
//	florist                     timeline: push on (delivery times and set-up access change late)
func DefaultPreferences(vendorType string) Preferences {
	on := func(chs ...Channel) CategoryPreferences {
		m := make(map[Channel]bool, len(chs))
		for _, ch := range chs {
			m[ch] = true
		}
		return CategoryPreferences{Channels: m}
	}
	digest := func(c CategoryPreferences, d time.Duration) CategoryPreferences {
		c.Digest = d
		return c
	}
	p := Preferences{
		Default: on(ChannelEmail, ChannelInApp),
		Categories: map[Category]CategoryPreferences{
			CategoryBooking:          on(ChannelPush, ChannelEmail, ChannelInApp),
			CategoryEnquiry:          on(ChannelPush, ChannelEmail, ChannelInApp),
			CategoryPayment:          on(ChannelPush, ChannelSMS, ChannelEmail, ChannelInApp),
			CategoryMessage:          on(ChannelPush, ChannelEmail, ChannelInApp),
			CategoryReview:           digest(on(ChannelEmail, ChannelInApp), 24*time.Hour),
			CategoryCalendarConflict: on(ChannelPush, ChannelSMS, ChannelEmail, ChannelInApp),
			CategoryTimeline:         digest(on(ChannelEmail, ChannelInApp), time.Hour),
			CategorySystem:           on(ChannelEmail, ChannelInApp),
		},
		Escalation: slices.Clone(defaultEscalation[:]),
		QuietHours: []QuietWindow{{Start: "22:00", End: "07:00"}},
	}
	c := p.Categories
	switch vendorType {
	case VendorPhotographer, VendorVideographer, VendorMusic:
		c[CategoryBooking].Channels[ChannelSMS] = true
	case VendorVenue:
		c[CategoryEnquiry] = digest(c[CategoryEnquiry], time.Hour)
	case VendorPlanner:
		c[CategoryEnquiry] = digest(c[CategoryEnquiry], time.Hour)
		c[CategoryTimeline] = on(ChannelPush, ChannelEmail, ChannelInApp)
	case VendorCaterer:
		c[CategoryTimeline] = on(ChannelPush, ChannelSMS, ChannelEmail, ChannelInApp)
	case VendorFlorist:
		c[CategoryTimeline].Channels[ChannelPush] = true
	}
	return p
}

// Validate reports the first bad field as a *ValidationError whose Field is
// the JSON path ("quiet_hours[1].start", "categories.booking.channels.fax",
// "escalation[0]"). It checks, in this order:
//
//   - default and each category (in name order): category names are 1 to 50
//     of a-z, 0-9 and _; channel keys are channels; a digest is 0 or from
//     1 minute to 7 days;
//   - escalation: channels, not in_app, none twice;
//   - quiet_hours: at most 14 windows; Start "00:00" to "23:59", End
//     "00:00" to "24:00", End differs from Start; days 0 (Sunday) to 6
//     (Saturday), none twice; and the windows leave some time of the week
//     free (to silence everything but in-app, set Muted).
func (p Preferences) Validate() error {
	if err := validateCategory("default", p.Default); err != nil {
		return err
	}
	for _, c := range slices.Sorted(maps.Keys(p.Categories)) {
		field := "categories." + pathKey(string(c))
		if !validCategoryName(string(c)) {
			return invalid(field, "a category name is 1 to %d of a-z, 0-9 and _", maxCategoryName)
		}
		if err := validateCategory(field, p.Categories[c]); err != nil {
			return err
		}
	}
	for i, ch := range p.Escalation {
		field := "escalation[" + strconv.Itoa(i) + "]"
		switch {
		case !ch.Valid():
			return invalid(field, "must be push, sms or email, got %q", clip(string(ch)))
		case ch == ChannelInApp:
			return invalid(field, "in_app cannot escalate: it always goes at once")
		case slices.Contains(p.Escalation[:i], ch):
			return invalid(field, "%s is already in the escalation order", ch)
		}
	}
	if len(p.QuietHours) > maxQuietWindows {
		return invalid("quiet_hours", "at most %d windows, got %d", maxQuietWindows, len(p.QuietHours))
	}
	ws := make([]quietWindow, 0, len(p.QuietHours))
	for i, w := range p.QuietHours {
		qw, err := parseQuietWindow(w)
		if err != nil {
			return invalid("quiet_hours["+strconv.Itoa(i)+"]."+err.field, "%s", err.rule)
		}
		ws = append(ws, qw)
	}
	if coversWeek(ws) {
		return invalid("quiet_hours", "the windows cover the whole week, so only critical notifications could ever go out; set muted to silence everything but in-app")
	}
	return nil
}

func validateCategory(field string, c CategoryPreferences) error {
	for _, ch := range slices.Sorted(maps.Keys(c.Channels)) {
		if !ch.Valid() {
			return invalid(field+".channels."+pathKey(string(ch)), "not a channel: the channels are push, sms, email and in_app")
		}
	}
	if c.Digest != 0 && (c.Digest < minDigest || c.Digest > maxDigest) {
		return invalid(field+".digest", "must be 0 (no digest) or from %v to %v, got %v", minDigest, maxDigest, c.Digest)
	}
	return nil
}

// Allows reports whether ch is on for category c: the category's switch in
// Categories, or Default's when Categories has no entry for c. Muted turns
// every channel but in-app off; in-app keeps its category's switch.
func (p Preferences) Allows(c Category, ch Channel) bool {
	if !ch.Valid() || (p.Muted && ch != ChannelInApp) {
		return false
	}
	return p.category(c).Channels[ch]
}

// DigestWindow is the digest window of category c (zero: no digest), from
// Categories or, when it has no entry for c, from Default.
func (p Preferences) DigestWindow(c Category) time.Duration {
	return max(p.category(c).Digest, 0)
}

func (p Preferences) category(c Category) CategoryPreferences {
	if cp, ok := p.Categories[c]; ok {
		return cp
	}
	return p.Default
}

// EscalationOrder is the escalation order for category c: Escalation (or
// its default, push, sms, email, when empty) without the channels Allows
// turns off for c, without in-app, and without repeats. It is empty when
// c allows none of them, and when Muted is set. The slice is new.
func (p Preferences) EscalationOrder(c Category) []Channel {
	order := p.Escalation
	if len(order) == 0 {
		order = defaultEscalation[:]
	}
	out := make([]Channel, 0, len(order))
	for _, ch := range order {
		if ch != ChannelInApp && p.Allows(c, ch) && !slices.Contains(out, ch) {
			out = append(out, ch)
		}
	}
	return out
}

// QuietUntil reports whether now falls in quiet hours in loc (nil means
// UTC), and if so when the quiet ends: the end of the window now is in,
// extended through windows that overlap or touch it (Monday 22:00 to 24:00
// and Tuesday 00:00 to 07:00 end on Tuesday at 07:00). The quiet covers
// [start, end): a window is quiet at its start and no longer at its end.
//
// Wall-clock times are read in loc on the day they fall, so a window keeps
// its local times across DST changes: 22:00 to 07:00 ends at 07:00 local on
// the morning after the clocks change, whichever way they went, and the
// night is an hour shorter or longer in real time. Each time is read as the
// first instant at which the local clock shows it:
//
//   - a time the clocks skip is read as the instant they jump. On 29 March
//     2026 London goes from 01:00 GMT to 02:00 BST, so 01:30 is read as
//     02:00 BST (01:00 UTC); on 8 March 2026 New York goes from 02:00 EST
//     to 03:00 EDT, so 02:30 is read as 03:00 EDT. A window that ends in
//     the skipped hour thus ends when the clocks jump, and one that lies
//     inside it is empty that day;
//   - a time the clocks show twice is read as its first occurrence: on 1
//     November 2026 New York shows 01:00 to 01:59 twice, and 01:30 is read
//     as 01:30 EDT (05:30 UTC), not 01:30 EST.
//
// time.Date alone does not do this: its choice for these times is
// unspecified and, as the time package implements it, depends on the
// zone's offset (it reads 02:30 in New York on 8 March as 01:30 EST, an hour
// early, but 01:30 in London on 29 March as 02:30 BST, an hour late; the
// twice-shown 01:30 as EDT in New York but as GMT, the second one, in
// London). QuietUntil starts from time.Date and corrects it with the zone's
// transitions (Time.ZoneBounds).
//
// Windows that Validate would reject are ignored. A chain of windows is
// followed for at most 16 days, which only windows covering the whole week
// (which Validate rejects) reach.
func (p Preferences) QuietUntil(now time.Time, loc *time.Location) (time.Time, bool) {
	ws := make([]quietWindow, 0, len(p.QuietHours))
	for _, w := range p.QuietHours {
		if qw, err := parseQuietWindow(w); err == nil {
			ws = append(ws, qw)
		}
	}
	if len(ws) == 0 {
		return time.Time{}, false
	}
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := now.In(loc).Date()
	var spans []span
	addDay := func(k int) {
		day := time.Date(y, m, d+k, 0, 0, 0, 0, time.UTC) // the civil date, k days on
		for _, w := range ws {
			if w.days != 0 && w.days&(1<<day.Weekday()) == 0 {
				continue
			}
			dy, dm, dd := day.Date()
			end := dd
			if w.end <= w.start {
				end++
			}
			s := wallInstant(dy, dm, dd, w.start, loc)
			if e := wallInstant(dy, dm, end, w.end, loc); e.After(s) {
				spans = append(spans, span{s, e})
			}
		}
	}
	// A window that covers now started today or, overnight, yesterday;
	// the day before that is a margin.
	last := 1
	for k := -2; k <= last; k++ {
		addDay(k)
	}
	var end time.Time
	quiet := false
	for _, s := range spans {
		if !s.start.After(now) && s.end.After(now) && (!quiet || s.end.After(end)) {
			end, quiet = s.end, true
		}
	}
	if !quiet {
		return time.Time{}, false
	}
	for {
		grown := false
		for _, s := range spans {
			if !s.start.After(end) && s.end.After(end) {
				end, grown = s.end, true
			}
		}
		if grown {
			continue
		}
		// Windows of the next day start at its midnight or later: if that
		// is after end, nothing further can touch the chain.
		if last >= quietHorizonDays {
			break
		}
		next := time.Date(y, m, d+last+1, 0, 0, 0, 0, time.UTC)
		ny, nm, nd := next.Date()
		if wallInstant(ny, nm, nd, 0, loc).After(end) {
			break
		}
		last++
		addDay(last)
	}
	return end, true
}

type span struct{ start, end time.Time }

// wallInstant is the first instant at which the clock of loc shows minute
// (0 to 1440, 1440 being the next day's 00:00) of the civil date y-m-d, or,
// when the clocks skip that time, the instant they jump past it.
func wallInstant(y int, m time.Month, d, minute int, loc *time.Location) time.Time {
	want := time.Date(y, m, d, 0, minute, 0, 0, time.UTC) // normalises 24:00 and d past the month's end
	y, m, d = want.Date()
	hh, mm := want.Hour(), want.Minute()
	t := time.Date(y, m, d, hh, mm, 0, 0, loc)
	switch shown := wallClock(t); {
	case shown.Before(want):
		// time.Date used the offset after a skip, landing before it (New
		// York's 02:30 read as 01:30 EST): the clocks jump at the end of
		// t's zone period.
		if _, end := t.ZoneBounds(); !end.IsZero() {
			return end
		}
	case shown.After(want):
		// It used the offset before a skip, landing after it (London's
		// 01:30 read as 02:30 BST): the jump is where t's period starts.
		if start, _ := t.ZoneBounds(); !start.IsZero() {
			return start
		}
	default:
		// The clock shows want at t; it may have shown it already, in the
		// zone period before t's, if the clocks went back in between.
		// Offsets differ by at most 26 h (-12:00 to +14:00), so a period
		// that began earlier than that holds no earlier showing.
		start, _ := t.ZoneBounds()
		if start.IsZero() || t.Sub(start) > 48*time.Hour {
			return t
		}
		_, off := start.Add(-time.Second).Zone()
		if c := want.Add(-time.Duration(off) * time.Second).In(loc); c.Before(start) && wallClock(c).Equal(want) {
			return c
		}
	}
	return t
}

// wallClock is t's clock reading in its location, as a UTC time.
func wallClock(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// quietWindow is a QuietWindow parsed: days is a bitmask of weekdays (0 for
// every day); start and end are minutes of the day (end up to 1440).
type quietWindow struct {
	days       uint8
	start, end int
}

type windowError struct{ field, rule string }

func parseQuietWindow(w QuietWindow) (quietWindow, *windowError) {
	var qw quietWindow
	for j, day := range w.Days {
		field := "days[" + strconv.Itoa(j) + "]"
		if day < time.Sunday || day > time.Saturday {
			return qw, &windowError{field, "must be a weekday from 0 (Sunday) to 6 (Saturday), got " + strconv.Itoa(int(day))}
		}
		if qw.days&(1<<day) != 0 {
			return qw, &windowError{field, day.String() + " is listed twice"}
		}
		qw.days |= 1 << day
	}
	var ok bool
	if qw.start, ok = parseClock(w.Start, false); !ok {
		return qw, &windowError{"start", "must be a time from 00:00 to 23:59 (HH:MM), got " + strconv.Quote(clip(w.Start))}
	}
	if qw.end, ok = parseClock(w.End, true); !ok {
		return qw, &windowError{"end", "must be a time from 00:00 to 24:00 (HH:MM), got " + strconv.Quote(clip(w.End))}
	}
	if qw.start == qw.end {
		return qw, &windowError{"end", "must differ from start"}
	}
	return qw, nil
}

// parseClock parses "HH:MM" into minutes of the day; "24:00" only when
// allow24.
func parseClock(s string, allow24 bool) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range [...]int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	mi := int(s[3]-'0')*10 + int(s[4]-'0')
	switch {
	case mi > 59, h > 24, h == 24 && (mi != 0 || !allow24):
		return 0, false
	}
	return h*60 + mi, true
}

// coversWeek reports whether the windows leave no minute of the week free.
func coversWeek(ws []quietWindow) bool {
	var spans [][2]int
	for _, w := range ws {
		length := w.end - w.start
		if length <= 0 {
			length += minutesPerDay
		}
		for day := range 7 {
			if w.days != 0 && w.days&(1<<day) == 0 {
				continue
			}
			s := day*minutesPerDay + w.start
			e := s + length
			if e > minutesPerWeek {
				spans = append(spans, [2]int{0, e - minutesPerWeek})
				e = minutesPerWeek
			}
			spans = append(spans, [2]int{s, e})
		}
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return cmp.Compare(a[0], b[0]) })
	covered := 0
	for _, s := range spans {
		if s[0] > covered {
			return false
		}
		covered = max(covered, s[1])
	}
	return covered >= minutesPerWeek
}

func validCategoryName(s string) bool {
	if len(s) == 0 || len(s) > maxCategoryName {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// pathKey is a map key as it goes into an error's field path: as it is
// when it is short plain text, quoted (and clipped) otherwise.
func pathKey(s string) string {
	if len(s) > 0 && len(s) <= maxCategoryName {
		plain := true
		for i := range len(s) {
			if c := s[i]; c <= ' ' || c >= 0x7f || c == '.' || c == '"' || c == '[' || c == ']' {
				plain = false
				break
			}
		}
		if plain {
			return s
		}
	}
	return strconv.Quote(clip(s))
}

// clip shortens s for an error message.
func clip(s string) string {
	const limit = 50
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
