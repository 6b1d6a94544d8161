package outlook_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/outlook"
	"github.com/wedsync/integrations/calendar/outlook/outlooktest"
)

func TestCalendars(t *testing.T) {
	w := newWorld(t)
	cals, err := w.p.Calendars(context.Background(), w.creds)
	require.NoError(t, err)
	require.Equal(t, []calendar.CalendarInfo{{ID: w.cal, Name: "Work"}}, cals)
}

func TestRoundTripKeepsFieldsZoneAndTag(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	ev := timedEvent(t, "Wedding")
	ev.Tag = "bk_1"
	ev.Transparent = true
	got, err := w.p.Create(ctx, w.creds, w.cal, ev)
	require.NoError(t, err)
	require.NotEmpty(t, got.ID)
	require.NotEmpty(t, got.ETag)
	require.Equal(t, "bk_1", got.Tag)

	read, err := w.p.Get(ctx, w.creds, w.cal, got.ID)
	require.NoError(t, err)
	require.Equal(t, "Wedding", read.Summary)
	require.Equal(t, "first dance; toasts", read.Description)
	require.Equal(t, "The Barn, Kent", read.Location)
	require.True(t, read.Start.Equal(ev.Start) && read.End.Equal(ev.End))
	require.Equal(t, "Europe/London", read.Start.Location().String(), "the zone comes back from originalStartTimeZone")
	require.Equal(t, 14, read.Start.Hour())
	require.Equal(t, "bk_1", read.Tag)
	require.True(t, read.Transparent)
	require.NotEmpty(t, read.UID, "Graph's iCalUId")

	for _, r := range w.srv.Requests() {
		require.NotContains(t, r, "access_token")
	}
}

func TestAllDayIsDateOnly(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	d := time.Date(2027, 7, 3, 0, 0, 0, 0, time.UTC)
	got, err := w.p.Create(ctx, w.creds, w.cal, &calendar.Event{UID: "u1", Summary: "Fair", Start: d, End: d.AddDate(0, 0, 2), AllDay: true})
	require.NoError(t, err)
	require.True(t, got.AllDay)
	require.Equal(t, d, got.Start)
	require.Equal(t, d.AddDate(0, 0, 2), got.End)
}

func TestWindowsZoneNameMapped(t *testing.T) {
	ev, err := outlook.DecodeEvent([]byte(`{"id":"x","start":{"dateTime":"2027-03-28T13:00:00.0000000","timeZone":"UTC"},
		"end":{"dateTime":"2027-03-28T14:00:00.0000000","timeZone":"UTC"},"originalStartTimeZone":"Pacific Standard Time"}`))
	require.NoError(t, err)
	require.Equal(t, "America/Los_Angeles", ev.Start.Location().String())
	require.Equal(t, 6, ev.Start.Hour())

	ev, err = outlook.DecodeEvent([]byte(`{"id":"x","start":{"dateTime":"2027-03-28T13:00:00","timeZone":"UTC"},
		"end":{"dateTime":"2027-03-28T14:00:00","timeZone":"UTC"},"originalStartTimeZone":"tzone://Microsoft/Custom"}`))
	require.NoError(t, err)
	require.Equal(t, time.UTC, ev.Start.Location(), "an unknown zone reads as UTC")
}

