package caldav_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"
	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/caldav"
	"github.com/wedsync/integrations/calendar/caldav/caldavtest"
)

func TestName(t *testing.T) {
	p, err := caldav.New()
	require.NoError(t, err)
	require.Equal(t, "caldav", p.Name())
}

func TestDiscovery(t *testing.T) {
	srv := caldavtest.Start(t)
	p := newProvider(t, srv)
	work := srv.MakeCalendar(t, "alice", "work")
	home := srv.MakeCalendar(t, "alice", "home")
	srv.MakeCalendar(t, "bob", "private")

	cals, err := p.Calendars(t.Context(), srv.Creds("alice"))
	require.NoError(t, err)
	var ids []string
	for _, c := range cals {
		ids = append(ids, c.ID)
		require.False(t, c.ReadOnly, c.ID)
	}
	require.ElementsMatch(t, []string{work, home}, ids)
}

func TestRoundTrip(t *testing.T) {
	srv := caldavtest.Start(t)
	p := newProvider(t, srv)
	cal := srv.MakeCalendar(t, "alice", "work")
	creds := srv.Creds("alice")
	ctx := t.Context()

	in := timedEvent(t, "Smith wedding")
	in.Tag = "bkg_123"
	in.Transparent = true
	created, err := p.Create(ctx, creds, cal, in)
	require.NoError(t, err)
	require.NotEmpty(t, created.ID)
	require.NotEmpty(t, created.ETag)
	require.NotEmpty(t, created.UID)
	require.Equal(t, cal+created.UID+".ics", created.ID)

	got, err := p.Get(ctx, creds, cal, created.ID)
	require.NoError(t, err)
	require.Equal(t, created.ETag, got.ETag)
	require.Equal(t, created.UID, got.UID)
	require.Equal(t, "Smith wedding", got.Summary)
	require.Equal(t, "first dance; toasts", got.Description)
	require.Equal(t, "The Barn, Kent", got.Location)
	require.True(t, got.Start.Equal(in.Start))
	require.True(t, got.End.Equal(in.End))
	require.Equal(t, "Europe/London", got.Start.Location().String(), "TZID kept")
	require.Equal(t, "bkg_123", got.Tag)
	require.True(t, got.Transparent)
	require.False(t, got.Cancelled)

	got.Summary = "Smith wedding (moved)"
	got.Start = got.Start.Add(time.Hour)
	got.End = got.End.Add(time.Hour)
	got.Cancelled = true
	updated, err := p.Update(ctx, creds, cal, got, got.ETag)
	require.NoError(t, err)
	require.NotEqual(t, got.ETag, updated.ETag)

	again, err := p.Get(ctx, creds, cal, created.ID)
	require.NoError(t, err)
	require.Equal(t, updated.ETag, again.ETag)
	require.Equal(t, "Smith wedding (moved)", again.Summary)
	require.True(t, again.Start.Equal(in.Start.Add(time.Hour)))
	require.True(t, again.Cancelled)
	require.Equal(t, "bkg_123", again.Tag, "Tag survives an update")

	// A stale etag is refused.
	_, err = p.Update(ctx, creds, cal, got, got.ETag)
	require.ErrorIs(t, err, calendar.ErrPrecondition)
	require.ErrorIs(t, p.Delete(ctx, creds, cal, created.ID, got.ETag), calendar.ErrPrecondition)

	require.NoError(t, p.Delete(ctx, creds, cal, created.ID, updated.ETag))
	_, err = p.Get(ctx, creds, cal, created.ID)
	require.ErrorIs(t, err, calendar.ErrNotFound)
	require.NoError(t, p.Delete(ctx, creds, cal, created.ID, updated.ETag), "already gone is not an error")
	_, err = p.Update(ctx, creds, cal, again, updated.ETag)
	require.ErrorIs(t, err, calendar.ErrNotFound)
}

func TestCreateDuplicate(t *testing.T) {
	srv := caldavtest.Start(t)
	p := newProvider(t, srv)
	cal := srv.MakeCalendar(t, "alice", "work")
	creds := srv.Creds("alice")
	ev := timedEvent(t, "once")
	ev.UID = "dup-1@wedsync"
	first, err := p.Create(t.Context(), creds, cal, ev)
	require.NoError(t, err)
	_, err = p.Create(t.Context(), creds, cal, ev)
	require.ErrorIs(t, err, calendar.ErrPrecondition)
	var ex *calendar.ExistsError
	require.ErrorAs(t, err, &ex)
	require.Equal(t, first.ID, ex.ID, "the error names the object, which Get reads")
	got, err := p.Get(t.Context(), creds, cal, ex.ID)
	require.NoError(t, err)
	require.Equal(t, first.ETag, got.ETag)
}

