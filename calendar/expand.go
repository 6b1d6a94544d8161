package calendar

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/teambition/rrule-go"

	"github.com/wedsync/integrations/internal/civil"
)

// MaxInstances bounds the instances one event may produce in one window.
// A hostile or careless rule (FREQ=SECONDLY over a month) must not eat the
// engine's memory or CPU; beyond it Expand stops and reports
// ErrTooManyInstances. 5000 is about fourteen years of a daily series.
const MaxInstances = 5000

// maxScan bounds the occurrences Expand steps through in total, in or
// before the window, over all of an event's RRULE and EXRULE lines: a
// FREQ=SECONDLY rule that started years before the window would otherwise
// be walked second by second to reach it. 200000 covers a daily series
// started in 1500 or an hourly one started twenty years ago.
const maxScan = 200_000

// maxRules bounds an event's RRULE and EXRULE lines. rrule-go walks a rule
// that can never match (FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=31) day by day
// to the year 9999 before it gives up, about half a second each; no real
// event has more than one or two rules.
const maxRules = 8

// ErrTooManyInstances is matched (errors.Is) by the error Expand returns
// when an event produces more than MaxInstances instances in the window,
// or needs more than 200000 steps of its rules to reach the window's end.
// The instances returned with it are those that start before the point
// where expansion stopped (at most MaxInstances): a correct prefix of the
// answer, not the whole of it.
var ErrTooManyInstances = errors.New("calendar: recurrence produces too many instances")

// Instance is one occurrence of an event: a single event has one, a series
// one per date its rules, RDATEs and overrides give.
type Instance struct {
	// Interval is the span the instance covers, as absolute instants: the
	// event's zone for a timed event, the owner's midnights for all-day.
	Interval
	// RecurrenceID is the occurrence's original start (before any
	// override moved it), the value an override's RecurrenceID matches;
	// for an all-day series, midnight UTC of the original date. Zero for a
	// single event.
	RecurrenceID time.Time
	// AllDay marks an instance that covers whole days in the owner's zone.
	AllDay bool
	// Transparent marks an instance that does not block time: the
	// override's flag for an overridden instance, else the event's.
	Transparent bool
}

// BusyIntervals returns the spans in window during which ev blocks time:
// the intervals of Expand's instances without the transparent ones (a
// cancelled event or instance gives none already). Errors are Expand's,
// and with ErrTooManyInstances the intervals found so far come too.
func BusyIntervals(ev *Event, window Interval, loc *time.Location) ([]Interval, error) {
	insts, err := Expand(ev, window, loc)
	var out []Interval
	for _, in := range insts {
		if !in.Transparent {
			out = append(out, in.Interval)
		}
	}
	return out, err
}

