package caldav

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-ical"
	"github.com/google/uuid"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/internal/civil"
	"github.com/wedsync/integrations/internal/validate"
)

// PropTag is the iCalendar property that carries calendar.Event.Tag, the
// WedSync booking id of an event the engine wrote.
const PropTag = "X-WEDSYNC-BOOKING"

// prodID is the PRODID of calendars the provider builds.
const prodID = "-//WedSync//Integrations CalDAV//EN"

// recurrenceProps are the properties kept verbatim in Event.Recurrence, in
// the order they are listed.
var recurrenceProps = []string{ical.PropRecurrenceRule, "EXRULE", ical.PropRecurrenceDates, ical.PropExceptionDates}

// ErrNotEvent is returned by ParseEvent for a calendar object that holds no
// VEVENT (a task, a journal entry). Changes skips such objects.
var ErrNotEvent = errors.New("caldav: calendar object holds no VEVENT")

// ParseEvent reads one calendar object resource (RFC 4791 4.1): the master
// VEVENT and its overridden instances (VEVENTs with RECURRENCE-ID) sharing
// one UID. The result's Native is the parsed *ical.Calendar, which
// EncodeEvent uses as the base of an update.
//
// Times: a DATE value gives an all-day event (AllDay, Start and End at
// midnight UTC); a UTC value ("Z") a time in UTC; a TZID value a time in
// that zone when time.LoadLocation knows the TZID (a leading "/" is
// ignored). A TZID defined only by the object's own VTIMEZONE (Outlook's
// "W. Europe Standard Time", custom names) is read at the fixed offset of
// the VTIMEZONE's first STANDARD (else DAYLIGHT) rule, in a zone named
// after the TZID: right in the season of that rule, an hour off in the
// other; UTC when there is no VTIMEZONE either. A floating time (no TZID,
// no Z) is read as UTC. A missing DTEND is DTSTART plus DURATION, else one
// day for an all-day event and zero for a timed one.
//
// RRULE, EXRULE, RDATE and EXDATE lines are kept verbatim in Recurrence
// ("EXDATE;TZID=Europe/London:20260606T140000"). An object with overrides
// but no master (an invitation to one instance) is returned as its first
// VEVENT, RecurrenceID set, with the others as Overrides.
func ParseEvent(data []byte) (*calendar.Event, error) {
	cal, err := decodeCalendar(data)
	if err != nil {
		return nil, fmt.Errorf("caldav: bad iCalendar: %w", err)
	}
	return eventFromCalendar(cal)
}

// decodeCalendar runs go-ical's decoder, turning its panics on some
// malformed lines (an index out of range on "0;0=", found by
// FuzzParseEvent) into errors: calendar data comes from servers we do not
// control.
func decodeCalendar(data []byte) (cal *ical.Calendar, err error) {
	defer func() {
		if r := recover(); r != nil {
			cal, err = nil, fmt.Errorf("malformed content line (decoder panic: %v)", r)
		}
	}()
	return ical.NewDecoder(bytes.NewReader(data)).Decode()
}

func eventFromCalendar(cal *ical.Calendar) (*calendar.Event, error) {
	var master *ical.Component
	var others []*ical.Component
	for _, ch := range cal.Children {
		if ch.Name != ical.CompEvent {
			continue
		}
		if master == nil && ch.Props.Get(ical.PropRecurrenceID) == nil {
			master = ch
			continue
		}
		others = append(others, ch)
	}
	if master == nil {
		if len(others) == 0 {
			return nil, ErrNotEvent
		}
		master, others = others[0], others[1:]
	}
	ev, err := eventFromComponent(cal, master)
	if err != nil {
		return nil, err
	}
	for _, o := range others {
		oe, err := eventFromComponent(cal, o)
		if err != nil {
			return nil, err
		}
		oe.Recurrence = nil
		ev.Overrides = append(ev.Overrides, *oe)
	}
	ev.Native = cal
	return ev, nil
}

