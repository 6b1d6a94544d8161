package caldav

import (
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-ical"
)

// RFC 5545 3.6.5 wants a VTIMEZONE for every TZID an object uses; strict
// clients (Outlook, older Thunderbird) need it to place a time. The
// provider writes one for each IANA zone its events use, built from Go's
// zone data: the zone's transitions over the span the events cover (a year
// before the first start to a year after the last, ten years for a series)
// as STANDARD and DAYLIGHT observances with DTSTART and RDATE lists. A
// VTIMEZONE for a TZID Go cannot load (a custom one from the base object)
// is kept as it is. The span is cut to 50 years from 1900 on at most.

// maxZoneYears bounds the span one generated VTIMEZONE covers.
const maxZoneYears = 50

// zoneSpan is the range a VTIMEZONE must cover.
type zoneSpan struct{ from, to time.Time }

// addTimezones adds (or replaces) a VTIMEZONE for each IANA TZID used by
// the calendar's VEVENTs.
func addTimezones(cal *ical.Calendar) {
	spans := map[string]*zoneSpan{}
	for _, ev := range cal.Children {
		if ev.Name != ical.CompEvent {
			continue
		}
		recurring := len(ev.Props.Values(ical.PropRecurrenceRule)) > 0 || len(ev.Props.Values(ical.PropRecurrenceDates)) > 0
		for _, props := range ev.Props {
			for i := range props {
				p := &props[i]
				tzid := p.Params.Get(ical.PropTimezoneID)
				if tzid == "" {
					continue
				}
				loc, ok := loadZone(tzid)
				if !ok || loc.String() != tzid {
					continue
				}
				v := p.Value
				if j := strings.IndexByte(v, ','); j >= 0 {
					v = v[:j]
				}
				t, err := time.ParseInLocation("20060102T150405", v, loc)
				if err != nil {
					continue
				}
				end := t.AddDate(1, 0, 0)
				if recurring {
					end = t.AddDate(10, 0, 0)
				}
				s := spans[tzid]
				if s == nil {
					s = &zoneSpan{from: t.AddDate(-1, 0, 0), to: end}
					spans[tzid] = s
				}
				if t.AddDate(-1, 0, 0).Before(s.from) {
					s.from = t.AddDate(-1, 0, 0)
				}
				if end.After(s.to) {
					s.to = end
				}
			}
		}
	}
	if len(spans) == 0 {
		return
	}
	kept := cal.Children[:0:0]
	for _, c := range cal.Children {
		if c.Name == ical.CompTimezone {
			if _, ours := spans[text(c, ical.PropTimezoneID)]; ours {
				continue // replaced below
			}
		}
		kept = append(kept, c)
	}
	ids := make([]string, 0, len(spans))
	for id, s := range spans {
		ids = append(ids, id)
		// Bound the work on odd data (a DTSTART in year 1, an RDATE in
		// 9999): at most maxZoneYears, from 1900 on.
		if lo := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC); s.from.Before(lo) {
			s.from = lo
		}
		if hi := s.from.AddDate(maxZoneYears, 0, 0); s.to.After(hi) {
			s.to = hi
		}
		if s.to.Before(s.from) {
			s.to = s.from
		}
	}
	sort.Strings(ids)
	var tzs []*ical.Component
	for _, id := range ids {
		loc, _ := loadZone(id)
		tzs = append(tzs, vtimezone(id, loc, spans[id].from, spans[id].to))
	}
	cal.Children = append(tzs, kept...)
}

// transition is one change of a zone's offset.
type transition struct {
	at         time.Time // the first instant of the new offset
	fromOffset int
	toOffset   int
	name       string
	dst        bool
}

// transitions finds loc's offset changes in [from, to], scanning by day
// and bisecting to the second (zones change at most a few times a year).
func transitions(loc *time.Location, from, to time.Time) []transition {
	var out []transition
	const step = 24 * time.Hour
	prev := from.In(loc)
	_, prevOff := prev.Zone()
	for t := from.Add(step); !t.After(to.Add(step)); t = t.Add(step) {
		cur := t.In(loc)
		_, off := cur.Zone()
		if off == prevOff {
			prev = cur
			continue
		}
		lo, hi := prev, cur // offset(lo) = prevOff, offset(hi) = off
		for hi.Sub(lo) > time.Second {
			mid := lo.Add(hi.Sub(lo) / 2)
			if _, o := mid.Zone(); o == prevOff {
				lo = mid
			} else {
				hi = mid
			}
		}
		name, _ := hi.Zone()
		out = append(out, transition{at: hi.Truncate(time.Second), fromOffset: prevOff, toOffset: off, name: name, dst: hi.IsDST()})
		prev, prevOff = cur, off
	}
	return out
}

// vtimezone builds the VTIMEZONE of loc for [from, to].
func vtimezone(tzid string, loc *time.Location, from, to time.Time) *ical.Component {
	tz := ical.NewComponent(ical.CompTimezone)
	tz.Props.SetText(ical.PropTimezoneID, tzid)
	trs := transitions(loc, from, to)
	if len(trs) == 0 {
		name, off := from.In(loc).Zone()
		trs = []transition{{at: time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Duration(off) * time.Second), fromOffset: off, toOffset: off, name: name, dst: from.In(loc).IsDST()}}
	}
	type key struct {
		dst      bool
		from, to int
		name     string
	}
	groups := map[key]*ical.Component{}
	var order []*ical.Component
	for _, tr := range trs {
		// DTSTART and RDATE are the onset in local time before the change.
		local := tr.at.In(time.FixedZone("", tr.fromOffset)).Format("20060102T150405")
		k := key{tr.dst, tr.fromOffset, tr.toOffset, tr.name}
		c := groups[k]
		if c == nil {
			name := ical.CompTimezoneStandard
			if tr.dst {
				name = ical.CompTimezoneDaylight
			}
			c = ical.NewComponent(name)
			c.Props.Set(&ical.Prop{Name: ical.PropDateTimeStart, Params: ical.Params{}, Value: local})
			c.Props.Set(&ical.Prop{Name: ical.PropTimezoneOffsetFrom, Params: ical.Params{}, Value: formatOffset(tr.fromOffset)})
			c.Props.Set(&ical.Prop{Name: ical.PropTimezoneOffsetTo, Params: ical.Params{}, Value: formatOffset(tr.toOffset)})
			if tr.name != "" && !strings.ContainsAny(tr.name, "\r\n") {
				c.Props.SetText(ical.PropTimezoneName, tr.name)
			}
			groups[k] = c
			order = append(order, c)
			continue
		}
		c.Props.Add(&ical.Prop{Name: ical.PropRecurrenceDates, Params: ical.Params{}, Value: local})
	}
	tz.Children = order
	return tz
}

// formatOffset writes a UTC-OFFSET: "+0100", "-0330", "+054500".
func formatOffset(sec int) string {
	sign := byte('+')
	if sec < 0 {
		sign, sec = '-', -sec
	}
	h, m, s := sec/3600, sec/60%60, sec%60
	b := []byte{sign, byte('0' + h/10), byte('0' + h%10), byte('0' + m/10), byte('0' + m%10)}
	if s != 0 {
		b = append(b, byte('0'+s/10), byte('0'+s%10))
	}
	return string(b)
}