// Expand returns the instances of ev that overlap window (half-open), in
// order of start (then end). It is how the engine turns a supplier's
// events, recurring ones included, into busy time.
//
// A timed event's instances keep the wall-clock time of ev.Start in
// ev.Start's zone (its Location) across DST changes: a 10:00 weekly series
// in Europe/London is at 09:00Z in summer and 10:00Z in winter. Each lasts
// ev.End-ev.Start. An instance whose wall-clock time does not exist on its
// day (02:30 on New York's spring-forward day) is placed where Go's
// time.Date, which rrule-go uses, puts it: read with the offset after the
// change, 06:30Z, which is 01:30 by the clock (RFC 5545 3.3.5 would read it
// with the offset before, 07:30Z); one that occurs twice (a fall-back day)
// is the first of the two.
//
// An all-day event (ev.AllDay, Start and End midnight UTC of the first day
// and of the day after the last) covers its days in loc, the calendar
// owner's zone: the 2026-06-06 of an all-day event is London's midnight to
// midnight for a London owner, New York's for a New York one, so a one-day
// instance on a DST change lasts 23 or 25 hours. An all-day event with End
// equal to Start lasts one day (RFC 5545 3.6.1).
//
// ev.Recurrence holds RFC 5545 content lines, names case-insensitive:
//   - RRULE: one or more (their union); an UNTIL given as a date on a
//     timed series includes that whole day. DTSTART (ev.Start) is always the
//     first instance, as RFC 5545 3.8.5.3 says, even if the rule would not
//     give it.
//   - EXRULE (deprecated by RFC 5545, still in RFC 2445 data): supported,
//     removes the dates it gives.
//   - RDATE: DATE-TIME (UTC with Z, TZID=, or floating: ev.Start's zone),
//     DATE (for a timed series: that date at ev.Start's wall-clock time),
//     or VALUE=PERIOD as start/end or start/duration (timed series only),
//     comma lists. An RDATE equal to an instance adds nothing.
//   - EXDATE: DATE-TIME as RDATE; DATE (VALUE=DATE) removes the instances
//     of that date, in ev.Start's zone for a timed series.
//   - Other lines (DTSTART, X- properties, anything a provider carries
//     beside the rules) are ignored: they do not say which dates occur.
//
// ev.Overrides (each with RecurrenceID) replace the instance whose
// original start has the same instant (for an all-day series, the same
// date): the override's Start/End and AllDay place it, wherever that is,
// so one moved into the window from outside it appears and one moved out
// vanishes; a cancelled override removes the instance. An override stands
// for its instance even when its RecurrenceID matches no instance (the
// provider keeps it as an event, and busy time errs towards busy).
//
// A cancelled event gives no instances; a transparent one gives its
// instances with Transparent set (BusyIntervals drops them). Overrides of
// a single event (no RRULE or RDATE) are ignored.
//
// Bad input gives an error matching ErrInvalid that names the field:
// window or loc missing, End before Start, an RRULE rrule-go cannot parse
// (Event.Recurrence[i]), a date it cannot read, an unknown TZID. Too many
// instances give ErrTooManyInstances (see there) with the prefix found.
func Expand(ev *Event, window Interval, loc *time.Location) ([]Instance, error) {
	if ev == nil {
		return nil, invalid("Event", "must not be nil")
	}
	if loc == nil {
		return nil, invalid("loc", "must not be nil (the calendar owner's zone)")
	}
	if window.End.Before(window.Start) {
		return nil, invalid("window", "End %s must not be before Start %s",
			window.End.Format(time.RFC3339), window.Start.Format(time.RFC3339))
	}
	if ev.Cancelled {
		return nil, nil
	}
	if ev.End.Before(ev.Start) {
		return nil, invalid("Event.End", "must not be before Event.Start (%s < %s)",
			ev.End.Format(time.RFC3339), ev.Start.Format(time.RFC3339))
	}
	x := &expander{ev: ev, window: window, loc: loc, zones: map[string]*time.Location{}}
	if err := x.parse(); err != nil {
		return nil, err
	}
	return x.run()
}

// expander holds one call of Expand.
type expander struct {
	ev     *Event
	window Interval
	loc    *time.Location // owner's zone, for all-day days
	evLoc  *time.Location // the event's zone (ev.Start's)
	start  time.Time      // the series' DTSTART, second precision (midnight UTC for all-day)
	dur    time.Duration  // timed: End-Start
	days   int            // all-day: number of days

	rules, exrules []lineRule
	rdates         []value
	exdates        []value
	recurring      bool // an RRULE or RDATE is present: overrides apply

	zones map[string]*time.Location
	scan  int
}

type lineRule struct {
	idx  int
	text string
	r    *rrule.RRule
}

// value is one date of an RDATE or EXDATE.
type value struct {
	t       time.Time
	date    bool          // VALUE=DATE: t is midnight UTC of the date
	period  time.Duration // >= 0 for a PERIOD: the instance's length
	hasPer  bool
	idx     int
	rawLine string
}

// occ is one instance while Expand gathers them.
type occ struct {
	Instance
	key int64
}

func (x *expander) field(i int) string { return fmt.Sprintf("Event.Recurrence[%d]", i) }