func text(c *ical.Component, name string) string {
	p := c.Props.Get(name)
	if p == nil {
		return ""
	}
	s, err := p.Text()
	if err != nil {
		s = p.Value
	}
	return strings.ToValidUTF8(s, "\uFFFD") // iCalendar is UTF-8 (RFC 5545 3.1.4)
}

func eventFromComponent(cal *ical.Calendar, c *ical.Component) (*calendar.Event, error) {
	ev := &calendar.Event{
		UID:         text(c, ical.PropUID),
		Summary:     text(c, ical.PropSummary),
		Description: text(c, ical.PropDescription),
		Location:    text(c, ical.PropLocation),
		Tag:         text(c, PropTag),
		Cancelled:   strings.EqualFold(strings.TrimSpace(text(c, ical.PropStatus)), "CANCELLED"),
		Transparent: strings.EqualFold(strings.TrimSpace(text(c, ical.PropTransparency)), "TRANSPARENT"),
	}
	ds := c.Props.Get(ical.PropDateTimeStart)
	if ds == nil {
		return nil, fmt.Errorf("caldav: VEVENT %q has no DTSTART", ev.UID)
	}
	start, allDay, err := parseTime(cal, ds)
	if err != nil {
		return nil, fmt.Errorf("caldav: VEVENT %q: DTSTART: %w", ev.UID, err)
	}
	ev.Start, ev.AllDay = start, allDay
	switch {
	case c.Props.Get(ical.PropDateTimeEnd) != nil:
		end, _, err := parseTime(cal, c.Props.Get(ical.PropDateTimeEnd))
		if err != nil {
			return nil, fmt.Errorf("caldav: VEVENT %q: DTEND: %w", ev.UID, err)
		}
		if allDay {
			end = midnightUTC(end)
		}
		ev.End = end
	case c.Props.Get(ical.PropDuration) != nil:
		d, err := c.Props.Get(ical.PropDuration).Duration()
		if err != nil {
			return nil, fmt.Errorf("caldav: VEVENT %q: DURATION: %w", ev.UID, err)
		}
		if allDay {
			ev.End = start.AddDate(0, 0, int(d/(24*time.Hour)))
		} else {
			ev.End = start.Add(d)
		}
	case allDay:
		ev.End = start.AddDate(0, 0, 1)
	default:
		ev.End = start
	}
	if ev.End.Before(ev.Start) {
		return nil, fmt.Errorf("caldav: VEVENT %q ends before it starts", ev.UID)
	}
	if rid := c.Props.Get(ical.PropRecurrenceID); rid != nil {
		t, _, err := parseTime(cal, rid)
		if err != nil {
			return nil, fmt.Errorf("caldav: VEVENT %q: RECURRENCE-ID: %w", ev.UID, err)
		}
		ev.RecurrenceID = t
	}
	for _, name := range recurrenceProps {
		for _, p := range c.Props.Values(name) {
			line, err := contentLine(&p)
			if err != nil {
				return nil, fmt.Errorf("caldav: VEVENT %q: %s: %w", ev.UID, name, err)
			}
			ev.Recurrence = append(ev.Recurrence, line)
		}
	}
	return ev, nil
}