func TestRecurrencePatterns(t *testing.T) {
	cases := map[string]string{
		`{"pattern":{"type":"weekly","interval":2,"daysOfWeek":["saturday","sunday"],"firstDayOfWeek":"sunday"},"range":{"type":"numbered","numberOfOccurrences":5}}`: "RRULE:FREQ=WEEKLY;BYDAY=SA,SU;WKST=SU;INTERVAL=2;COUNT=5",
		`{"pattern":{"type":"daily","interval":1},"range":{"type":"endDate","endDate":"2027-06-30"}}`:                                                                 "RRULE:FREQ=DAILY;UNTIL=20270630T225959Z",
		`{"pattern":{"type":"absoluteMonthly","interval":1,"dayOfMonth":6},"range":{"type":"noEnd"}}`:                                                                 "RRULE:FREQ=MONTHLY;BYMONTHDAY=6",
		`{"pattern":{"type":"relativeMonthly","interval":1,"daysOfWeek":["saturday"],"index":"last"},"range":{"type":"noEnd"}}`:                                       "RRULE:FREQ=MONTHLY;BYDAY=SA;BYSETPOS=-1",
		`{"pattern":{"type":"absoluteYearly","interval":1,"month":6,"dayOfMonth":6},"range":{"type":"noEnd"}}`:                                                        "RRULE:FREQ=YEARLY;BYMONTH=6;BYMONTHDAY=6",
	}
	for rec, want := range cases {
		ev, err := outlook.DecodeEvent([]byte(`{"id":"m","type":"seriesMaster","start":{"dateTime":"2027-06-06T13:00:00","timeZone":"UTC"},
			"end":{"dateTime":"2027-06-06T14:00:00","timeZone":"UTC"},"originalStartTimeZone":"GMT Standard Time","recurrence":` + rec + `}`))
		require.NoError(t, err, rec)
		require.Equal(t, []string{want}, ev.Recurrence, rec)
		// and back: the RRULE encodes to the same pattern
		g, err := outlook.EncodeEvent(ev)
		require.NoError(t, err)
		back, err := outlook.DecodeEvent(mustJSON(t, g, `"id":"m","type":"seriesMaster","originalStartTimeZone":"Europe/London"`))
		require.NoError(t, err)
		require.Equal(t, []string{want}, back.Recurrence, "round trip of "+rec)
	}
	_, err := outlook.DecodeEvent([]byte(`{"id":"m","type":"seriesMaster","start":{"dateTime":"2027-06-06T13:00:00","timeZone":"UTC"},
		"end":{"dateTime":"2027-06-06T14:00:00","timeZone":"UTC"},"recurrence":{"pattern":{"type":"hourly"},"range":{"type":"noEnd"}}}`))
	require.ErrorIs(t, err, calendar.ErrInvalid)
	require.Contains(t, err.Error(), "recurrence.pattern.type")
}

func mustJSON(t *testing.T, g *outlook.GraphEvent, extra string) []byte {
	t.Helper()
	b, err := jsonMarshal(g)
	require.NoError(t, err)
	return []byte("{" + extra + "," + strings.TrimPrefix(string(b), "{"))
}

func TestOccurrencesAreEventsOfTheirOwn(t *testing.T) {
	ev, err := outlook.DecodeEvent([]byte(`{"id":"occ1","type":"exception","seriesMasterId":"m","originalStart":"2027-06-13T13:00:00Z",
		"start":{"dateTime":"2027-06-13T15:00:00","timeZone":"UTC"},"end":{"dateTime":"2027-06-13T16:00:00","timeZone":"UTC"}}`))
	require.NoError(t, err)
	require.Empty(t, ev.Recurrence)
	require.True(t, ev.RecurrenceID.IsZero())
	require.Equal(t, 15, ev.Start.UTC().Hour())
}

func TestChangesFullIncrementalAndRemoved(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	a := w.srv.Put(w.cal, *timedEvent(t, "A"))
	b := w.srv.Put(w.cal, *timedEvent(t, "B"))
	full := w.changes(t, "")
	require.True(t, full.Full)
	require.Len(t, full.Updated, 2)
	require.NotEmpty(t, full.Cursor)

	inc := w.changes(t, full.Cursor)
	require.False(t, inc.Full)
	require.Empty(t, inc.Updated)
	require.Empty(t, inc.Deleted)

	// the user moves A and deletes B; we add C
	a.Start, a.End = a.Start.Add(time.Hour), a.End.Add(time.Hour)
	w.srv.Put(w.cal, a)
	w.srv.Remove(w.cal, b.ID)
	c, err := w.p.Create(ctx, w.creds, w.cal, timedEvent(t, "C"))
	require.NoError(t, err)
	inc2 := w.changes(t, inc.Cursor)
	got := byID(inc2.Updated)
	require.Len(t, got, 2)
	require.True(t, got[a.ID].Start.Equal(a.Start), "moved")
	require.Contains(t, got, c.ID)
	require.Equal(t, []string{b.ID}, inc2.Deleted)

	// an event moved out of the window is reported removed
	a.Start, a.End = a.Start.AddDate(5, 0, 0), a.End.AddDate(5, 0, 0)
	w.srv.Put(w.cal, a)
	inc3 := w.changes(t, inc2.Cursor)
	require.Equal(t, []string{a.ID}, inc3.Deleted)
}

func TestChangesPagesAndPrefersImmutableIDs(t *testing.T) {
	w := newWorld(t)
	w.srv.SetPageSize(3)
	for i := range 10 {
		w.srv.Put(w.cal, *timedEvent(t, fmt.Sprint("E", i)))
	}
	full := w.changes(t, "")
	require.Len(t, full.Updated, 10)
	pages := 0
	for _, r := range w.srv.Requests() {
		if strings.Contains(r, "calendarView/delta") {
			pages++
		}
	}
	require.Equal(t, 4, pages, "ten items in pages of three, nextLink to deltaLink")
	require.Len(t, byID(full.Updated), 10)
}