func (x *expander) parse() error {
	ev := x.ev
	x.evLoc = ev.Start.Location()
	if ev.AllDay {
		y, m, d := ev.Start.Date()
		x.start = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		ey, em, ed := ev.End.Date()
		x.days = int(time.Date(ey, em, ed, 0, 0, 0, 0, time.UTC).Sub(x.start) / (24 * time.Hour))
		if x.days < 1 {
			x.days = 1
		}
	} else {
		x.start = ev.Start.Truncate(time.Second)
		x.dur = ev.End.Sub(ev.Start)
	}
	for i, line := range ev.Recurrence {
		name, params, val, err := splitLine(line)
		if err != nil {
			return invalid(x.field(i), "%s in %q", err, line)
		}
		switch name {
		case "RRULE", "EXRULE":
			r, err := x.rule(val)
			if err != nil {
				return invalid(x.field(i), "%s %q: %s", name, line, err)
			}
			if len(x.rules)+len(x.exrules) >= maxRules {
				return invalid(x.field(i), "more than %d RRULE and EXRULE lines", maxRules)
			}
			lr := lineRule{idx: i, text: line, r: r}
			if name == "RRULE" {
				x.rules = append(x.rules, lr)
				x.recurring = true
			} else {
				x.exrules = append(x.exrules, lr)
			}
		case "RDATE", "EXDATE":
			vs, err := x.values(params, val)
			if err != nil {
				return invalid(x.field(i), "%s %q: %s", name, line, err)
			}
			for k := range vs {
				vs[k].idx, vs[k].rawLine = i, line
			}
			if name == "RDATE" {
				x.rdates = append(x.rdates, vs...)
				x.recurring = x.recurring || len(vs) > 0
			} else {
				for _, v := range vs {
					if v.hasPer {
						return invalid(x.field(i), "EXDATE %q: a PERIOD is not a date to exclude", line)
					}
				}
				x.exdates = append(x.exdates, vs...)
			}
		default:
			// DTSTART, X- and other properties do not choose dates.
		}
	}
	return nil
}

// splitLine splits "NAME;P=V;P2=\"V:2\":VALUE" into its parts; names and
// parameter names are upper-cased.
func splitLine(line string) (name string, params map[string]string, val string, err error) {
	line = strings.TrimSpace(line)
	colon, inQuote := -1, false
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '"':
			inQuote = !inQuote
		case ':':
			if !inQuote {
				colon = i
			}
		}
		if colon >= 0 {
			break
		}
	}
	if colon < 0 {
		return "", nil, "", errors.New("no ':' between name and value")
	}
	head, val := line[:colon], strings.TrimSpace(line[colon+1:])
	parts := splitOutsideQuotes(head, ';')
	name = strings.ToUpper(strings.TrimSpace(parts[0]))
	if name == "" {
		return "", nil, "", errors.New("no property name")
	}
	params = map[string]string{}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return "", nil, "", fmt.Errorf("parameter %q has no '='", p)
		}
		params[strings.ToUpper(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	return name, params, val, nil
}

func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	inQuote, from := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"':
			inQuote = !inQuote
		case s[i] == sep && !inQuote:
			out = append(out, s[from:i])
			from = i + 1
		}
	}
	return append(out, s[from:])
}

// rule parses an RRULE or EXRULE value with the series' DTSTART.
func (x *expander) rule(val string) (r *rrule.RRule, err error) {
	if strings.ContainsAny(val, "\r\n") {
		return nil, errors.New("contains a line break")
	}
	defer func() { // rrule-go is not fuzzed upstream: a panic is a bad rule
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("rejected (%v)", p)
		}
	}()
	ruleLoc := x.evLoc
	if x.ev.AllDay {
		ruleLoc = time.UTC
	}
	opt, err := rrule.StrToROptionInLocation(strings.ToUpper(val), ruleLoc)
	if err != nil {
		return nil, err
	}
	if opt.Count < 0 {
		return nil, errors.New("COUNT must not be negative")
	}
	opt.Dtstart = x.start
	if !x.ev.AllDay && !opt.Until.IsZero() && untilIsDate(val) {
		// UNTIL as a DATE on a timed series (RFC 5545 wants a DATE-TIME,
		// some writers send a date): the whole of that day still counts.
		y, m, d := opt.Until.Date()
		opt.Until = time.Date(y, m, d, 23, 59, 59, 0, x.evLoc)
	}
	if x.ev.AllDay && !opt.Until.IsZero() {
		// An all-day series counts in dates: UNTIL's date is the last.
		y, m, d := opt.Until.Date()
		opt.Until = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	return rrule.NewRRule(*opt)
}

