package caldav_test

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/caldav"
)

func wrap(vevent string) []byte {
	return []byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n" + vevent + "END:VCALENDAR\r\n")
}

func TestParseEventTimes(t *testing.T) {
	t.Run("custom TZID from VTIMEZONE only: fixed offset of STANDARD", func(t *testing.T) {
		ev, err := caldav.ParseEvent([]byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n" +
			"BEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\n" +
			"BEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n" +
			"BEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\n" +
			"END:VTIMEZONE\r\n" +
			"BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20260101T000000Z\r\n" +
			"DTSTART;TZID=W. Europe Standard Time:20260110T100000\r\nDTEND;TZID=W. Europe Standard Time:20260110T110000\r\nEND:VEVENT\r\n" +
			"END:VCALENDAR\r\n"))
		require.NoError(t, err)
		require.Equal(t, time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC), ev.Start.UTC())
		require.Equal(t, "W. Europe Standard Time", ev.Start.Location().String())
		// Encoding keeps the TZID, since the base defines it.
		out, err := caldav.EncodeEvent(ev)
		require.NoError(t, err)
		require.Contains(t, string(out), "DTSTART;TZID=W. Europe Standard Time:20260110T100000")
	})
	t.Run("unknown TZID without VTIMEZONE: UTC", func(t *testing.T) {
		ev, err := caldav.ParseEvent(wrap("BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Mars/Olympus:20260110T100000\r\nEND:VEVENT\r\n"))
		require.NoError(t, err)
		require.Equal(t, time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC), ev.Start)
		require.Equal(t, ev.Start, ev.End, "no DTEND or DURATION: zero length")
	})
	t.Run("DURATION instead of DTEND", func(t *testing.T) {
		ev, err := caldav.ParseEvent(wrap("BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/London:20260606T140000\r\nDURATION:PT1H30M\r\nEND:VEVENT\r\n"))
		require.NoError(t, err)
		require.Equal(t, 90*time.Minute, ev.End.Sub(ev.Start))
		require.Equal(t, "Europe/London", ev.End.Location().String())
	})
	t.Run("all-day without DTEND: one day", func(t *testing.T) {
		ev, err := caldav.ParseEvent(wrap("BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260606\r\nEND:VEVENT\r\n"))
		require.NoError(t, err)
		require.True(t, ev.AllDay)
		require.Equal(t, time.Date(2026, 6, 6, 0, 0, 0, 0, time.UTC), ev.Start)
		require.Equal(t, time.Date(2026, 6, 7, 0, 0, 0, 0, time.UTC), ev.End)
	})
	t.Run("all-day with DURATION", func(t *testing.T) {
		ev, err := caldav.ParseEvent(wrap("BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260606\r\nDURATION:P3D\r\nEND:VEVENT\r\n"))
		require.NoError(t, err)
		require.Equal(t, time.Date(2026, 6, 9, 0, 0, 0, 0, time.UTC), ev.End)
	})
	t.Run("not an event", func(t *testing.T) {
		_, err := caldav.ParseEvent(wrap("BEGIN:VTODO\r\nUID:u\r\nDTSTAMP:20260101T000000Z\r\nEND:VTODO\r\n"))
		require.ErrorIs(t, err, caldav.ErrNotEvent)
	})
	t.Run("no DTSTART", func(t *testing.T) {
		_, err := caldav.ParseEvent(wrap("BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20260101T000000Z\r\nEND:VEVENT\r\n"))
		require.ErrorContains(t, err, "DTSTART")
	})
}

