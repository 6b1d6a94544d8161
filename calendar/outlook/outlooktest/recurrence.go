package outlooktest

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/teambition/rrule-go"

	"github.com/wedsync/integrations/calendar/outlook"
)

// Recurring series, the way calendarView shows them: a series master
// (an event with a recurrence) is never listed itself; its occurrences
// in the window are, each with its own id (master id, "_OCC_", original
// start in UTC), type "occurrence", seriesMasterId and originalStart. An
// occurrence edited through PATCH becomes an exception stored on its own;
// one deleted is cancelled and reported @removed.

// maxOccurrences bounds the expansion of one series in a window.
const maxOccurrences = 2000

const occSep = "_OCC_"

func isMaster(e *event) bool {
	r, ok := e.fields["recurrence"]
	return ok && string(r) != "null" && e.masterID == ""
}

// series decodes a master: its start in its zone, its duration, its rule.
func (s *Server) series(m *event) (time.Time, time.Duration, *rrule.RRule, bool) {
	ev, err := outlook.DecodeEvent(s.render(m, false, false))
	if err != nil || len(ev.Recurrence) != 1 {
		return time.Time{}, 0, nil, false
	}
	opt, err := rrule.StrToROptionInLocation(strings.TrimPrefix(ev.Recurrence[0], "RRULE:"), ev.Start.Location())
	if err != nil {
		return time.Time{}, 0, nil, false
	}
	opt.Dtstart = ev.Start
	r, err := rrule.NewRRule(*opt)
	if err != nil {
		return time.Time{}, 0, nil, false
	}
	return ev.Start, ev.End.Sub(ev.Start), r, true
}

// occurrences lists m's occurrences overlapping [from, to) that are not
// exceptions or cancelled.
func (s *Server) occurrences(m *event, from, to time.Time) []*event {
	_, dur, r, ok := s.series(m)
	if !ok {
		return nil
	}
	var out []*event
	for _, t := range r.Between(from.Add(-dur), to, true) {
		if len(out) >= maxOccurrences {
			break
		}
		if !t.Add(dur).After(from) || !t.Before(to) {
			continue
		}
		id := m.id + occSep + t.UTC().Format("20060102T150405Z")
		if s.events[id] != nil {
			continue // an exception, or cancelled
		}
		out = append(out, s.occurrenceAt(m, id, t, dur))
	}
	return out
}

// occurrence returns the (unedited) occurrence id, or nil.
func (s *Server) occurrence(id string) *event {
	mid, ts, ok := strings.Cut(id, occSep)
	if !ok {
		return nil
	}
	m := s.events[mid]
	t, err := time.Parse("20060102T150405Z", ts)
	if m == nil || m.deleted || !isMaster(m) || err != nil {
		return nil
	}
	_, dur, r, ok := s.series(m)
	if !ok {
		return nil
	}
	for _, x := range r.Between(t.Add(-time.Second), t.Add(time.Second), true) {
		if x.Equal(t) {
			return s.occurrenceAt(m, id, x, dur)
		}
	}
	return nil
}

func (s *Server) occurrenceAt(m *event, id string, t time.Time, dur time.Duration) *event {
	o := &event{id: id, cal: m.cal, etag: m.etag, seq: m.seq, masterID: m.id, fields: map[string]json.RawMessage{}}
	for k, v := range m.fields {
		if k != "recurrence" {
			o.fields[k] = v
		}
	}
	_, d, _ := parseDTZ(m.fields["start"])
	loc, _ := loadZone(d.TimeZone)
	st, _ := json.Marshal(dtz{DateTime: t.In(loc).Format("2006-01-02T15:04:05"), TimeZone: d.TimeZone})
	en, _ := json.Marshal(dtz{DateTime: t.Add(dur).In(loc).Format("2006-01-02T15:04:05"), TimeZone: d.TimeZone})
	mid, _ := json.Marshal(m.id)
	orig, _ := json.Marshal(t.UTC().Format(time.RFC3339))
	o.fields["start"], o.fields["end"], o.fields["seriesMasterId"], o.fields["originalStart"] = st, en, mid, orig
	o.fields["type"] = json.RawMessage(`"occurrence"`)
	return o
}