// untilIsDate reports whether a rule's UNTIL is a bare YYYYMMDD.
func untilIsDate(val string) bool {
	for _, part := range strings.Split(strings.ToUpper(val), ";") {
		if u, ok := strings.CutPrefix(part, "UNTIL="); ok {
			return len(strings.TrimSpace(u)) == 8
		}
	}
	return false
}

// values parses the comma list of an RDATE or EXDATE.
func (x *expander) values(params map[string]string, val string) ([]value, error) {
	zone := x.evLoc
	if tzid, ok := params["TZID"]; ok {
		z, err := x.zone(tzid)
		if err != nil {
			return nil, err
		}
		zone = z
	}
	kind := strings.ToUpper(params["VALUE"])
	switch kind {
	case "", "DATE", "DATE-TIME", "PERIOD":
	default:
		return nil, fmt.Errorf("VALUE=%s is not DATE, DATE-TIME or PERIOD", kind)
	}
	var out []value
	for _, s := range strings.Split(val, ",") {
		s = strings.ToUpper(strings.TrimSpace(s))
		if s == "" {
			continue
		}
		if kind == "PERIOD" || (kind == "" && strings.Contains(s, "/")) {
			if x.ev.AllDay {
				return nil, errors.New("a PERIOD in an all-day series is not supported")
			}
			a, b, _ := strings.Cut(s, "/")
			t, err := parseDateTime(a, zone)
			if err != nil {
				return nil, err
			}
			var d time.Duration
			if strings.HasPrefix(b, "P") || strings.HasPrefix(b, "+P") {
				d, err = parseDuration(b)
			} else {
				var e time.Time
				e, err = parseDateTime(b, zone)
				d = e.Sub(t)
			}
			if err != nil {
				return nil, err
			}
			if d < 0 {
				return nil, fmt.Errorf("period %q ends before it starts", s)
			}
			out = append(out, value{t: t, period: d, hasPer: true})
			continue
		}
		if kind == "DATE" || (kind == "" && len(s) == 8) {
			t, err := time.ParseInLocation("20060102", s, time.UTC)
			if err != nil {
				return nil, fmt.Errorf("date %q is not YYYYMMDD", s)
			}
			out = append(out, value{t: t, date: true})
			continue
		}
		t, err := parseDateTime(s, zone)
		if err != nil {
			return nil, err
		}
		out = append(out, value{t: t})
	}
	return out, nil
}

func (x *expander) zone(tzid string) (*time.Location, error) {
	tzid = strings.TrimPrefix(tzid, "/")
	if z, ok := x.zones[tzid]; ok {
		return z, nil
	}
	if tzid == "" || strings.Contains(tzid, "..") {
		return nil, fmt.Errorf("unknown TZID %q", tzid)
	}
	z, err := time.LoadLocation(tzid)
	if err != nil {
		return nil, fmt.Errorf("unknown TZID %q", tzid)
	}
	x.zones[tzid] = z
	return z, nil
}

// parseDateTime reads YYYYMMDDTHHMMSS with Z (UTC) or without (in zone).
func parseDateTime(s string, zone *time.Location) (time.Time, error) {
	if strings.HasSuffix(s, "Z") {
		t, err := time.ParseInLocation("20060102T150405Z", s, time.UTC)
		if err != nil {
			return time.Time{}, fmt.Errorf("date-time %q is not YYYYMMDDTHHMMSSZ", s)
		}
		return t, nil
	}
	t, err := time.ParseInLocation("20060102T150405", s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("date-time %q is not YYYYMMDDTHHMMSS", s)
	}
	return civil.In(t, zone), nil // a time the clocks pass twice is the first, one they skip reads with the offset before (RFC 5545 3.3.5)
}