func midnightUTC(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// parseTime reads a DATE or DATE-TIME property (see ParseEvent for the
// zone rules); allDay reports a DATE.
func parseTime(cal *ical.Calendar, p *ical.Prop) (t time.Time, allDay bool, err error) {
	v := strings.TrimSpace(p.Value)
	if i := strings.IndexByte(v, ','); i >= 0 { // a list: the first one
		v = v[:i]
	}
	vt := strings.ToUpper(p.Params.Get(ical.ParamValue))
	if vt == "DATE" || (vt == "" && len(v) == 8) {
		t, err = time.ParseInLocation("20060102", v, time.UTC)
		return t, true, err
	}
	if strings.HasSuffix(v, "Z") {
		t, err = time.ParseInLocation("20060102T150405Z", v, time.UTC)
		return t, false, err
	}
	loc := time.UTC
	if tzid := p.Params.Get(ical.PropTimezoneID); tzid != "" {
		loc = resolveZone(cal, tzid)
	}
	t, err = time.ParseInLocation("20060102T150405", v, time.UTC)
	if err == nil {
		t = civil.In(t, loc) // a time the clocks pass twice is the first, one they skip reads with the offset before (RFC 5545 3.3.5)
	}
	return t, false, err
}

// loadZone is time.LoadLocation for the names a TZID may carry; it refuses
// "Local" and the empty name, which LoadLocation maps to the host's zone.
func loadZone(tzid string) (*time.Location, bool) {
	name := strings.TrimPrefix(strings.TrimSpace(tzid), "/")
	if name == "" || name == "Local" || strings.ContainsAny(name, "\x00") || len(name) > 128 {
		return nil, false
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, false
	}
	return loc, true
}

// resolveZone finds the zone of a TZID: IANA first, then the object's
// VTIMEZONE at a fixed offset (see ParseEvent), then UTC.
func resolveZone(cal *ical.Calendar, tzid string) *time.Location {
	if loc, ok := loadZone(tzid); ok {
		return loc
	}
	if cal == nil {
		return time.UTC
	}
	for _, tz := range cal.Children {
		if tz.Name != ical.CompTimezone || text(tz, ical.PropTimezoneID) != tzid {
			continue
		}
		for _, want := range []string{ical.CompTimezoneStandard, ical.CompTimezoneDaylight} {
			for _, rule := range tz.Children {
				if rule.Name != want {
					continue
				}
				if off, ok := parseOffset(text(rule, ical.PropTimezoneOffsetTo)); ok {
					return time.FixedZone(tzid, off)
				}
			}
		}
	}
	return time.UTC
}

// parseOffset reads a UTC-OFFSET ("+0100", "-053000") in seconds.
func parseOffset(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if (len(s) != 5 && len(s) != 7) || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	n, mul := 0, []int{3600, 60, 1}
	for i := 1; i < len(s); i += 2 {
		a, b := s[i], s[i+1]
		if a < '0' || a > '9' || b < '0' || b > '9' {
			return 0, false
		}
		n += (int(a-'0')*10 + int(b-'0')) * mul[(i-1)/2]
	}
	if n >= 24*3600 {
		return 0, false
	}
	if s[0] == '-' {
		n = -n
	}
	return n, true
}

// timezoneID returns the TZID of a calendar-timezone property (a VCALENDAR
// with one VTIMEZONE) when it is an IANA zone name, else "".
func timezoneID(s string) string {
	cal, err := decodeCalendar([]byte(s))
	if err != nil {
		return ""
	}
	for _, c := range cal.Children {
		if c.Name == ical.CompTimezone {
			id := text(c, ical.PropTimezoneID)
			if loc, ok := loadZone(id); ok {
				return loc.String()
			}
		}
	}
	return ""
}

// contentLine writes a property as one unfolded content line, parameters
// sorted: "EXDATE;TZID=Europe/London:20260606T140000".
func contentLine(p *ical.Prop) (string, error) {
	var b bytes.Buffer
	if err := ical.NewEncoder(&b).Encode(&ical.Calendar{Component: &ical.Component{
		Name:     ical.CompCalendar,
		Props:    ical.Props{ical.PropProductID: {{Name: ical.PropProductID, Value: "x"}}, ical.PropVersion: {{Name: ical.PropVersion, Value: "2.0"}}},
		Children: []*ical.Component{{Name: "X-LINE", Props: ical.Props{p.Name: {*p}}}},
	}}); err != nil {
		return "", err
	}
	// The line sits between BEGIN:X-LINE and END:X-LINE.
	s := b.String()
	i := strings.Index(s, "BEGIN:X-LINE\r\n")
	j := strings.Index(s, "END:X-LINE\r\n")
	if i < 0 || j < 0 {
		return "", fmt.Errorf("caldav: cannot write %s as a content line", p.Name)
	}
	return strings.TrimSuffix(s[i+len("BEGIN:X-LINE\r\n"):j], "\r\n"), nil
}

// parseContentLine reads one Recurrence line back into a property; only
// RRULE, EXRULE, RDATE and EXDATE are accepted.
func parseContentLine(line string) (*ical.Prop, error) {
	if strings.ContainsAny(line, "\r\n") {
		return nil, errors.New("must be one line without CR or LF")
	}
	cal, err := decodeCalendar([]byte("BEGIN:VCALENDAR\r\n" + line + "\r\nEND:VCALENDAR\r\n"))
	if err != nil {
		return nil, errors.New("must be an iCalendar content line")
	}
	for _, name := range recurrenceProps {
		if v := cal.Props.Values(name); len(v) == 1 && len(cal.Props) == 1 {
			if strings.TrimSpace(v[0].Value) == "" {
				return nil, errors.New("must have a value")
			}
			return &v[0], nil
		}
	}
	return nil, errors.New("must be an RRULE, EXRULE, RDATE or EXDATE line")
}

// EncodeEvent writes ev as a calendar object resource: the master VEVENT,
// then one VEVENT per override. When ev.Native is a *ical.Calendar (the
// event as ParseEvent read it), a copy of it is the base: its master's and
// overrides' modelled properties are replaced and everything else (VALARM,
// ATTENDEE, ORGANIZER, VTIMEZONE, X- properties) is kept. An empty UID is
// filled with a new UUID. DTSTAMP is set to now.
//
// Times: an all-day event is written as VALUE=DATE; a time whose Location
// is a named IANA zone other than UTC (or a zone the base's VTIMEZONEs
// define) with its TZID; any other time in UTC ("Z"). Each IANA TZID used
// gets a VTIMEZONE built from Go's zone data (see vtimezone.go), replacing
// any the base had for it; a base's VTIMEZONE for a custom TZID is kept.
func EncodeEvent(ev *calendar.Event) ([]byte, error) {
	cal, err := calendarFromEvent(ev, time.Now())
	if err != nil {
		return nil, err
	}
	return encodeCalendar(cal)
}

func checkEvent(ev *calendar.Event, field string) error {
	if ev.Start.IsZero() {
		return validate.New("caldav", field+"Start", "is required")
	}
	if ev.End.Before(ev.Start) {
		return validate.New("caldav", field+"End", "must not be before Start")
	}
	for _, s := range []struct{ name, v string }{{"UID", ev.UID}, {"Summary", ev.Summary}, {"Description", ev.Description}, {"Location", ev.Location}, {"Tag", ev.Tag}} {
		if strings.ContainsRune(s.v, 0) {
			return validate.New("caldav", field+s.name, "must not contain NUL")
		}
	}
	if strings.ContainsAny(ev.UID, "\r\n") {
		return validate.New("caldav", field+"UID", "must be one line")
	}
	for i, l := range ev.Recurrence {
		if _, err := parseContentLine(l); err != nil {
			return validate.New("caldav", fmt.Sprintf("%sRecurrence[%d]", field, i), "%s", err.Error())
		}
	}
	return nil
}

func calendarFromEvent(ev *calendar.Event, now time.Time) (*ical.Calendar, error) {
	if ev == nil {
		return nil, validate.New("caldav", "event", "is required")
	}
	if err := checkEvent(ev, ""); err != nil {
		return nil, err
	}
	for i := range ev.Overrides {
		o := &ev.Overrides[i]
		f := fmt.Sprintf("Overrides[%d].", i)
		if err := checkEvent(o, f); err != nil {
			return nil, err
		}
		if o.RecurrenceID.IsZero() {
			return nil, validate.New("caldav", f+"RecurrenceID", "is required on an override")
		}
	}
	uid := ev.UID
	if uid == "" {
		uid = uuid.NewString()
	}

	var cal *ical.Calendar
	if base, ok := ev.Native.(*ical.Calendar); ok && base != nil && base.Component != nil {
		cal = &ical.Calendar{Component: cloneComponent(base.Component)}
	} else {
		cal = ical.NewCalendar()
	}
	if cal.Props.Get(ical.PropProductID) == nil {
		cal.Props.SetText(ical.PropProductID, prodID)
	}
	if cal.Props.Get(ical.PropVersion) == nil {
		cal.Props.SetText(ical.PropVersion, "2.0")
	}
	cal.Props.Del(ical.PropMethod) // not allowed in a calendar collection

	// Split the base's VEVENTs into master and overrides; keep the rest.
	var master *ical.Component
	oldOverrides := map[int64]*ical.Component{}
	var rest []*ical.Component
	for _, ch := range cal.Children {
		if ch.Name != ical.CompEvent {
			rest = append(rest, ch)
			continue
		}
		if ch.Props.Get(ical.PropRecurrenceID) == nil && master == nil {
			master = ch
			continue
		}
		if rid := ch.Props.Get(ical.PropRecurrenceID); rid != nil {
			if t, _, err := parseTime(cal, rid); err == nil {
				oldOverrides[t.Unix()] = ch
				continue
			}
		}
		// An unreadable override: dropped.
	}
	if master == nil {
		master = ical.NewComponent(ical.CompEvent)
		if !ev.RecurrenceID.IsZero() { // a lone instance keeps its slot
			if old, ok := oldOverrides[ev.RecurrenceID.Unix()]; ok {
				master = old
				delete(oldOverrides, ev.RecurrenceID.Unix())
			}
		}
	}
	if err := fillComponent(cal, master, ev, uid, now, true); err != nil {
		return nil, err
	}
	children := []*ical.Component{master}
	for i := range ev.Overrides {
		o := &ev.Overrides[i]
		comp, ok := oldOverrides[o.RecurrenceID.Unix()]
		if !ok {
			comp = ical.NewComponent(ical.CompEvent)
		}
		delete(oldOverrides, o.RecurrenceID.Unix())
		if err := fillComponent(cal, comp, o, uid, now, false); err != nil {
			return nil, err
		}
		children = append(children, comp)
	}
	cal.Children = append(children, rest...)
	addTimezones(cal)
	return cal, nil
}

// fillComponent writes ev's modelled fields into c, keeping the rest.
func fillComponent(cal *ical.Calendar, c *ical.Component, ev *calendar.Event, uid string, now time.Time, master bool) error {
	c.Props.SetText(ical.PropUID, uid)
	stamp := ical.NewProp(ical.PropDateTimeStamp)
	stamp.Value = now.UTC().Format("20060102T150405Z")
	c.Props.Set(stamp)
	setText(c, ical.PropSummary, ev.Summary)
	setText(c, ical.PropDescription, ev.Description)
	setText(c, ical.PropLocation, ev.Location)
	setText(c, PropTag, ev.Tag)

	c.Props.Set(timeProp(cal, ical.PropDateTimeStart, ev.Start, ev.AllDay))
	c.Props.Del(ical.PropDuration)
	c.Props.Set(timeProp(cal, ical.PropDateTimeEnd, ev.End, ev.AllDay))
	if !ev.RecurrenceID.IsZero() {
		// A DATE like DTSTART's, unless that would lose a time of day.
		rid := ev.RecurrenceID
		dateOnly := ev.AllDay && rid.Equal(midnightUTC(rid.UTC()))
		if dateOnly {
			rid = rid.UTC()
		}
		c.Props.Set(timeProp(cal, ical.PropRecurrenceID, rid, dateOnly))
	} else {
		c.Props.Del(ical.PropRecurrenceID)
	}

	switch {
	case ev.Cancelled:
		c.Props.SetText(ical.PropStatus, "CANCELLED")
	case strings.EqualFold(text(c, ical.PropStatus), "CANCELLED"):
		c.Props.SetText(ical.PropStatus, "CONFIRMED")
	}
	switch {
	case ev.Transparent:
		c.Props.SetText(ical.PropTransparency, "TRANSPARENT")
	case c.Props.Get(ical.PropTransparency) != nil:
		c.Props.SetText(ical.PropTransparency, "OPAQUE")
	}
	if seq := c.Props.Get(ical.PropSequence); seq != nil {
		if n, err := seq.Int(); err == nil && n >= 0 && n < 1<<30 {
			seq.Value = fmt.Sprint(n + 1)
			c.Props.Set(seq)
		}
	}

	for _, name := range recurrenceProps {
		c.Props.Del(name)
	}
	if master {
		for _, l := range ev.Recurrence {
			p, err := parseContentLine(l)
			if err != nil {
				return err // checked by checkEvent
			}
			c.Props.Add(p)
		}
	}
	return nil
}

func setText(c *ical.Component, name, v string) {
	if v == "" {
		c.Props.Del(name)
		return
	}
	p := c.Props.Get(name)
	if p == nil {
		p = ical.NewProp(name)
	}
	p.SetText(v)
	if strings.HasPrefix(name, "X-") {
		p.Params.Del(ical.ParamValue) // TEXT is the default of X- properties
	}
	c.Props.Set(p)
}

// timeProp writes t as a DATE (allDay) or DATE-TIME property (see
// EncodeEvent for the zone rules).
func timeProp(cal *ical.Calendar, name string, t time.Time, allDay bool) *ical.Prop {
	p := ical.NewProp(name)
	if allDay {
		p.Params.Set(ical.ParamValue, "DATE")
		p.Value = t.Format("20060102") // the wall date, in t's own zone
		return p
	}
	if tzid, ok := zoneName(cal, t.Location()); ok {
		p.Params.Set(ical.PropTimezoneID, tzid)
		p.Value = t.Format("20060102T150405")
		return p
	}
	p.Value = t.UTC().Format("20060102T150405Z")
	return p
}

// zoneName returns the TZID to write for loc, if any.
func zoneName(cal *ical.Calendar, loc *time.Location) (string, bool) {
	if loc == nil || loc == time.UTC || loc == time.Local {
		return "", false
	}
	name := loc.String()
	if name == "UTC" || name == "" || name == "Local" || strings.ContainsAny(name, "\"\r\n") {
		return "", false
	}
	if cal != nil {
		for _, tz := range cal.Children {
			if tz.Name == ical.CompTimezone && text(tz, ical.PropTimezoneID) == name {
				return name, true
			}
		}
	}
	if _, ok := loadZone(name); ok {
		return name, true
	}
	return "", false
}

// cloneComponent deep-copies c so that an update never changes the
// caller's Native.
func cloneComponent(c *ical.Component) *ical.Component {
	out := &ical.Component{Name: c.Name, Props: make(ical.Props, len(c.Props))}
	names := make([]string, 0, len(c.Props))
	for n := range c.Props {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ps := make([]ical.Prop, len(c.Props[n]))
		for i, p := range c.Props[n] {
			cp := ical.Prop{Name: p.Name, Value: p.Value, Params: make(ical.Params, len(p.Params))}
			for k, v := range p.Params {
				cp.Params[k] = append([]string(nil), v...)
			}
			ps[i] = cp
		}
		out.Props[n] = ps
	}
	for _, ch := range c.Children {
		out.Children = append(out.Children, cloneComponent(ch))
	}
	return out
}

func encodeCalendar(cal *ical.Calendar) ([]byte, error) {
	var b bytes.Buffer
	if err := ical.NewEncoder(&b).Encode(cal); err != nil {
		return nil, validate.New("caldav", "event", "cannot be written as iCalendar: %v", err)
	}
	return b.Bytes(), nil
}
