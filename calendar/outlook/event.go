package outlook

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/internal/validate"
)

// TagPropertyID is the Graph single-value extended property that holds
// the WedSync booking id (calendar.Event.Tag) on the events the engine
// writes: a string property in WedSync's own property set (a GUID chosen
// once for WedSync and fixed forever; changing it would make every tagged
// event look like the supplier's own).
const TagPropertyID = "String {6f0e7a5e-3b1c-4d2a-9e57-5d8c1f2b7a90} Name wedsyncBooking"

// expandTag is the $expand that makes Graph return the tag property.
const expandTag = "singleValueExtendedProperties($filter=id eq '" + TagPropertyID + "')"

// Wire shapes of Graph's event resource (the fields the provider uses).
type (
	// GraphEvent is Graph's event resource, the fields of it the
	// provider reads and writes (DecodeEvent, EncodeEvent); a decoded
	// event keeps it in calendar.Event.Native.
	GraphEvent struct {
		ID                    string           `json:"id,omitempty"`
		ETag                  string           `json:"@odata.etag,omitempty"`
		Removed               *json.RawMessage `json:"@removed,omitempty"`
		ICalUID               string           `json:"iCalUId,omitempty"`
		Subject               *string          `json:"subject,omitempty"`
		Body                  *graphBody       `json:"body,omitempty"`
		Location              *graphLocation   `json:"location,omitempty"`
		Start                 *graphTime       `json:"start,omitempty"`
		End                   *graphTime       `json:"end,omitempty"`
		IsAllDay              *bool            `json:"isAllDay,omitempty"`
		IsCancelled           bool             `json:"isCancelled,omitempty"`
		ShowAs                string           `json:"showAs,omitempty"`
		Type                  string           `json:"type,omitempty"`
		SeriesMasterID        string           `json:"seriesMasterId,omitempty"`
		OriginalStart         string           `json:"originalStart,omitempty"`
		OriginalStartTimeZone string           `json:"originalStartTimeZone,omitempty"`
		Recurrence            *graphRecurrence `json:"recurrence,omitempty"`
		TransactionID         string           `json:"transactionId,omitempty"`
		ExtendedProperties    []graphExtProp   `json:"singleValueExtendedProperties,omitempty"`
	}
	graphBody struct {
		ContentType string `json:"contentType"`
		Content     string `json:"content"`
	}
	graphLocation struct {
		DisplayName string `json:"displayName"`
	}
	graphTime struct {
		DateTime string `json:"dateTime"`
		TimeZone string `json:"timeZone"`
	}
	graphExtProp struct {
		ID    string `json:"id"`
		Value string `json:"value"`
	}
	graphRecurrence struct {
		Pattern graphPattern `json:"pattern"`
		Range   graphRange   `json:"range"`
	}
	graphPattern struct {
		Type           string   `json:"type"`
		Interval       int      `json:"interval"`
		Month          int      `json:"month,omitempty"`
		DayOfMonth     int      `json:"dayOfMonth,omitempty"`
		DaysOfWeek     []string `json:"daysOfWeek,omitempty"`
		FirstDayOfWeek string   `json:"firstDayOfWeek,omitempty"`
		Index          string   `json:"index,omitempty"`
	}
	graphRange struct {
		Type                string `json:"type"`
		StartDate           string `json:"startDate,omitempty"`
		EndDate             string `json:"endDate,omitempty"`
		NumberOfOccurrences int    `json:"numberOfOccurrences,omitempty"`
		RecurrenceTimeZone  string `json:"recurrenceTimeZone,omitempty"`
	}
)

