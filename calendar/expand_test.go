package calendar

import (
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	z, err := time.LoadLocation(name)
	require.NoError(t, err)
	return z
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func win(a, b string) Interval { return Interval{Start: utc(a), End: utc(b)} }

// starts renders each instance as "start/end" in UTC.
func spans(in []Instance) []string {
	out := make([]string, 0, len(in))
	for _, i := range in {
		out = append(out, i.Start.UTC().Format(time.RFC3339)+"/"+i.End.UTC().Format(time.RFC3339))
	}
	return out
}

func TestExpand(t *testing.T) {
	lon, ny := zone(t, "Europe/London"), zone(t, "America/New_York")
	// A Saturday 14:00-15:00 London series from 2026-05-30 (BST: 13:00Z).
	sat := func(rec ...string) *Event {
		return &Event{
			Start:      time.Date(2026, 5, 30, 14, 0, 0, 0, lon),
			End:        time.Date(2026, 5, 30, 15, 0, 0, 0, lon),
			Recurrence: rec,
		}
	}
	june := win("2026-05-25T00:00:00Z", "2026-06-25T00:00:00Z")
	allDay := &Event{AllDay: true, Start: utc("2026-06-06T00:00:00Z"), End: utc("2026-06-07T00:00:00Z")}

	tests := []struct {
		name   string
		ev     *Event
		window Interval
		loc    *time.Location
		want   []string
	}{
		{
			name:   "single timed",
			ev:     &Event{Start: time.Date(2026, 6, 6, 14, 0, 0, 0, lon), End: time.Date(2026, 6, 6, 16, 30, 0, 0, lon)},
			window: june, loc: ny,
			want: []string{"2026-06-06T13:00:00Z/2026-06-06T15:30:00Z"},
		},
		{
			name:   "single timed outside the window",
			ev:     &Event{Start: time.Date(2026, 7, 6, 14, 0, 0, 0, lon), End: time.Date(2026, 7, 6, 16, 30, 0, 0, lon)},
			window: june, loc: lon,
		},
		{
			name:   "single timed ending at the window's start is outside (half-open)",
			ev:     &Event{Start: utc("2026-05-24T23:00:00Z"), End: utc("2026-05-25T00:00:00Z")},
			window: june, loc: lon,
		},
		{
			name:   "single timed starting before the window and ending in it",
			ev:     &Event{Start: utc("2026-05-24T23:00:00Z"), End: utc("2026-05-25T00:30:00Z")},
			window: june, loc: lon,
			want: []string{"2026-05-24T23:00:00Z/2026-05-25T00:30:00Z"},
		},
		{
			name: "single all-day in London", ev: allDay, window: june, loc: lon,
			want: []string{"2026-06-05T23:00:00Z/2026-06-06T23:00:00Z"},
		},
		{
			name: "single all-day in New York", ev: allDay, window: june, loc: ny,
			want: []string{"2026-06-06T04:00:00Z/2026-06-07T04:00:00Z"},
		},
		{
			name:   "all-day on the spring-forward day lasts 23 hours in London",
			ev:     &Event{AllDay: true, Start: utc("2026-03-29T00:00:00Z"), End: utc("2026-03-30T00:00:00Z")},
			window: win("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"), loc: lon,
			want: []string{"2026-03-29T00:00:00Z/2026-03-29T23:00:00Z"},
		},
		{
			name:   "all-day on the fall-back day lasts 25 hours in New York",
			ev:     &Event{AllDay: true, Start: utc("2026-11-01T00:00:00Z"), End: utc("2026-11-02T00:00:00Z")},
			window: win("2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z"), loc: ny,
			want: []string{"2026-11-01T04:00:00Z/2026-11-02T05:00:00Z"},
		},
		{
			name: "cancelled event gives nothing",
			ev: &Event{Cancelled: true, Start: time.Date(2026, 6, 6, 14, 0, 0, 0, lon), End: time.Date(2026, 6, 6, 15, 0, 0, 0, lon),
				Recurrence: []string{"RRULE:FREQ=DAILY"}},
			window: june, loc: lon,
		},
		{
			name: "weekly COUNT", ev: sat("RRULE:FREQ=WEEKLY;BYDAY=SA;COUNT=3"), window: june, loc: lon,
			want: []string{
				"2026-05-30T13:00:00Z/2026-05-30T14:00:00Z",
				"2026-06-06T13:00:00Z/2026-06-06T14:00:00Z",
				"2026-06-13T13:00:00Z/2026-06-13T14:00:00Z",
			},
		},
		{
			name: "weekly UNTIL (inclusive, UTC)", ev: sat("RRULE:FREQ=WEEKLY;UNTIL=20260613T130000Z"), window: june, loc: lon,
			want: []string{
				"2026-05-30T13:00:00Z/2026-05-30T14:00:00Z",
				"2026-06-06T13:00:00Z/2026-06-06T14:00:00Z",
				"2026-06-13T13:00:00Z/2026-06-13T14:00:00Z",
			},
		},
		{
			name: "weekly UNTIL as a date on a timed series includes that day", ev: sat("RRULE:FREQ=WEEKLY;UNTIL=20260613"), window: june, loc: lon,
			want: []string{
				"2026-05-30T13:00:00Z/2026-05-30T14:00:00Z",
				"2026-06-06T13:00:00Z/2026-06-06T14:00:00Z",
				"2026-06-13T13:00:00Z/2026-06-13T14:00:00Z",
			},
		},
		{
			name: "EXDATE with TZID and in UTC, lower-case names",
			ev: sat("rrule:FREQ=WEEKLY;COUNT=4", "EXDATE;TZID=Europe/London:20260606T140000",
				"exdate:20260620T130000Z"),
			window: june, loc: lon,
			want: []string{
				"2026-05-30T13:00:00Z/2026-05-30T14:00:00Z",
				"2026-06-13T13:00:00Z/2026-06-13T14:00:00Z",
			},
		},
		{
			name: "EXDATE list, floating (event's zone) and quoted TZID",
			ev: sat("RRULE:FREQ=WEEKLY;COUNT=4", `EXDATE;TZID="Europe/London":20260606T140000,20260613T140000`,
				"EXDATE:20260620T140000"),
			window: june, loc: lon,
			want: []string{"2026-05-30T13:00:00Z/2026-05-30T14:00:00Z"},
		},
		{
			name:   "EXDATE;VALUE=DATE on a timed series removes that day's instance",
			ev:     sat("RRULE:FREQ=WEEKLY;COUNT=3", "EXDATE;VALUE=DATE:20260606"),
			window: june, loc: lon,
			want: []string{
				"2026-05-30T13:00:00Z/2026-05-30T14:00:00Z",
				"2026-06-13T13:00:00Z/2026-06-13T14:00:00Z",
			},
		},
		{
			name: "RDATE adds, and one equal to an instance does not duplicate it",
			ev: sat("RRULE:FREQ=WEEKLY;COUNT=2", "RDATE;TZID=America/New_York:20260610T090000",
				"RDATE:20260606T130000Z"),
			window: june, loc: lon,
			want: []string{
				"2026-05-30T13:00:00Z/2026-05-30T14:00:00Z",
				"2026-06-06T13:00:00Z/2026-06-06T14:00:00Z",
				"2026-06-10T13:00:00Z/2026-06-10T14:00:00Z",
			},
		},
		{
			name:   "RDATE alone makes a series (DTSTART plus the dates)",
			ev:     sat("RDATE:20260601T100000Z"),
			window: june, loc: lon,
			want: []string{
				"2026-05-30T13:00:00Z/2026-05-30T14:00:00Z",
				"2026-06-01T10:00:00Z/2026-06-01T11:00:00Z",
			},
		},
		{
			name: "RDATE;VALUE=PERIOD with end and with duration",
			ev: sat("RRULE:FREQ=WEEKLY;COUNT=1",
				"RDATE;VALUE=PERIOD:20260602T100000Z/20260602T120000Z,20260603T100000Z/PT3H30M"),
			window: june, loc: lon,
			want: []string{
				"2026-05-30T13:00:00Z/2026-05-30T14:00:00Z",
				"2026-06-02T10:00:00Z/2026-06-02T12:00:00Z",
				"2026-06-03T10:00:00Z/2026-06-03T13:30:00Z",
			},
		},
		{
			name:   "two RRULEs are a union, without duplicates",
			ev:     sat("RRULE:FREQ=WEEKLY;BYDAY=SA;COUNT=2", "RRULE:FREQ=WEEKLY;BYDAY=SA,SU;COUNT=2"),
			window: june, loc: lon,
			want: []string{
				"2026-05-30T13:00:00Z/2026-05-30T14:00:00Z",
				"2026-05-31T13:00:00Z/2026-05-31T14:00:00Z",
				"2026-06-06T13:00:00Z/2026-06-06T14:00:00Z",
			},
		},
		{
			name: "EXRULE removes its dates; unknown lines are ignored",
			ev: sat("RRULE:FREQ=WEEKLY;COUNT=4", "EXRULE:FREQ=WEEKLY;INTERVAL=2",
				"X-WR-SOMETHING:1", "DTSTART:20200101T000000Z"),
			window: june, loc: lon,
			want: []string{
				"2026-06-06T13:00:00Z/2026-06-06T14:00:00Z",
				"2026-06-20T13:00:00Z/2026-06-20T14:00:00Z",
			},
		},
		{
			name: "an instance starting before the window but ending in it is included",
			ev: &Event{Start: utc("2026-05-01T23:00:00Z"), End: utc("2026-05-02T02:00:00Z"),
				Recurrence: []string{"RRULE:FREQ=DAILY"}},
			window: win("2026-05-10T00:00:00Z", "2026-05-11T00:00:00Z"), loc: lon,
			want: []string{
				"2026-05-09T23:00:00Z/2026-05-10T02:00:00Z",
				"2026-05-10T23:00:00Z/2026-05-11T02:00:00Z",
			},
		},
		{
			name: "all-day weekly series with EXDATE;VALUE=DATE and UNTIL as a date, in New York",
			ev: &Event{AllDay: true, Start: utc("2026-06-06T00:00:00Z"), End: utc("2026-06-08T00:00:00Z"),
				Recurrence: []string{"RRULE:FREQ=WEEKLY;UNTIL=20260620", "EXDATE;VALUE=DATE:20260613"}},
			window: june, loc: ny,
			want: []string{
				"2026-06-06T04:00:00Z/2026-06-08T04:00:00Z",
				"2026-06-20T04:00:00Z/2026-06-22T04:00:00Z",
			},
		},
		{
			name:   "RDATE;VALUE=DATE on a timed series is that date at DTSTART's time",
			ev:     sat("RRULE:FREQ=WEEKLY;COUNT=1", "RDATE;VALUE=DATE:20260602"),
			window: june, loc: lon,
			want: []string{
				"2026-05-30T13:00:00Z/2026-05-30T14:00:00Z",
				"2026-06-02T13:00:00Z/2026-06-02T14:00:00Z",
			},
		},
		{
			name: "all-day series with RDATE dates, one a duplicate",
			ev: &Event{AllDay: true, Start: utc("2026-06-06T00:00:00Z"), End: utc("2026-06-07T00:00:00Z"),
				Recurrence: []string{"RRULE:FREQ=WEEKLY;COUNT=2", "RDATE;VALUE=DATE:20260610,20260613"}},
			window: june, loc: lon,
			want: []string{
				"2026-06-05T23:00:00Z/2026-06-06T23:00:00Z",
				"2026-06-09T23:00:00Z/2026-06-10T23:00:00Z",
				"2026-06-12T23:00:00Z/2026-06-13T23:00:00Z",
			},
		},
		{
			name: "all-day weekly series across London's fall-back keeps local midnights",
			ev: &Event{AllDay: true, Start: utc("2026-10-18T00:00:00Z"), End: utc("2026-10-19T00:00:00Z"),
				Recurrence: []string{"RRULE:FREQ=WEEKLY;COUNT=3"}},
			window: win("2026-10-01T00:00:00Z", "2026-11-30T00:00:00Z"), loc: lon,
			want: []string{
				"2026-10-17T23:00:00Z/2026-10-18T23:00:00Z",
				"2026-10-24T23:00:00Z/2026-10-26T00:00:00Z", // Sunday 25 October: 25 hours
				"2026-11-01T00:00:00Z/2026-11-02T00:00:00Z",
			},
		},
		{
			// RFC 5545 3.8.5.3: DTSTART is the first instance even off-rule.
			name: "DTSTART off the rule is still an instance",
			ev: &Event{Start: time.Date(2026, 6, 3, 9, 0, 0, 0, lon), End: time.Date(2026, 6, 3, 10, 0, 0, 0, lon),
				Recurrence: []string{"RRULE:FREQ=WEEKLY;BYDAY=FR;COUNT=1"}},
			window: june, loc: lon,
			want: []string{
				"2026-06-03T08:00:00Z/2026-06-03T09:00:00Z",
				"2026-06-05T08:00:00Z/2026-06-05T09:00:00Z",
			},
		},
		{
			// 02:30 does not exist in New York on 2026-03-08. Go's
			// time.Date (which rrule-go uses) reads it with the offset
			// after the change (EDT, -4): 06:30Z, 01:30 EST by the clock.
			// RFC 5545 3.3.5 would take the offset before (07:30Z).
			name: "nonexistent local time on spring-forward day",
			ev: &Event{Start: time.Date(2026, 3, 1, 2, 30, 0, 0, ny), End: time.Date(2026, 3, 1, 3, 30, 0, 0, ny),
				Recurrence: []string{"RRULE:FREQ=WEEKLY;COUNT=3"}},
			window: win("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"), loc: ny,
			want: []string{
				"2026-03-01T07:30:00Z/2026-03-01T08:30:00Z",
				"2026-03-08T06:30:00Z/2026-03-08T07:30:00Z",
				"2026-03-15T06:30:00Z/2026-03-15T07:30:00Z",
			},
		},
		{
			// 01:30 occurs twice in New York on 2026-11-01; Go takes the
			// first (EDT, 05:30Z).
			name: "ambiguous local time on fall-back day",
			ev: &Event{Start: time.Date(2026, 10, 25, 1, 30, 0, 0, ny), End: time.Date(2026, 10, 25, 2, 0, 0, 0, ny),
				Recurrence: []string{"RRULE:FREQ=WEEKLY;COUNT=3"}},
			window: win("2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z"), loc: ny,
			want: []string{
				"2026-10-25T05:30:00Z/2026-10-25T06:00:00Z",
				"2026-11-01T05:30:00Z/2026-11-01T06:00:00Z",
				"2026-11-08T06:30:00Z/2026-11-08T07:00:00Z",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Expand(tc.ev, tc.window, tc.loc)
			require.NoError(t, err)
			require.Equal(t, tc.want, nilIfEmpty(spans(got)))
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestExpandDST checks a Sunday 09:30 weekly series keeps 09:30 local
// across each 2026 DST change, by exact UTC instants.
func TestExpandDST(t *testing.T) {
	tests := []struct {
		zone  string
		first time.Time // a Sunday two weeks before the change (local date)
		want  []string
	}{
		{"Europe/London", time.Date(2026, 3, 15, 9, 30, 0, 0, time.UTC), []string{
			"2026-03-15T09:30:00Z", "2026-03-22T09:30:00Z", "2026-03-29T08:30:00Z", "2026-04-05T08:30:00Z"}},
		{"Europe/London", time.Date(2026, 10, 11, 9, 30, 0, 0, time.UTC), []string{
			"2026-10-11T08:30:00Z", "2026-10-18T08:30:00Z", "2026-10-25T09:30:00Z", "2026-11-01T09:30:00Z"}},
		{"America/New_York", time.Date(2026, 2, 22, 9, 30, 0, 0, time.UTC), []string{
			"2026-02-22T14:30:00Z", "2026-03-01T14:30:00Z", "2026-03-08T13:30:00Z", "2026-03-15T13:30:00Z"}},
		{"America/New_York", time.Date(2026, 10, 18, 9, 30, 0, 0, time.UTC), []string{
			"2026-10-18T13:30:00Z", "2026-10-25T13:30:00Z", "2026-11-01T14:30:00Z", "2026-11-08T14:30:00Z"}},
	}
	for _, tc := range tests {
		t.Run(tc.zone+"/"+tc.first.Format("2006-01"), func(t *testing.T) {
			z := zone(t, tc.zone)
			start := time.Date(tc.first.Year(), tc.first.Month(), tc.first.Day(), 9, 30, 0, 0, z)
			ev := &Event{Start: start, End: start.Add(time.Hour), Recurrence: []string{"RRULE:FREQ=WEEKLY;BYDAY=SU"}}
			w := Interval{Start: start.Add(-time.Hour), End: start.AddDate(0, 0, 22)}
			got, err := Expand(ev, w, z)
			require.NoError(t, err)
			var starts []string
			for _, in := range got {
				starts = append(starts, in.Start.UTC().Format(time.RFC3339))
				require.Equal(t, time.Hour, in.End.Sub(in.Start))
				h, m, _ := in.Start.In(z).Clock()
				require.Equal(t, [2]int{9, 30}, [2]int{h, m}, "wall clock kept")
				require.True(t, in.RecurrenceID.Equal(in.Start))
			}
			require.Equal(t, tc.want, starts)
		})
	}
}

func TestExpandOverrides(t *testing.T) {
	lon := zone(t, "Europe/London")
	at := func(d, h int) time.Time { return time.Date(2026, 6, d, h, 0, 0, 0, lon) }
	series := func(ov ...Event) *Event {
		return &Event{Start: at(6, 14), End: at(6, 15), Recurrence: []string{"RRULE:FREQ=WEEKLY;COUNT=4"}, Overrides: ov}
	}
	w := Interval{Start: at(10, 0), End: at(25, 0)} // holds the 13th and 20th

	tests := []struct {
		name string
		ev   *Event
		want []string
		ids  []time.Time
	}{
		{
			name: "moved within the window",
			ev:   series(Event{RecurrenceID: at(13, 14), Start: at(14, 9), End: at(14, 11)}),
			want: []string{"2026-06-14T08:00:00Z/2026-06-14T10:00:00Z", "2026-06-20T13:00:00Z/2026-06-20T14:00:00Z"},
			ids:  []time.Time{at(13, 14), at(20, 14)},
		},
		{
			name: "moved into the window from an original start before it",
			ev:   series(Event{RecurrenceID: at(6, 14), Start: at(22, 9), End: at(22, 10)}),
			want: []string{
				"2026-06-13T13:00:00Z/2026-06-13T14:00:00Z",
				"2026-06-20T13:00:00Z/2026-06-20T14:00:00Z",
				"2026-06-22T08:00:00Z/2026-06-22T09:00:00Z",
			},
			ids: []time.Time{at(13, 14), at(20, 14), at(6, 14)},
		},
		{
			name: "moved out of the window vanishes",
			ev:   series(Event{RecurrenceID: at(20, 14), Start: at(27, 9), End: at(27, 10)}),
			want: []string{"2026-06-13T13:00:00Z/2026-06-13T14:00:00Z"},
			ids:  []time.Time{at(13, 14)},
		},
		{
			name: "cancelled override removes the instance; RecurrenceID matched by instant in another zone",
			ev:   series(Event{RecurrenceID: at(13, 14).UTC(), Cancelled: true}),
			want: []string{"2026-06-20T13:00:00Z/2026-06-20T14:00:00Z"},
			ids:  []time.Time{at(20, 14)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Expand(tc.ev, w, lon)
			require.NoError(t, err)
			require.Equal(t, tc.want, spans(got))
			for i, in := range got {
				require.True(t, tc.ids[i].Equal(in.RecurrenceID), "instance %d RecurrenceID %s", i, in.RecurrenceID)
			}
		})
	}

	t.Run("all-day override matched by date, transparent override left out of busy time", func(t *testing.T) {
		ny := zone(t, "America/New_York")
		ev := &Event{AllDay: true, Start: utc("2026-06-06T00:00:00Z"), End: utc("2026-06-07T00:00:00Z"),
			Recurrence: []string{"RRULE:FREQ=DAILY;COUNT=3"},
			Overrides: []Event{
				{RecurrenceID: utc("2026-06-07T00:00:00Z"), AllDay: true, Start: utc("2026-06-09T00:00:00Z"), End: utc("2026-06-10T00:00:00Z")},
				{RecurrenceID: utc("2026-06-08T00:00:00Z"), Start: time.Date(2026, 6, 8, 9, 0, 0, 0, ny), End: time.Date(2026, 6, 8, 10, 0, 0, 0, ny), Transparent: true},
			}}
		got, err := Expand(ev, win("2026-06-01T00:00:00Z", "2026-06-30T00:00:00Z"), ny)
		require.NoError(t, err)
		require.Equal(t, []string{
			"2026-06-06T04:00:00Z/2026-06-07T04:00:00Z",
			"2026-06-08T13:00:00Z/2026-06-08T14:00:00Z",
			"2026-06-09T04:00:00Z/2026-06-10T04:00:00Z",
		}, spans(got))
		require.Equal(t, []bool{true, false, true}, []bool{got[0].AllDay, got[1].AllDay, got[2].AllDay})
		busy, err := BusyIntervals(ev, win("2026-06-01T00:00:00Z", "2026-06-30T00:00:00Z"), ny)
		require.NoError(t, err)
		require.Equal(t, []Interval{got[0].Interval, got[2].Interval}, busy)
	})

	t.Run("transparent event: Expand gives it, BusyIntervals does not", func(t *testing.T) {
		ev := series()
		ev.Transparent = true
		got, err := Expand(ev, w, lon)
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.True(t, got[0].Transparent)
		busy, err := BusyIntervals(ev, w, lon)
		require.NoError(t, err)
		require.Empty(t, busy)
	})
}

func TestExpandTooMany(t *testing.T) {
	lon := zone(t, "Europe/London")
	t.Run("SECONDLY in the window stops at MaxInstances", func(t *testing.T) {
		start := time.Date(2026, 6, 6, 10, 0, 0, 0, lon)
		ev := &Event{Start: start, End: start.Add(time.Second), Recurrence: []string{"RRULE:FREQ=SECONDLY"}}
		got, err := Expand(ev, Interval{Start: start, End: start.Add(24 * time.Hour)}, lon)
		require.ErrorIs(t, err, ErrTooManyInstances)
		require.Contains(t, err.Error(), "Event.Recurrence[0]")
		require.Len(t, got, MaxInstances)
		require.True(t, got[0].Start.Equal(start))
		require.True(t, got[MaxInstances-1].Start.Equal(start.Add((MaxInstances-1)*time.Second)), "a prefix, in order")
	})
	t.Run("SECONDLY from years before the window stops at the step limit", func(t *testing.T) {
		start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		ev := &Event{Start: start, End: start.Add(time.Second), Recurrence: []string{"RRULE:FREQ=SECONDLY"}}
		got, err := Expand(ev, win("2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z"), lon)
		require.ErrorIs(t, err, ErrTooManyInstances)
		require.Empty(t, got)
	})
	t.Run("a daily series from 1990 is fine", func(t *testing.T) {
		start := time.Date(1990, 1, 1, 9, 0, 0, 0, lon)
		ev := &Event{Start: start, End: start.Add(time.Hour), Recurrence: []string{"RRULE:FREQ=DAILY"}}
		got, err := Expand(ev, win("2026-06-01T00:00:00Z", "2026-06-08T00:00:00Z"), lon)
		require.NoError(t, err)
		require.Len(t, got, 7)
	})
}

func TestExpandInvalid(t *testing.T) {
	lon := zone(t, "Europe/London")
	start := time.Date(2026, 6, 6, 14, 0, 0, 0, lon)
	w := win("2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z")
	ev := func(rec ...string) *Event { return &Event{Start: start, End: start.Add(time.Hour), Recurrence: rec} }
	tests := []struct {
		name   string
		ev     *Event
		w      Interval
		loc    *time.Location
		fields []string // substrings the error must name
	}{
		{"nil event", nil, w, lon, []string{"Event"}},
		{"nil loc", ev(), w, nil, []string{"loc"}},
		{"window backwards", ev(), Interval{Start: w.End, End: w.Start}, lon, []string{"window"}},
		{"End before Start", &Event{Start: start, End: start.Add(-time.Minute)}, w, lon, []string{"Event.End"}},
		{"unparsable RRULE", ev("RRULE:FREQ=WEEKLY", "RRULE:FREQ=SOMETIMES"), w, lon, []string{"Event.Recurrence[1]", "FREQ=SOMETIMES"}},
		{"RRULE out of bounds", ev("RRULE:FREQ=MONTHLY;BYMONTHDAY=32"), w, lon, []string{"Event.Recurrence[0]", "bymonthday"}},
		{"negative COUNT", ev("RRULE:FREQ=DAILY;COUNT=-1"), w, lon, []string{"Event.Recurrence[0]", "COUNT"}},
		{"unknown TZID", ev("RRULE:FREQ=DAILY", "EXDATE;TZID=Mars/Olympus:20260606T140000"), w, lon, []string{"Event.Recurrence[1]", "Mars/Olympus"}},
		{"bad date-time", ev("RDATE:2026-06-06T14:00"), w, lon, []string{"Event.Recurrence[0]", "2026-06-06T14:00"}},
		{"no colon", ev("RRULE"), w, lon, []string{"Event.Recurrence[0]"}},
		{"bad VALUE", ev("RDATE;VALUE=TEXT:hello"), w, lon, []string{"Event.Recurrence[0]", "VALUE=TEXT"}},
		{"bad duration", ev("RDATE;VALUE=PERIOD:20260606T140000Z/PT"), w, lon, []string{"Event.Recurrence[0]", "duration"}},
		{"period backwards", ev("RDATE;VALUE=PERIOD:20260606T140000Z/20260606T130000Z"), w, lon, []string{"Event.Recurrence[0]", "ends before"}},
		{"PERIOD in EXDATE", ev("EXDATE;VALUE=PERIOD:20260606T140000Z/PT1H"), w, lon, []string{"Event.Recurrence[0]", "PERIOD"}},
		{"PERIOD in all-day", &Event{AllDay: true, Start: utc("2026-06-06T00:00:00Z"), End: utc("2026-06-07T00:00:00Z"),
			Recurrence: []string{"RDATE;VALUE=PERIOD:20260606T140000Z/PT1H"}}, w, lon, []string{"Event.Recurrence[0]", "all-day"}},
		{"too many rules", ev("RRULE:FREQ=DAILY", "RRULE:FREQ=DAILY", "RRULE:FREQ=DAILY", "RRULE:FREQ=DAILY",
			"RRULE:FREQ=DAILY", "RRULE:FREQ=DAILY", "RRULE:FREQ=DAILY", "RRULE:FREQ=DAILY", "EXRULE:FREQ=DAILY"), w, lon, []string{"Event.Recurrence[8]"}},
		{"override End before Start", &Event{Start: start, End: start.Add(time.Hour), Recurrence: []string{"RRULE:FREQ=DAILY"},
			Overrides: []Event{{RecurrenceID: start, Start: start, End: start.Add(-time.Hour)}}}, w, lon, []string{"Event.Overrides[0].End"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Expand(tc.ev, tc.w, tc.loc)
			require.ErrorIs(t, err, ErrInvalid)
			var ve *ValidationError
			require.True(t, errors.As(err, &ve))
			for _, f := range tc.fields {
				require.Contains(t, err.Error(), f)
			}
			require.Nil(t, got)
		})
	}
}

func FuzzExpand(f *testing.F) {
	f.Add("RRULE:FREQ=WEEKLY;BYDAY=SA;COUNT=10", "EXDATE;TZID=Europe/London:20260606T140000", "RDATE:20260610T130000Z", false, int64(0), int64(30*24))
	f.Add("RRULE:FREQ=SECONDLY", "", "", false, int64(0), int64(48))
	f.Add("RRULE:FREQ=DAILY;UNTIL=20260620", "EXDATE;VALUE=DATE:20260606", "RDATE;VALUE=DATE:20260701", true, int64(-100), int64(2000))
	f.Add("rrule:freq=monthly;bymonthday=-1;interval=2", "EXRULE:FREQ=WEEKLY", "RDATE;VALUE=PERIOD:20260602T100000Z/PT3H", false, int64(100), int64(10))
	f.Add("RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", `EXDATE;TZID="America/New_York":20260606T140000,20260613T140000`, "X:Y", false, int64(-9000), int64(90000))
	lon, err := time.LoadLocation("Europe/London")
	require.NoError(f, err)
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, l1, l2, l3 string, allDay bool, fromH, lenH int64) {
		start := time.Date(2026, 6, 6, 14, 0, 0, 0, lon)
		ev := &Event{Start: start, End: start.Add(90 * time.Minute), Recurrence: []string{l1, l2, l3},
			Overrides: []Event{{RecurrenceID: start.AddDate(0, 0, 7), Start: start.AddDate(0, 0, 30), End: start.AddDate(0, 0, 30).Add(time.Hour)}}}
		if allDay {
			ev.Start, ev.End = utc("2026-06-06T00:00:00Z"), utc("2026-06-08T00:00:00Z")
			ev.AllDay = true
		}
		const span = 24 * 365 * 20
		fromH, lenH = fromH%span, lenH%span
		if lenH < 0 {
			lenH = -lenH
		}
		w := Interval{Start: start.Add(time.Duration(fromH) * time.Hour)}
		w.End = w.Start.Add(time.Duration(lenH) * time.Hour)
		got, err := Expand(ev, w, ny)
		if err != nil && !errors.Is(err, ErrTooManyInstances) {
			require.ErrorIs(t, err, ErrInvalid)
			require.Nil(t, got)
		}
		require.LessOrEqual(t, len(got), MaxInstances)
		require.True(t, sort.SliceIsSorted(got, func(i, j int) bool { return got[i].Start.Before(got[j].Start) }), "sorted")
		for _, in := range got {
			require.False(t, in.End.Before(in.Start), "instance %s backwards", in.Interval)
			require.True(t, in.Overlaps(w) || (in.Start.Equal(in.End) && !in.Start.Before(w.Start) && in.Start.Before(w.End)),
				"instance %s outside window %s", in.Interval, w)
		}
	})
}

func BenchmarkExpandWeeklyYear(b *testing.B) {
	lon, err := time.LoadLocation("Europe/London")
	require.NoError(b, err)
	start := time.Date(2024, 1, 6, 14, 0, 0, 0, lon)
	ev := &Event{Start: start, End: start.Add(2 * time.Hour), Recurrence: []string{
		"RRULE:FREQ=WEEKLY;BYDAY=SA",
		"EXDATE;TZID=Europe/London:20260606T140000,20260613T140000",
	}}
	w := win("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")
	b.ReportAllocs()
	for b.Loop() {
		got, err := Expand(ev, w, lon)
		if err != nil || len(got) != 50 {
			b.Fatal(len(got), err)
		}
	}
}
