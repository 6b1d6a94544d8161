package google

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wedsync/integrations/calendar"
)

// TagProperty is the private extended property that carries the WedSync
// booking id (calendar.Event.Tag) on the events the engine writes.
const TagProperty = "wedsyncBooking"

// apiEvent is the part of Google's Event resource the provider models.
type apiEvent struct {
	ID                 string              `json:"id,omitempty"`
	ETag               string              `json:"etag,omitempty"`
	Status             string              `json:"status,omitempty"`
	ICalUID            string              `json:"iCalUID,omitempty"`
	Summary            string              `json:"summary,omitempty"`
	Description        string              `json:"description,omitempty"`
	Location           string              `json:"location,omitempty"`
	Start              *apiTime            `json:"start,omitempty"`
	End                *apiTime            `json:"end,omitempty"`
	Recurrence         []string            `json:"recurrence,omitempty"`
	RecurringEventID   string              `json:"recurringEventId,omitempty"`
	OriginalStartTime  *apiTime            `json:"originalStartTime,omitempty"`
	Transparency       string              `json:"transparency,omitempty"`
	ExtendedProperties *extendedProperties `json:"extendedProperties,omitempty"`
}

type apiTime struct {
	Date     string `json:"date,omitempty"`
	DateTime string `json:"dateTime,omitempty"`
	TimeZone string `json:"timeZone,omitempty"`
}

type extendedProperties struct {
	Private map[string]string `json:"private,omitempty"`
}

// Raw is the Native value of the events the provider returns: the event
// resource exactly as Google sent it.
type Raw = json.RawMessage

// DecodeEvent converts one Google Calendar event resource (JSON, as
// events.get and events.list return it) to a calendar.Event:
//
//   - ID, ETag and UID are Google's id, etag and iCalUID;
//   - start/end with "date" make an all-day event (midnight UTC, end
//     exclusive); with "dateTime" a timed one, whose Location is the
//     event's timeZone when it is a zone this system knows, else UTC;
//   - recurrence lines are kept verbatim;
//   - an instance of a series (recurringEventId) gets RecurrenceID from
//     originalStartTime; status "cancelled" sets Cancelled;
//   - transparency "transparent" sets Transparent;
//   - extendedProperties.private.wedsyncBooking is the Tag.
//
// Native holds the raw JSON.
func DecodeEvent(data []byte) (*calendar.Event, error) {
	var a apiEvent
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("google: event is not JSON: %w", err)
	}
	ev, err := a.toEvent()
	if err != nil {
		return nil, err
	}
	ev.Native = Raw(append([]byte(nil), data...))
	return ev, nil
}

func (a *apiEvent) toEvent() (*calendar.Event, error) {
	if a.ID == "" {
		return nil, errors.New("google: event without id")
	}
	ev := &calendar.Event{
		ID: a.ID, ETag: a.ETag, UID: a.ICalUID,
		Summary: a.Summary, Description: a.Description, Location: a.Location,
		Cancelled:   a.Status == "cancelled",
		Transparent: a.Transparency == "transparent",
	}
	if len(a.Recurrence) > 0 {
		ev.Recurrence = append([]string(nil), a.Recurrence...)
	}
	if a.ExtendedProperties != nil {
		ev.Tag = a.ExtendedProperties.Private[TagProperty]
	}
	if a.OriginalStartTime != nil {
		rid, _, err := a.OriginalStartTime.parse()
		if err != nil {
			return nil, fmt.Errorf("google: event %q: originalStartTime: %w", a.ID, err)
		}
		ev.RecurrenceID = rid
	}
	// A cancelled event in a sync answer may carry nothing but its id.
	if a.Start == nil || a.End == nil {
		if ev.Cancelled {
			return ev, nil
		}
		return nil, fmt.Errorf("google: event %q has no start or end", a.ID)
	}
	var startDay, endDay bool
	var err error
	if ev.Start, startDay, err = a.Start.parse(); err != nil {
		return nil, fmt.Errorf("google: event %q: start: %w", a.ID, err)
	}
	if ev.End, endDay, err = a.End.parse(); err != nil {
		return nil, fmt.Errorf("google: event %q: end: %w", a.ID, err)
	}
	if startDay != endDay {
		return nil, fmt.Errorf("google: event %q mixes a date and a date-time", a.ID)
	}
	if ev.End.Before(ev.Start) {
		return nil, fmt.Errorf("google: event %q ends before it starts", a.ID)
	}
	ev.AllDay = startDay
	return ev, nil
}