// windowsZones maps the Windows time zone names Graph uses most to IANA
// names. A name not here, and not an IANA name itself, reads as UTC.
var windowsZones = map[string]string{
	"UTC": "UTC", "Coordinated Universal Time": "UTC",
	"GMT Standard Time": "Europe/London", "Greenwich Standard Time": "Atlantic/Reykjavik",
	"W. Europe Standard Time": "Europe/Berlin", "Romance Standard Time": "Europe/Paris",
	"Central Europe Standard Time": "Europe/Budapest", "Central European Standard Time": "Europe/Warsaw",
	"E. Europe Standard Time": "Europe/Chisinau", "FLE Standard Time": "Europe/Kiev", "GTB Standard Time": "Europe/Bucharest",
	"Irish Standard Time": "Europe/Dublin", "Russian Standard Time": "Europe/Moscow", "Turkey Standard Time": "Europe/Istanbul",
	"Eastern Standard Time": "America/New_York", "Central Standard Time": "America/Chicago",
	"Mountain Standard Time": "America/Denver", "US Mountain Standard Time": "America/Phoenix",
	"Pacific Standard Time": "America/Los_Angeles", "Alaskan Standard Time": "America/Anchorage",
	"Hawaiian Standard Time": "Pacific/Honolulu", "Atlantic Standard Time": "America/Halifax",
	"Canada Central Standard Time": "America/Regina", "E. South America Standard Time": "America/Sao_Paulo",
	"India Standard Time": "Asia/Kolkata", "China Standard Time": "Asia/Shanghai", "Tokyo Standard Time": "Asia/Tokyo",
	"Singapore Standard Time": "Asia/Singapore", "Arabian Standard Time": "Asia/Dubai", "Israel Standard Time": "Asia/Jerusalem",
	"South Africa Standard Time": "Africa/Johannesburg", "AUS Eastern Standard Time": "Australia/Sydney",
	"W. Australia Standard Time": "Australia/Perth", "New Zealand Standard Time": "Pacific/Auckland",
}

// zone returns the location of a Graph time zone name: an IANA name, a
// Windows name from the table, else UTC.
func zone(name string) *time.Location {
	if name == "" {
		return time.UTC
	}
	if iana, ok := windowsZones[name]; ok {
		name = iana
	}
	if loc, err := time.LoadLocation(name); err == nil {
		return loc
	}
	return time.UTC
}

// parseGraphTime reads a dateTimeTimeZone: dateTime is a wall time
// ("2026-06-06T13:00:00.0000000") in timeZone.
func parseGraphTime(t *graphTime) (time.Time, error) {
	if t == nil || t.DateTime == "" {
		return time.Time{}, fmt.Errorf("missing dateTime")
	}
	s := strings.TrimSuffix(t.DateTime, "Z")
	for _, layout := range []string{"2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05", "2006-01-02"} {
		if v, err := time.ParseInLocation(layout, s, zone(t.TimeZone)); err == nil {
			return v, nil
		}
	}
	return time.Time{}, fmt.Errorf("dateTime %q is not a date-time", t.DateTime)
}

// DecodeEvent converts one Graph event (JSON, as Graph returns it with
// Prefer: outlook.timezone="UTC") to a calendar.Event:
//
//   - ID is the (immutable) id, ETag the @odata.etag, UID the iCalUId;
//   - Start and End are read in UTC and put in the zone of
//     originalStartTimeZone (an IANA name, or a Windows name mapped by a
//     small table; anything else stays UTC);
//   - isAllDay gives AllDay with Start and End at midnight UTC of the dates;
//   - a seriesMaster's patternedRecurrence becomes one RRULE line; an
//     occurrence or exception (calendarView returns instances, not
//     masters) is an event of its own, without Recurrence;
//   - isCancelled gives Cancelled, showAs "free" Transparent, and the
//     extended property TagPropertyID the Tag;
//   - an "@removed" item is a deleted event: only its ID is set and
//     Cancelled is true.
//
// Native holds the decoded *GraphEvent.
func DecodeEvent(data []byte) (*calendar.Event, error) {
	var g GraphEvent
	if err := json.Unmarshal(data, &g); err != nil {
		return nil, validate.New("outlook", "event", "must be a Graph event as JSON: %v", err)
	}
	return g.toEvent()
}