// parseDuration reads an RFC 5545 duration: [+]P[nW][nD][T[nH][nM][nS]].
func parseDuration(s string) (time.Duration, error) {
	orig := s
	s = strings.TrimPrefix(s, "+")
	bad := fmt.Errorf("duration %q is not RFC 5545 ([+]PnWnDTnHnMnS)", orig)
	if !strings.HasPrefix(s, "P") || len(s) < 3 {
		return 0, bad
	}
	s = s[1:]
	var d time.Duration
	inTime, n, digits, any := false, int64(0), false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			n = n*10 + int64(c-'0')
			digits = true
			if n > 1e7 {
				return 0, bad
			}
			continue
		case c == 'T' && !inTime && !digits:
			inTime = true
			continue
		}
		if !digits {
			return 0, bad
		}
		var unit time.Duration
		switch {
		case c == 'W' && !inTime:
			unit = 7 * 24 * time.Hour
		case c == 'D' && !inTime:
			unit = 24 * time.Hour
		case c == 'H' && inTime:
			unit = time.Hour
		case c == 'M' && inTime:
			unit = time.Minute
		case c == 'S' && inTime:
			unit = time.Second
		default:
			return 0, bad
		}
		d += time.Duration(n) * unit
		n, digits, any = 0, false, true
	}
	if digits || !any {
		return 0, bad
	}
	return d, nil
}