func TestEncodeEvent(t *testing.T) {
	start := time.Date(2026, 6, 6, 14, 0, 0, 0, london(t))
	out, err := caldav.EncodeEvent(&calendar.Event{
		UID: "u1", Summary: "a, b; c", Start: start, End: start.Add(time.Hour), Tag: "bkg_1",
		Recurrence: []string{"RRULE:FREQ=DAILY;COUNT=2", "EXDATE;TZID=Europe/London:20260607T140000"},
	})
	require.NoError(t, err)
	s := string(out)
	for _, want := range []string{
		"DTSTART;TZID=Europe/London:20260606T140000\r\n",
		"DTEND;TZID=Europe/London:20260606T150000\r\n",
		"SUMMARY:a\\, b\\; c\r\n",
		"X-WEDSYNC-BOOKING:bkg_1\r\n",
		"RRULE:FREQ=DAILY;COUNT=2\r\n",
		"EXDATE;TZID=Europe/London:20260607T140000\r\n",
		"UID:u1\r\n",
		"DTSTAMP:",
	} {
		require.Contains(t, s, want)
	}

	// UTC and fixed zones are written in UTC.
	out, err = caldav.EncodeEvent(&calendar.Event{Start: start.In(time.FixedZone("X", 3600)), End: start.Add(time.Hour)})
	require.NoError(t, err)
	require.Contains(t, string(out), "DTSTART:20260606T130000Z\r\n")
	ev, err := caldav.ParseEvent(out)
	require.NoError(t, err)
	require.NotEmpty(t, ev.UID, "a UID is generated")

	for _, tc := range []struct {
		ev    calendar.Event
		field string
	}{
		{calendar.Event{}, "Start"},
		{calendar.Event{Start: start, End: start.Add(-time.Hour)}, "End"},
		{calendar.Event{Start: start, End: start, Recurrence: []string{"SUMMARY:x"}}, "Recurrence[0]"},
		{calendar.Event{Start: start, End: start, Recurrence: []string{"RRULE:FREQ=DAILY\r\nX:y"}}, "Recurrence[0]"},
		{calendar.Event{Start: start, End: start, Overrides: []calendar.Event{{Start: start, End: start}}}, "Overrides[0].RecurrenceID"},
	} {
		_, err := caldav.EncodeEvent(&tc.ev)
		var ve *calendar.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, tc.field, ve.Field)
	}
}

func TestEncodeDoesNotChangeNative(t *testing.T) {
	ev, err := caldav.ParseEvent([]byte(valarmEvent))
	require.NoError(t, err)
	before := ev.Native.(*ical.Calendar).Events()[0].Props.Get(ical.PropSummary).Value
	ev.Summary = "changed"
	_, err = caldav.EncodeEvent(ev)
	require.NoError(t, err)
	require.Equal(t, before, ev.Native.(*ical.Calendar).Events()[0].Props.Get(ical.PropSummary).Value)
}

// sameEvent compares what the model holds.
func sameEvent(t *testing.T, a, b *calendar.Event) {
	t.Helper()
	if a.UID != "" { // else EncodeEvent made one
		require.Equal(t, a.UID, b.UID)
	}
	require.Equal(t, a.Summary, b.Summary)
	require.Equal(t, a.Description, b.Description)
	require.Equal(t, a.Location, b.Location)
	require.True(t, a.Start.Equal(b.Start), "start %s vs %s", a.Start, b.Start)
	require.True(t, a.End.Equal(b.End), "end %s vs %s", a.End, b.End)
	require.Equal(t, a.AllDay, b.AllDay)
	require.Equal(t, a.Recurrence, b.Recurrence)
	require.Equal(t, a.Cancelled, b.Cancelled)
	require.Equal(t, a.Transparent, b.Transparent)
	require.Equal(t, a.Tag, b.Tag)
	require.True(t, a.RecurrenceID.Equal(b.RecurrenceID))
	require.Equal(t, len(a.Overrides), len(b.Overrides))
}