func (g *GraphEvent) toEvent() (*calendar.Event, error) {
	if g.ID == "" {
		return nil, validate.New("outlook", "event.id", "is required")
	}
	ev := &calendar.Event{ID: g.ID, ETag: g.ETag, UID: g.ICalUID, Native: g}
	if g.Removed != nil {
		ev.Cancelled = true
		return ev, nil
	}
	if g.Subject != nil {
		ev.Summary = *g.Subject
	}
	if g.Body != nil {
		ev.Description = g.Body.Content
	}
	if g.Location != nil {
		ev.Location = g.Location.DisplayName
	}
	start, err := parseGraphTime(g.Start)
	if err != nil {
		return nil, validate.New("outlook", "event.start", "%v", err)
	}
	end, err := parseGraphTime(g.End)
	if err != nil {
		return nil, validate.New("outlook", "event.end", "%v", err)
	}
	if g.IsAllDay != nil && *g.IsAllDay {
		ev.AllDay = true
		y, m, d := start.Date()
		ev.Start = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		y, m, d = end.Date()
		ev.End = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		if !ev.End.After(ev.Start) {
			ev.End = ev.Start.AddDate(0, 0, 1)
		}
	} else {
		loc := zone(g.OriginalStartTimeZone)
		if g.OriginalStartTimeZone == "" && g.Start.TimeZone != "" {
			loc = zone(g.Start.TimeZone)
		}
		ev.Start, ev.End = start.In(loc), end.In(loc)
	}
	if ev.End.Before(ev.Start) {
		return nil, validate.New("outlook", "event.end", "must not be before start")
	}
	ev.Cancelled = g.IsCancelled
	ev.Transparent = strings.EqualFold(g.ShowAs, "free")
	for _, p := range g.ExtendedProperties {
		if strings.EqualFold(p.ID, TagPropertyID) {
			ev.Tag = p.Value
		}
	}
	if g.Type == "seriesMaster" && g.Recurrence != nil {
		rule, err := g.Recurrence.rrule(ev.Start)
		if err != nil {
			return nil, err
		}
		ev.Recurrence = []string{rule}
	}
	return ev, nil
}

var graphDays = map[string]string{"sunday": "SU", "monday": "MO", "tuesday": "TU", "wednesday": "WE", "thursday": "TH", "friday": "FR", "saturday": "SA"}
var rruleDays = map[string]string{"SU": "sunday", "MO": "monday", "TU": "tuesday", "WE": "wednesday", "TH": "thursday", "FR": "friday", "SA": "saturday"}
var graphIndex = map[string]string{"first": "1", "second": "2", "third": "3", "fourth": "4", "last": "-1"}