func TestAllDayRoundTrip(t *testing.T) {
	srv := caldavtest.Start(t)
	p := newProvider(t, srv)
	cal := srv.MakeCalendar(t, "alice", "work")
	creds := srv.Creds("alice")
	ev := &calendar.Event{
		Summary: "Wedding weekend",
		AllDay:  true,
		Start:   time.Date(2026, 6, 6, 0, 0, 0, 0, time.UTC),
		End:     time.Date(2026, 6, 8, 0, 0, 0, 0, time.UTC),
	}
	c, err := p.Create(t.Context(), creds, cal, ev)
	require.NoError(t, err)
	got, err := p.Get(t.Context(), creds, cal, c.ID)
	require.NoError(t, err)
	require.True(t, got.AllDay)
	require.Equal(t, ev.Start, got.Start)
	require.Equal(t, ev.End, got.End)
	native := got.Native.(*ical.Calendar)
	require.Equal(t, "DATE", native.Events()[0].Props.Get(ical.PropDateTimeStart).Params.Get(ical.ParamValue))
}

func TestRecurringSeriesRoundTrip(t *testing.T) {
	srv := caldavtest.Start(t)
	p := newProvider(t, srv)
	cal := srv.MakeCalendar(t, "alice", "work")
	creds := srv.Creds("alice")
	loc := london(t)
	start := time.Date(2026, 6, 6, 14, 0, 0, 0, loc)
	ev := &calendar.Event{
		Summary: "Saturday tastings",
		Start:   start,
		End:     start.Add(time.Hour),
		Recurrence: []string{
			"RRULE:FREQ=WEEKLY;COUNT=10;BYDAY=SA",
			"RDATE;TZID=Europe/London:20260610T140000",
			"EXDATE;TZID=Europe/London:20260613T140000",
		},
		Overrides: []calendar.Event{{
			Summary:      "Saturday tastings (late)",
			RecurrenceID: time.Date(2026, 6, 20, 14, 0, 0, 0, loc),
			Start:        time.Date(2026, 6, 20, 16, 0, 0, 0, loc),
			End:          time.Date(2026, 6, 20, 17, 0, 0, 0, loc),
		}, {
			Summary:      "Saturday tastings",
			RecurrenceID: time.Date(2026, 6, 27, 14, 0, 0, 0, loc),
			Start:        time.Date(2026, 6, 27, 14, 0, 0, 0, loc),
			End:          time.Date(2026, 6, 27, 15, 0, 0, 0, loc),
			Cancelled:    true,
		}},
	}
	c, err := p.Create(t.Context(), creds, cal, ev)
	require.NoError(t, err)
	got, err := p.Get(t.Context(), creds, cal, c.ID)
	require.NoError(t, err)
	require.Equal(t, ev.Recurrence, got.Recurrence)
	require.Len(t, got.Overrides, 2)
	o := byRecurrenceID(got.Overrides)
	late := o[time.Date(2026, 6, 20, 13, 0, 0, 0, time.UTC).Unix()]
	require.Equal(t, "Saturday tastings (late)", late.Summary)
	require.True(t, late.Start.Equal(ev.Overrides[0].Start))
	require.Equal(t, got.UID, late.UID)
	require.True(t, o[time.Date(2026, 6, 27, 13, 0, 0, 0, time.UTC).Unix()].Cancelled)

	// An update from what was read keeps the series and its overrides.
	got.Summary = "Tastings"
	_, err = p.Update(t.Context(), creds, cal, got, got.ETag)
	require.NoError(t, err)
	again, err := p.Get(t.Context(), creds, cal, c.ID)
	require.NoError(t, err)
	require.Equal(t, "Tastings", again.Summary)
	require.Equal(t, ev.Recurrence, again.Recurrence)
	require.Len(t, again.Overrides, 2)
}

func byRecurrenceID(evs []calendar.Event) map[int64]calendar.Event {
	m := map[int64]calendar.Event{}
	for _, e := range evs {
		m[e.RecurrenceID.Unix()] = e
	}
	return m
}

// valarmEvent is an event as a supplier's calendar app writes it, with
// what the model does not hold: an alarm and an attendee.
const valarmEvent = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Apple Inc.//macOS 15//EN\r\n" +
	"BEGIN:VEVENT\r\nUID:alarm-1@example.com\r\nDTSTAMP:20260101T000000Z\r\n" +
	"DTSTART;TZID=Europe/London:20260606T140000\r\nDTEND;TZID=Europe/London:20260606T160000\r\n" +
	"SUMMARY:Venue visit\r\nATTENDEE;CN=Jo:mailto:jo@example.com\r\nSEQUENCE:2\r\n" +
	"BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT30M\r\nEND:VALARM\r\n" +
	"END:VEVENT\r\nEND:VCALENDAR\r\n"