// dayKey numbers a civil date (days since 1970-01-01).
func dayKey(y int, m time.Month, d int) int64 {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// at makes the instance whose original start is t: a rule's or RDATE's
// date-time (timed) or midnight UTC of a date (all-day).
func (x *expander) at(t time.Time) occ {
	if x.ev.AllDay {
		y, m, d := t.Date()
		return occ{key: dayKey(y, m, d), Instance: Instance{
			Interval: Interval{
				Start: time.Date(y, m, d, 0, 0, 0, 0, x.loc),
				End:   time.Date(y, m, d+x.days, 0, 0, 0, 0, x.loc),
			},
			RecurrenceID: time.Date(y, m, d, 0, 0, 0, 0, time.UTC),
			AllDay:       true,
			Transparent:  x.ev.Transparent,
		}}
	}
	t = t.In(x.evLoc)
	return occ{key: t.Unix(), Instance: Instance{
		Interval:     Interval{Start: t, End: t.Add(x.dur)},
		RecurrenceID: t,
		Transparent:  x.ev.Transparent,
	}}
}

// overlaps is the window test; a zero-length instance counts when it sits
// at or after the window's start and before its end.
func (x *expander) overlaps(iv Interval) bool {
	if !iv.End.After(iv.Start) {
		return !iv.Start.Before(x.window.Start) && iv.Start.Before(x.window.End)
	}
	return iv.Overlaps(x.window)
}

// stopped records where expansion stopped early.
type stopped struct {
	at  time.Time
	err error
}

func (s *stopped) set(at time.Time, err error) {
	if s.err == nil || at.Before(s.at) {
		s.at, s.err = at, err
	}
}

// walk steps through r's occurrences that can overlap the window, calling
// fn with each that does. It is rrule-go's Between with a lower bound
// widened by the instance's length, written out so that every step counts
// against maxScan and every hit against MaxInstances.
func (x *expander) walk(lr lineRule, stop *stopped, fn func(occ)) {
	next := lr.r.Iterator()
	hits := 0
	for {
		t, ok := next()
		if !ok {
			return
		}
		o := x.at(t)
		if !o.Start.Before(x.window.End) {
			return
		}
		x.scan++
		if x.scan > maxScan {
			stop.set(o.Start, fmt.Errorf("%w: %s %q takes more than %d steps to reach the end of window %s",
				ErrTooManyInstances, x.field(lr.idx), lr.text, maxScan, x.window))
			return
		}
		if !x.overlaps(o.Interval) {
			continue
		}
		hits++
		if hits > MaxInstances {
			stop.set(o.Start, fmt.Errorf("%w: %s %q gives more than %d instances in window %s",
				ErrTooManyInstances, x.field(lr.idx), lr.text, MaxInstances, x.window))
			return
		}
		fn(o)
	}
}

func (x *expander) run() ([]Instance, error) {
	ev := x.ev
	if !x.recurring {
		in := Instance{Interval: Interval{Start: ev.Start, End: ev.End}, Transparent: ev.Transparent}
		if ev.AllDay {
			in = x.at(x.start).Instance
			in.RecurrenceID = time.Time{}
		}
		if x.overlaps(in.Interval) {
			return []Instance{in}, nil
		}
		return nil, nil
	}
	found := map[int64]occ{}
	var stop stopped

	add := func(o occ) {
		if _, dup := found[o.key]; !dup && x.overlaps(o.Interval) {
			found[o.key] = o
		}
	}
	add(x.at(x.start))
	for _, lr := range x.rules {
		x.walk(lr, &stop, add)
	}
	for _, v := range x.rdates {
		switch {
		case v.hasPer:
			o := x.at(v.t)
			o.End = o.Start.Add(v.period)
			add(o)
		case v.date && !ev.AllDay:
			h, m, s := x.start.In(x.evLoc).Clock()
			y, mo, d := v.t.Date()
			add(x.at(time.Date(y, mo, d, h, m, s, 0, x.evLoc)))
		default:
			add(x.at(v.t))
		}
		if len(found) > maxScan {
			stop.set(time.Time{}, fmt.Errorf("%w: %s has more than %d RDATEs", ErrTooManyInstances, x.field(v.idx), maxScan))
			break
		}
	}

	// Exclusions: EXDATE (by instant, or by date) and EXRULE.
	exDays := map[int64]bool{}
	for _, v := range x.exdates {
		switch {
		case v.date || ev.AllDay:
			y, m, d := v.t.Date()
			exDays[dayKey(y, m, d)] = true
		default:
			delete(found, v.t.Unix())
		}
	}
	if len(exDays) > 0 {
		for k, o := range found {
			y, m, d := o.RecurrenceID.In(x.evLoc).Date()
			if ev.AllDay {
				y, m, d = o.RecurrenceID.Date()
			}
			if exDays[dayKey(y, m, d)] {
				delete(found, k)
			}
		}
	}
	for _, lr := range x.exrules {
		x.walk(lr, &stop, func(o occ) { delete(found, o.key) })
	}

	// Overrides replace (or cancel) the instance they name.
	var moved []Instance
	for i := range ev.Overrides {
		ov := &ev.Overrides[i]
		if ov.RecurrenceID.IsZero() {
			continue
		}
		key := ov.RecurrenceID.Unix()
		if ev.AllDay {
			y, m, d := ov.RecurrenceID.Date()
			key = dayKey(y, m, d)
		}
		delete(found, key)
		if ov.Cancelled {
			continue
		}
		if ov.End.Before(ov.Start) {
			return nil, invalid(fmt.Sprintf("Event.Overrides[%d].End", i), "must not be before its Start (%s < %s)",
				ov.End.Format(time.RFC3339), ov.Start.Format(time.RFC3339))
		}
		in := Instance{
			Interval:     Interval{Start: ov.Start, End: ov.End},
			RecurrenceID: ov.RecurrenceID,
			Transparent:  ov.Transparent,
		}
		if ov.AllDay {
			y, m, d := ov.Start.Date()
			ey, em, ed := ov.End.Date()
			if dayKey(ey, em, ed) <= dayKey(y, m, d) {
				ey, em, ed = y, m, d+1
			}
			in.Interval = Interval{Start: time.Date(y, m, d, 0, 0, 0, 0, x.loc), End: time.Date(ey, em, ed, 0, 0, 0, 0, x.loc)}
			in.AllDay = true
		}
		if x.overlaps(in.Interval) {
			moved = append(moved, in)
		}
	}
	out := make([]Instance, 0, len(found)+len(moved))
	for _, o := range found {
		out = append(out, o.Instance)
	}
	out = append(out, moved...)
	if stop.err != nil {
		kept := out[:0]
		for _, in := range out {
			if in.Start.Before(stop.at) {
				kept = append(kept, in)
			}
		}
		out = kept
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Start.Equal(b.Start) {
			return a.Start.Before(b.Start)
		}
		if !a.End.Equal(b.End) {
			return a.End.Before(b.End)
		}
		return a.RecurrenceID.Before(b.RecurrenceID)
	})
	if len(out) > MaxInstances {
		out = out[:MaxInstances]
		if stop.err == nil {
			stop.err = fmt.Errorf("%w: the event gives more than %d instances in window %s",
				ErrTooManyInstances, MaxInstances, x.window)
		}
	}
	return out, stop.err
}