func TestChangesInvalidDeltaLink(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.srv.Put(w.cal, *timedEvent(t, "A"))
	full := w.changes(t, "")
	w.srv.InvalidateDeltaLinks()
	_, err := w.p.Changes(ctx, w.creds, w.cal, full.Cursor)
	require.ErrorIs(t, err, calendar.ErrCursorInvalid)
	_, err = w.p.Changes(ctx, w.creds, w.cal, "https://evil.example/v1.0/me/calendars/x/calendarView/delta?$deltatoken=1")
	require.ErrorIs(t, err, calendar.ErrCursorInvalid, "a cursor off the endpoint is never followed")
	again := w.changes(t, "")
	require.True(t, again.Full)
	require.Len(t, again.Updated, 1)
}

func TestUpdateAndDeletePreconditions(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	got, err := w.p.Create(ctx, w.creds, w.cal, timedEvent(t, "A"))
	require.NoError(t, err)
	stale := got.ETag
	got.Summary = "A2"
	up, err := w.p.Update(ctx, w.creds, w.cal, got, got.ETag)
	require.NoError(t, err)
	require.NotEqual(t, stale, up.ETag)
	require.Equal(t, "A2", up.Summary)

	got.Summary = "A3"
	_, err = w.p.Update(ctx, w.creds, w.cal, got, stale)
	require.ErrorIs(t, err, calendar.ErrPrecondition)
	require.ErrorIs(t, w.p.Delete(ctx, w.creds, w.cal, got.ID, stale), calendar.ErrPrecondition)

	require.NoError(t, w.p.Delete(ctx, w.creds, w.cal, got.ID, up.ETag))
	require.NoError(t, w.p.Delete(ctx, w.creds, w.cal, got.ID, up.ETag), "already gone")
	_, err = w.p.Get(ctx, w.creds, w.cal, got.ID)
	require.ErrorIs(t, err, calendar.ErrNotFound)
	_, err = w.p.Update(ctx, w.creds, w.cal, got, up.ETag)
	require.ErrorIs(t, err, calendar.ErrNotFound)
}

func TestCreateIsIdempotentByTransactionID(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	ev := timedEvent(t, "Wedding")
	ev.Tag = "bk_1"
	first, err := w.p.Create(ctx, w.creds, w.cal, ev)
	require.NoError(t, err)
	again, err := w.p.Create(ctx, w.creds, w.cal, ev)
	require.NoError(t, err, "a retried create returns the event the first made")
	require.Equal(t, first.ID, again.ID)
	require.Equal(t, 1, w.srv.Len(w.cal))

	other := *ev
	other.Start, other.End = ev.Start.Add(time.Hour), ev.End.Add(time.Hour)
	_, err = w.p.Create(ctx, w.creds, w.cal, &other)
	require.ErrorIs(t, err, calendar.ErrPrecondition, "an existing event with other content is not ours to return")
	var ex *calendar.ExistsError
	require.ErrorAs(t, err, &ex)
	require.Equal(t, first.ID, ex.ID, "the error names the event, for the engine to read")
	require.Equal(t, 1, w.srv.Len(w.cal))
}

func TestErrorsMapped(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	cases := []struct {
		f      outlooktest.Failure
		status int
		ra     time.Duration
	}{
		{outlooktest.Failure{Status: 429, RetryAfter: "7", Code: "TooManyRequests"}, 429, 7 * time.Second},
		{outlooktest.Failure{Status: 429, Code: "TooManyRequests"}, 429, 0},
		{outlooktest.Failure{Status: 503, RetryAfter: "3", Code: "ServiceUnavailable"}, 503, 3 * time.Second},
		{outlooktest.Failure{Status: 500, Code: "InternalServerError"}, 500, 0},
	}
	for _, c := range cases {
		w.srv.FailNext(c.f)
		_, err := w.p.Changes(ctx, w.creds, w.cal, "")
		var pe *calendar.ProviderError
		require.True(t, errors.As(err, &pe), "%v", err)
		require.Equal(t, c.status, pe.Status)
		require.Equal(t, c.ra, pe.RetryAfter)
		require.Equal(t, outlook.ProviderName, pe.Provider)
	}
	w.srv.FailNext(outlooktest.Failure{Status: http.StatusForbidden, Code: "ErrorAccessDenied"})
	_, err := w.p.Get(ctx, w.creds, w.cal, "x")
	require.ErrorIs(t, err, calendar.ErrUnauthorized)

	_, err = w.p.Changes(ctx, []byte(`{}`), w.cal, "")
	require.ErrorIs(t, err, calendar.ErrInvalid)
	require.Contains(t, err.Error(), "credentials")
	_, err = w.p.Changes(ctx, w.creds, "", "")
	require.ErrorIs(t, err, calendar.ErrInvalid)
	_, err = outlook.New(nil)
	require.ErrorContains(t, err, "cfg")
}