// parse reads a start, end or originalStartTime; allDay reports a date.
func (t *apiTime) parse() (tm time.Time, allDay bool, err error) {
	switch {
	case t.DateTime != "":
		tm, err = time.Parse(time.RFC3339, t.DateTime)
		if err != nil {
			return time.Time{}, false, err
		}
		loc := time.UTC
		if t.TimeZone != "" {
			if l, lerr := loadZone(t.TimeZone); lerr == nil {
				loc = l
			}
		}
		tm = tm.In(loc)
		if y := tm.UTC().Year(); y < 1 || y > 9999 || tm.IsZero() {
			return time.Time{}, false, fmt.Errorf("year %d out of range", y)
		}
		return tm, false, nil
	case t.Date != "":
		tm, err = time.Parse(time.DateOnly, t.Date)
		if err == nil && tm.IsZero() {
			err = errors.New("date out of range")
		}
		return tm, true, err
	}
	return time.Time{}, false, errors.New("neither date nor dateTime")
}

// loadZone loads an IANA zone; "Local" and names with odd characters are
// refused so that a calendar's data never depends on the host's setup.
func loadZone(name string) (*time.Location, error) {
	if name == "Local" || strings.ContainsAny(name, "\\\x00") || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	return time.LoadLocation(name)
}

// encodeTime writes a start or end.
func encodeTime(t time.Time, allDay bool) *apiTime {
	if allDay {
		return &apiTime{Date: t.UTC().Format(time.DateOnly)}
	}
	zone := t.Location().String()
	if zone == "Local" || zone == "" {
		t, zone = t.UTC(), "UTC"
	}
	dt := t
	if _, off := t.Zone(); off%60 != 0 {
		dt = t.UTC() // RFC 3339 offsets have no seconds (historical LMT offsets do)
	}
	return &apiTime{DateTime: dt.Format(time.RFC3339), TimeZone: zone}
}

// patchBody is the body of an insert or a patch: the modelled fields,
// always present (an empty description clears the calendar's), so that a
// patch overwrites exactly what the event model holds and leaves the rest
// (attendees, reminders, colour) as the calendar has it.
func patchBody(ev *calendar.Event) map[string]any {
	m := map[string]any{
		"summary":      ev.Summary,
		"description":  ev.Description,
		"location":     ev.Location,
		"start":        encodeTime(ev.Start, ev.AllDay),
		"end":          encodeTime(ev.End, ev.AllDay),
		"transparency": "opaque",
		"recurrence":   append([]string{}, ev.Recurrence...),
	}
	if ev.Transparent {
		m["transparency"] = "transparent"
	}
	if ev.Cancelled {
		m["status"] = "cancelled"
	} else {
		m["status"] = "confirmed"
	}
	var tag any // null removes the property in a patch
	if ev.Tag != "" {
		tag = ev.Tag
	}
	m["extendedProperties"] = map[string]any{"private": map[string]any{TagProperty: tag}}
	return m
}

func checkEvent(ev *calendar.Event) error {
	if ev == nil {
		return invalidf("ev", "is required")
	}
	if ev.Start.IsZero() || ev.End.IsZero() {
		return invalidf("ev.Start", "start and end are required")
	}
	if ev.End.Before(ev.Start) {
		return invalidf("ev.End", "must not be before Start")
	}
	return nil
}

// EncodeEvent converts ev to the JSON of a Google event resource, the
// inverse of DecodeEvent for what calendar.Event models: id and etag when
// set, iCalUID from UID, start/end ("date" for an all-day event, else
// "dateTime" with the zone of ev.Start as timeZone; a time in Local is
// written in UTC), recurrence, status, transparency and the tag as
// extendedProperties.private.wedsyncBooking. Overrides are not encoded
// (Google holds them as events of their own).
func EncodeEvent(ev *calendar.Event) ([]byte, error) {
	if err := checkEvent(ev); err != nil {
		return nil, err
	}
	body := patchBody(ev)
	if ev.ID != "" {
		body["id"] = ev.ID
	}
	if ev.ETag != "" {
		body["etag"] = ev.ETag
	}
	if ev.UID != "" {
		body["iCalUID"] = ev.UID
	}
	if ev.Tag == "" {
		delete(body, "extendedProperties")
	}
	if len(ev.Recurrence) == 0 {
		delete(body, "recurrence")
	}
	return json.Marshal(body)
}