func TestUnknownPropertiesSurviveUpdate(t *testing.T) {
	srv := caldavtest.Start(t)
	p := newProvider(t, srv)
	cal := srv.MakeCalendar(t, "alice", "work")
	creds := srv.Creds("alice")
	ev, err := caldav.ParseEvent([]byte(valarmEvent))
	require.NoError(t, err)
	created, err := p.Create(t.Context(), creds, cal, ev)
	require.NoError(t, err)

	got, err := p.Get(t.Context(), creds, cal, created.ID)
	require.NoError(t, err)
	got.Summary = "Venue visit (confirmed)"
	got.Tag = "bkg_9"
	_, err = p.Update(t.Context(), creds, cal, got, got.ETag)
	require.NoError(t, err)

	again, err := p.Get(t.Context(), creds, cal, created.ID)
	require.NoError(t, err)
	require.Equal(t, "Venue visit (confirmed)", again.Summary)
	require.Equal(t, "bkg_9", again.Tag)
	master := again.Native.(*ical.Calendar).Events()[0]
	require.Len(t, master.Children, 1)
	require.Equal(t, ical.CompAlarm, master.Children[0].Name)
	require.Equal(t, "-PT30M", master.Children[0].Props.Get(ical.PropTrigger).Value)
	require.Equal(t, "mailto:jo@example.com", master.Props.Get(ical.PropAttendee).Value)
	require.Equal(t, "4", master.Props.Get(ical.PropSequence).Value, "SEQUENCE bumped once per write")
}

// Objects other clients named with characters that need escaping are
// listed, read, updated and deleted by their decoded path.
func TestObjectNamesNeedingEscapes(t *testing.T) {
	srv := caldavtest.Start(t)
	p := newProvider(t, srv)
	cal := srv.MakeCalendar(t, "alice", "work")
	creds := srv.Creds("alice")

	ev := timedEvent(t, "odd name")
	ev.UID = "odd name#1?x"
	created, err := p.Create(t.Context(), creds, cal, ev)
	require.NoError(t, err)
	require.Regexp(t, `^`+cal+`[0-9a-f]{64}\.ics$`, created.ID, "an unsafe UID gives a hashed object name")

	// Another client's object name with a space, a percent sign and a hash.
	other := &calendar.Event{ID: cal + "a b%20c#d.ics", Summary: "theirs", Start: ev.Start, End: ev.End, UID: "theirs-1"}
	_, err = p.Update(t.Context(), creds, cal, other, "")
	require.ErrorIs(t, err, calendar.ErrNotFound, "Update never creates")

	rawPut(t, srv, "alice", (&url.URL{Path: other.ID}).EscapedPath(),
		strings.ReplaceAll(string(mustEncode(t, other)), "\r\n", "\n"))

	cs, err := p.Changes(t.Context(), creds, cal, "")
	require.NoError(t, err)
	got := byID(cs.Updated)
	require.Len(t, got, 2)
	require.Equal(t, "odd name#1?x", got[created.ID].UID)
	theirs, ok := got[other.ID]
	require.True(t, ok, "listed by its decoded path: %v", ids(cs.Updated))

	read, err := p.Get(t.Context(), creds, cal, other.ID)
	require.NoError(t, err)
	require.Equal(t, "theirs", read.Summary)
	theirs.Summary = "theirs, edited"
	edited, err := p.Update(t.Context(), creds, cal, &theirs, theirs.ETag)
	require.NoError(t, err)
	require.NoError(t, p.Delete(t.Context(), creds, cal, other.ID, edited.ETag))
	_, err = p.Get(t.Context(), creds, cal, other.ID)
	require.ErrorIs(t, err, calendar.ErrNotFound)
}

func mustEncode(t *testing.T, ev *calendar.Event) []byte {
	t.Helper()
	b, err := caldav.EncodeEvent(ev)
	require.NoError(t, err)
	return b
}

// rawPut stores body at the escaped path, as another client would.
func rawPut(t *testing.T, srv *caldavtest.Server, user, escapedPath, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, strings.TrimSuffix(srv.URL, "/")+escapedPath, strings.NewReader(body))
	require.NoError(t, err)
	req.SetBasicAuth(user, "x")
	req.Header.Set("Content-Type", "text/calendar")
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
}