func TestTokenRefreshMidSyncUpdatesCredentials(t *testing.T) {
	w := newWorld(t)
	w.srv.SetPageSize(2)
	for i := range 5 {
		w.srv.Put(w.cal, *timedEvent(t, fmt.Sprint("E", i)))
	}
	var updated [][]byte
	ctx := calendar.ContextWithCredentialsUpdate(context.Background(), func(c []byte) { updated = append(updated, c) })
	w.srv.ExpireAccessTokensAfter(1) // page 2 of 3 meets a 401: refresh, retry, go on
	cs, err := w.p.Changes(ctx, w.creds, w.cal, "")
	require.NoError(t, err)
	require.Len(t, cs.Updated, 5)
	require.Len(t, byID(cs.Updated), 5)
	require.Equal(t, 1, w.srv.Refreshes())
	require.Len(t, updated, 1, "the refreshed token is handed to the engine once")
	tok, err := outlook.ParseCredentials(updated[0])
	require.NoError(t, err)
	old, _ := outlook.ParseCredentials(w.creds)
	require.NotEqual(t, old.AccessToken, tok.AccessToken)
	require.NotEmpty(t, tok.RefreshToken)

	// with the new credentials no refresh is needed
	updated = nil
	_, err = w.p.Changes(ctx, updated0(tok), w.cal, cs.Cursor)
	require.NoError(t, err)
	require.Empty(t, updated)
	require.Equal(t, 1, w.srv.Refreshes())
}

func updated0(tok *oauth2.Token) []byte { return outlook.MarshalCredentials(tok) }

func TestExpiredTokenRefreshedBeforeUse(t *testing.T) {
	w := newWorld(t)
	tok, _ := outlook.ParseCredentials(w.creds)
	tok.Expiry = time.Now().Add(-time.Minute)
	var got []byte
	ctx := calendar.ContextWithCredentialsUpdate(context.Background(), func(c []byte) { got = c })
	_, err := w.p.Calendars(ctx, outlook.MarshalCredentials(tok))
	require.NoError(t, err)
	require.NotNil(t, got)
	require.Equal(t, 1, w.srv.Refreshes())
}

func TestRevokedRefreshTokenNeedsReconnect(t *testing.T) {
	w := newWorld(t)
	w.srv.RevokeRefreshTokens()
	_, err := w.p.Changes(context.Background(), w.creds, w.cal, "")
	require.ErrorIs(t, err, calendar.ErrReconnect)
	tok, _ := outlook.ParseCredentials(w.creds)
	require.NotContains(t, err.Error(), tok.RefreshToken)
	require.NotContains(t, err.Error(), tok.AccessToken)
}

func TestUnauthorizedAfterFreshToken(t *testing.T) {
	w := newWorld(t)
	w.srv.FailNext(outlooktest.Failure{Status: 401, Code: "InvalidAuthenticationToken"}, outlooktest.Failure{Status: 401, Code: "InvalidAuthenticationToken"})
	_, err := w.p.Calendars(context.Background(), w.creds)
	require.ErrorIs(t, err, calendar.ErrUnauthorized)
	require.Equal(t, 1, w.srv.Refreshes(), "one refresh, then the 401 stands")
}

func TestChangesWithoutExpandWhenGraphRefusesIt(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	ev := timedEvent(t, "A")
	ev.Tag = "bk_1"
	_, err := w.p.Create(ctx, w.creds, w.cal, ev)
	require.NoError(t, err)
	w.srv.RefuseDeltaExpand(true)
	cs := w.changes(t, "")
	require.True(t, cs.Full)
	require.Len(t, cs.Updated, 1)
	require.Empty(t, cs.Updated[0].Tag, "no tag without $expand")
	inc := w.changes(t, cs.Cursor)
	require.Empty(t, inc.Updated)
	w.srv.RefuseDeltaExpand(false)
	require.Equal(t, "bk_1", w.changes(t, "").Updated[0].Tag)
}