// rrule converts a patternedRecurrence to an RRULE line: daily, weekly,
// absoluteMonthly, relativeMonthly, absoluteYearly and relativeYearly
// patterns with interval and days of week, and endDate or numbered
// ranges. An endDate (a date in the recurrence's zone) becomes an UNTIL at
// the end of that day in the event's zone.
func (r *graphRecurrence) rrule(start time.Time) (string, error) {
	var parts []string
	p := r.Pattern
	days := func() (string, error) {
		var out []string
		for _, d := range p.DaysOfWeek {
			code, ok := graphDays[strings.ToLower(d)]
			if !ok {
				return "", validate.New("outlook", "recurrence.pattern.daysOfWeek", "has an unknown day %q", d)
			}
			out = append(out, code)
		}
		return strings.Join(out, ","), nil
	}
	switch p.Type {
	case "daily":
		parts = append(parts, "FREQ=DAILY")
	case "weekly":
		parts = append(parts, "FREQ=WEEKLY")
		d, err := days()
		if err != nil {
			return "", err
		}
		if d != "" {
			parts = append(parts, "BYDAY="+d)
		}
		if wk, ok := graphDays[strings.ToLower(p.FirstDayOfWeek)]; ok && wk != "MO" {
			parts = append(parts, "WKST="+wk)
		}
	case "absoluteMonthly":
		parts = append(parts, "FREQ=MONTHLY", fmt.Sprintf("BYMONTHDAY=%d", p.DayOfMonth))
	case "relativeMonthly", "relativeYearly":
		d, err := days()
		if err != nil {
			return "", err
		}
		idx, ok := graphIndex[strings.ToLower(orDefault(p.Index, "first"))]
		if !ok || d == "" {
			return "", validate.New("outlook", "recurrence.pattern", "relative pattern needs daysOfWeek and index")
		}
		if p.Type == "relativeMonthly" {
			parts = append(parts, "FREQ=MONTHLY")
		} else {
			parts = append(parts, "FREQ=YEARLY", fmt.Sprintf("BYMONTH=%d", p.Month))
		}
		parts = append(parts, "BYDAY="+d, "BYSETPOS="+idx)
	case "absoluteYearly":
		parts = append(parts, "FREQ=YEARLY", fmt.Sprintf("BYMONTH=%d", p.Month), fmt.Sprintf("BYMONTHDAY=%d", p.DayOfMonth))
	default:
		return "", validate.New("outlook", "recurrence.pattern.type", "must be daily, weekly, absoluteMonthly, relativeMonthly, absoluteYearly or relativeYearly, got %q", p.Type)
	}
	if p.Interval > 1 {
		parts = append(parts, fmt.Sprintf("INTERVAL=%d", p.Interval))
	}
	switch r.Range.Type {
	case "endDate":
		d, err := time.ParseInLocation("2006-01-02", r.Range.EndDate, start.Location())
		if err != nil {
			return "", validate.New("outlook", "recurrence.range.endDate", "must be a date, got %q", r.Range.EndDate)
		}
		until := d.AddDate(0, 0, 1).Add(-time.Second).UTC()
		parts = append(parts, "UNTIL="+until.Format("20060102T150405Z"))
	case "numbered":
		if r.Range.NumberOfOccurrences <= 0 {
			return "", validate.New("outlook", "recurrence.range.numberOfOccurrences", "must be positive")
		}
		parts = append(parts, fmt.Sprintf("COUNT=%d", r.Range.NumberOfOccurrences))
	}
	return "RRULE:" + strings.Join(parts, ";"), nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// graphZoneName names loc for Graph: its IANA name (Graph accepts IANA
// names as well as Windows ones), UTC for UTC and Local.
func graphZoneName(loc *time.Location) string {
	if loc == nil || loc == time.Local || loc.String() == "" || loc.String() == "Local" {
		return "UTC"
	}
	return loc.String()
}

func toGraphTime(t time.Time, allDay bool) *graphTime {
	if allDay {
		return &graphTime{DateTime: t.UTC().Format("2006-01-02") + "T00:00:00", TimeZone: "UTC"}
	}
	name := graphZoneName(t.Location())
	if name == "UTC" {
		t = t.UTC()
	}
	return &graphTime{DateTime: t.Format("2006-01-02T15:04:05"), TimeZone: name}
}

// EncodeEvent converts ev to the Graph event the provider sends on Create
// and Update: subject, text body, location, start and end in the event's
// zone, isAllDay, showAs (free or busy), the Tag as the TagPropertyID
// extended property, and a recurrence converted from an RRULE line when
// ev has one Graph can express. Overrides and EXDATE/RDATE lines have no
// Graph equivalent on a write and are not sent.
func EncodeEvent(ev *calendar.Event) (*GraphEvent, error) {
	if ev.Start.IsZero() || ev.End.IsZero() {
		return nil, validate.New("outlook", "event.start", "start and end are required")
	}
	if ev.End.Before(ev.Start) {
		return nil, validate.New("outlook", "event.end", "must not be before start")
	}
	subject, allDay := ev.Summary, ev.AllDay
	g := &GraphEvent{
		Subject:  &subject,
		Body:     &graphBody{ContentType: "text", Content: ev.Description},
		Location: &graphLocation{DisplayName: ev.Location},
		Start:    toGraphTime(ev.Start, allDay),
		End:      toGraphTime(ev.End, allDay),
		IsAllDay: &allDay,
		ShowAs:   "busy",
	}
	if ev.Transparent {
		g.ShowAs = "free"
	}
	if ev.Tag != "" {
		g.ExtendedProperties = []graphExtProp{{ID: TagPropertyID, Value: ev.Tag}}
	}
	for _, line := range ev.Recurrence {
		if rest, ok := strings.CutPrefix(strings.ToUpper(line), "RRULE:"); ok {
			rec, err := fromRRULE(rest, ev.Start, allDay)
			if err != nil {
				return nil, err
			}
			g.Recurrence = rec
		}
	}
	return g, nil
}

// fromRRULE converts the RRULE value parts Graph can express (see rrule).
func fromRRULE(rule string, start time.Time, allDay bool) (*graphRecurrence, error) {
	r := &graphRecurrence{Pattern: graphPattern{Interval: 1}, Range: graphRange{Type: "noEnd", StartDate: start.Format("2006-01-02"), RecurrenceTimeZone: graphZoneName(start.Location())}}
	if allDay {
		r.Range.StartDate, r.Range.RecurrenceTimeZone = start.UTC().Format("2006-01-02"), "UTC"
	}
	kv := map[string]string{}
	for _, part := range strings.Split(rule, ";") {
		k, v, _ := strings.Cut(part, "=")
		kv[k] = v
	}
	var days []string
	var setpos string
	if v := kv["BYDAY"]; v != "" {
		for _, d := range strings.Split(v, ",") {
			// BYDAY=2SA style: a leading ordinal acts as BYSETPOS.
			i := strings.IndexFunc(d, func(r rune) bool { return r >= 'A' && r <= 'Z' })
			if i > 0 {
				setpos = d[:i]
				d = d[i:]
			}
			name, ok := rruleDays[d]
			if !ok {
				return nil, validate.New("outlook", "recurrence", "BYDAY %q is not a day", d)
			}
			days = append(days, name)
		}
	}
	if v := kv["BYSETPOS"]; v != "" {
		setpos = v
	}
	index := map[string]string{"1": "first", "+1": "first", "2": "second", "3": "third", "4": "fourth", "-1": "last"}
	atoi := func(s string) int { var n int; fmt.Sscan(s, &n); return n }
	if v := kv["INTERVAL"]; v != "" {
		r.Pattern.Interval = max(1, atoi(v))
	}
	switch kv["FREQ"] {
	case "DAILY":
		r.Pattern.Type = "daily"
	case "WEEKLY":
		r.Pattern.Type = "weekly"
		if len(days) == 0 {
			days = []string{rruleDays[strings.ToUpper(start.Weekday().String()[:2])]}
		}
		r.Pattern.DaysOfWeek = days
		r.Pattern.FirstDayOfWeek = "monday"
		if wk, ok := rruleDays[kv["WKST"]]; ok {
			r.Pattern.FirstDayOfWeek = wk
		}
	case "MONTHLY":
		if len(days) > 0 {
			r.Pattern.Type, r.Pattern.DaysOfWeek, r.Pattern.Index = "relativeMonthly", days, index[orDefault(setpos, "1")]
		} else {
			r.Pattern.Type, r.Pattern.DayOfMonth = "absoluteMonthly", start.Day()
			if v := kv["BYMONTHDAY"]; v != "" {
				r.Pattern.DayOfMonth = atoi(v)
			}
		}
	case "YEARLY":
		r.Pattern.Month = int(start.Month())
		if v := kv["BYMONTH"]; v != "" {
			r.Pattern.Month = atoi(v)
		}
		if len(days) > 0 {
			r.Pattern.Type, r.Pattern.DaysOfWeek, r.Pattern.Index = "relativeYearly", days, index[orDefault(setpos, "1")]
		} else {
			r.Pattern.Type, r.Pattern.DayOfMonth = "absoluteYearly", start.Day()
			if v := kv["BYMONTHDAY"]; v != "" {
				r.Pattern.DayOfMonth = atoi(v)
			}
		}
	default:
		return nil, validate.New("outlook", "recurrence", "FREQ %q cannot be written to Graph", kv["FREQ"])
	}
	if v := kv["COUNT"]; v != "" {
		r.Range.Type, r.Range.NumberOfOccurrences = "numbered", atoi(v)
	} else if v := kv["UNTIL"]; v != "" {
		var until time.Time
		var err error
		if len(v) == 8 {
			until, err = time.Parse("20060102", v)
		} else {
			until, err = time.Parse("20060102T150405Z", v)
			until = until.In(start.Location())
		}
		if err != nil {
			return nil, validate.New("outlook", "recurrence", "UNTIL %q is not a date", v)
		}
		r.Range.Type, r.Range.EndDate = "endDate", until.Format("2006-01-02")
	}
	return r, nil
}