func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(valarmEvent))
	f.Add(wrap("BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260606\r\nDURATION:P3D\r\nSTATUS:CANCELLED\r\nTRANSP:TRANSPARENT\r\nX-WEDSYNC-BOOKING:b1\r\nEND:VEVENT\r\n"))
	f.Add(wrap("BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/London:20260606T140000\r\nDTEND;TZID=Europe/London:20260606T150000\r\n" +
		"RRULE:FREQ=WEEKLY;BYDAY=SA\r\nRDATE;TZID=Europe/London:20260610T140000\r\nEXDATE;TZID=Europe/London:20260613T140000\r\nEND:VEVENT\r\n" +
		"BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID;TZID=Europe/London:20260620T140000\r\nDTSTART;TZID=Europe/London:20260620T160000\r\nDTEND;TZID=Europe/London:20260620T170000\r\nEND:VEVENT\r\n"))
	f.Add(wrap("BEGIN:VEVENT\r\nUID:u\r\nDTSTART:20260606T140000\r\nDESCRIPTION:line\\nnext\r\n LONG FOLDED\r\nEND:VEVENT\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		ev, err := caldav.ParseEvent(data)
		if err != nil {
			return
		}
		out, err := caldav.EncodeEvent(ev)
		if err != nil {
			return // parsed but not writable as is (e.g. a NUL in a text)
		}
		back, err := caldav.ParseEvent(out)
		require.NoError(t, err, "encoded:\n%s", out)
		sameEvent(t, ev, back)
		for i := range ev.Overrides {
			if !strings.Contains(string(out), "RECURRENCE-ID") {
				t.Fatalf("override %d lost", i)
			}
		}
	})
}

func TestEncodeEventWritesVTIMEZONE(t *testing.T) {
	start := time.Date(2026, 6, 6, 14, 0, 0, 0, london(t))
	out, err := caldav.EncodeEvent(&calendar.Event{UID: "u", Start: start, End: start.Add(time.Hour)})
	require.NoError(t, err)
	cal, err := ical.NewDecoder(strings.NewReader(string(out))).Decode()
	require.NoError(t, err)
	var tz *ical.Component
	for _, c := range cal.Children {
		if c.Name == ical.CompTimezone {
			require.Nil(t, tz, "one VTIMEZONE")
			tz = c
		}
	}
	require.NotNil(t, tz)
	require.Equal(t, "Europe/London", tz.Props.Get(ical.PropTimezoneID).Value)
	// A year either side of June 2026: BST starts 2025-03-30, 2026-03-29,
	// 2027-03-28 at 01:00 GMT, and ends in the Octobers at 02:00 BST.
	obs := map[string][]string{}
	for _, c := range tz.Children {
		var dates []string
		dates = append(dates, c.Props.Get(ical.PropDateTimeStart).Value)
		for _, r := range c.Props.Values(ical.PropRecurrenceDates) {
			dates = append(dates, r.Value)
		}
		obs[c.Name+" "+c.Props.Get(ical.PropTimezoneOffsetFrom).Value+">"+c.Props.Get(ical.PropTimezoneOffsetTo).Value+" "+c.Props.Get(ical.PropTimezoneName).Value] = dates
	}
	require.Equal(t, map[string][]string{
		"DAYLIGHT +0000>+0100 BST": {"20260329T010000", "20270328T010000"},
		"STANDARD +0100>+0000 GMT": {"20251026T020000", "20261025T020000"},
	}, obs)

	// A zone without transitions gets one STANDARD.
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	out, err = caldav.EncodeEvent(&calendar.Event{UID: "u", Start: start.In(tokyo), End: start.In(tokyo)})
	require.NoError(t, err)
	require.Contains(t, string(out), "BEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZNAME:JST\r\nTZOFFSETFROM:+0900\r\nTZOFFSETTO:+0900\r\nEND:STANDARD\r\n")
}

// Far-apart dates do not make a VTIMEZONE of millennia.
func TestEncodeEventBoundsVTIMEZONE(t *testing.T) {
	loc := london(t)
	start := time.Date(1, 1, 1, 10, 0, 0, 0, loc)
	out, err := caldav.EncodeEvent(&calendar.Event{UID: "u", Start: start, End: start,
		Recurrence: []string{"RDATE;TZID=Europe/London:99990101T100000"}})
	require.NoError(t, err)
	require.Less(t, len(out), 20000)
}
