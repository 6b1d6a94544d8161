package google_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/google"
	"github.com/wedsync/integrations/calendar/google/googletest"
)

func TestRoundTripTimedEventKeepsZoneAndTag(t *testing.T) {
	ctx := context.Background()
	srv := googletest.Start(t)
	p := newProvider(t, srv)
	creds := srv.Creds()
	ev := timedEvent(t, "bk_1@wedsync", "Smith wedding")
	ev.Tag = "bk_1"
	ev.Transparent = true
	got, err := p.Create(ctx, creds, cal, ev)
	require.NoError(t, err)
	require.Equal(t, google.EventID("bk_1@wedsync"), got.ID, "the client-chosen id")
	require.NotEmpty(t, got.ETag)

	back, err := p.Get(ctx, creds, cal, got.ID)
	require.NoError(t, err)
	require.Equal(t, "bk_1@wedsync", back.UID)
	require.Equal(t, "Smith wedding", back.Summary)
	require.Equal(t, "first dance; toasts", back.Description)
	require.Equal(t, "The Barn, Kent", back.Location)
	require.True(t, back.Start.Equal(ev.Start) && back.End.Equal(ev.End))
	require.Equal(t, "Europe/London", back.Start.Location().String())
	require.Equal(t, 14, back.Start.Hour(), "wall clock in the event's zone")
	require.Equal(t, "bk_1", back.Tag)
	require.True(t, back.Transparent)
	require.False(t, back.AllDay)
	require.Equal(t, got.ETag, back.ETag)

	raw, ok := srv.Event(cal, got.ID)
	require.True(t, ok)
	require.Equal(t, map[string]any{"dateTime": "2026-06-06T14:00:00+01:00", "timeZone": "Europe/London"}, raw["start"])
	require.Equal(t, map[string]any{"private": map[string]any{"wedsyncBooking": "bk_1"}}, raw["extendedProperties"])
}

func TestAllDayEventIsDateOnly(t *testing.T) {
	ctx := context.Background()
	srv := googletest.Start(t)
	p := newProvider(t, srv)
	creds := srv.Creds()
	ev := &calendar.Event{UID: "holiday", Summary: "Holiday", AllDay: true,
		Start: time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 8, 3, 0, 0, 0, 0, time.UTC)}
	got, err := p.Create(ctx, creds, cal, ev)
	require.NoError(t, err)
	raw, _ := srv.Event(cal, got.ID)
	require.Equal(t, map[string]any{"date": "2026-08-01"}, raw["start"])
	require.Equal(t, map[string]any{"date": "2026-08-03"}, raw["end"])
	back, err := p.Get(ctx, creds, cal, got.ID)
	require.NoError(t, err)
	require.True(t, back.AllDay)
	require.True(t, back.Start.Equal(ev.Start) && back.End.Equal(ev.End))
	require.Equal(t, time.UTC, back.Start.Location())
}

func TestCreateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	srv := googletest.Start(t)
	p := newProvider(t, srv)
	creds := srv.Creds()
	_, err := p.Create(ctx, creds, cal, timedEvent(t, "uid-1", "A"))
	require.NoError(t, err)
	_, err = p.Create(ctx, creds, cal, timedEvent(t, "uid-1", "A again"))
	require.ErrorIs(t, err, calendar.ErrPrecondition, "a retried insert cannot duplicate")
	var ex *calendar.ExistsError
	require.ErrorAs(t, err, &ex)
	require.Equal(t, google.EventID("uid-1"), ex.ID, "the error names the event, for the engine to read and adopt")
	require.Len(t, srv.Events(cal), 1)
	// After a delete Google keeps the id (the event, cancelled): a Create
	// of the UID brings it back rather than failing for ever.
	require.NoError(t, p.Delete(ctx, creds, cal, google.EventID("uid-1"), ""))
	back, err := p.Create(ctx, creds, cal, timedEvent(t, "uid-1", "A restored"))
	require.NoError(t, err)
	require.Equal(t, google.EventID("uid-1"), back.ID)
	require.False(t, back.Cancelled)
	require.Equal(t, "A restored", back.Summary)
	evs := srv.Events(cal)
	require.Len(t, evs, 1)
	require.Equal(t, "confirmed", evs[0]["status"])
	_, err = p.Create(ctx, creds, cal, timedEvent(t, "uid-1", "A"))
	require.ErrorIs(t, err, calendar.ErrPrecondition, "a live event is never overwritten")
}

func TestUpdateMovesWithIfMatchAndKeepsUnmodelledFields(t *testing.T) {
	ctx := context.Background()
	srv := googletest.Start(t)
	p := newProvider(t, srv)
	creds := srv.Creds()
	got, err := p.Create(ctx, creds, cal, timedEvent(t, "u", "Wedding"))
	require.NoError(t, err)
	// The supplier adds a guest and a reminder in Google Calendar.
	raw, _ := srv.Event(cal, got.ID)
	raw["attendees"] = []any{map[string]any{"email": "photographer@example.com"}}
	raw["reminders"] = map[string]any{"useDefault": false}
	srv.Put(cal, raw)

	// A write with the old etag fails.
	moved := *got
	moved.Start, moved.End = got.Start.Add(time.Hour), got.End.Add(time.Hour)
	_, err = p.Update(ctx, creds, cal, &moved, got.ETag)
	require.ErrorIs(t, err, calendar.ErrPrecondition)

	cur, err := p.Get(ctx, creds, cal, got.ID)
	require.NoError(t, err)
	moved.Description = ""
	upd, err := p.Update(ctx, creds, cal, &moved, cur.ETag)
	require.NoError(t, err)
	require.NotEqual(t, cur.ETag, upd.ETag)
	require.True(t, upd.Start.Equal(moved.Start))
	require.Empty(t, upd.Description, "an emptied field is cleared")
	raw, _ = srv.Event(cal, got.ID)
	require.Equal(t, []any{map[string]any{"email": "photographer@example.com"}}, raw["attendees"], "the supplier's guests survive")
	require.NotNil(t, raw["reminders"])

	// Update of a gone event.
	require.NoError(t, p.Delete(ctx, creds, cal, got.ID, upd.ETag))
	_, err = p.Update(ctx, creds, cal, &calendar.Event{ID: "nosuchevent", Start: moved.Start, End: moved.End}, "")
	require.ErrorIs(t, err, calendar.ErrNotFound)
}

func TestDeleteWithIfMatch(t *testing.T) {
	ctx := context.Background()
	srv := googletest.Start(t)
	p := newProvider(t, srv)
	creds := srv.Creds()
	got, err := p.Create(ctx, creds, cal, timedEvent(t, "u", "Wedding"))
	require.NoError(t, err)
	require.ErrorIs(t, p.Delete(ctx, creds, cal, got.ID, `"stale"`), calendar.ErrPrecondition)
	require.Len(t, srv.Events(cal), 1)
	require.NoError(t, p.Delete(ctx, creds, cal, got.ID, got.ETag))
	require.Empty(t, srv.Events(cal))
	require.NoError(t, p.Delete(ctx, creds, cal, got.ID, got.ETag), "already gone (410) is fine")
	require.NoError(t, p.Delete(ctx, creds, cal, "neverexisted", ""), "404 is fine")
	_, err = p.Get(ctx, creds, cal, got.ID)
	require.ErrorIs(t, err, calendar.ErrNotFound, "a cancelled event is gone")
}

func TestChangesFullIncrementalPagingAnd410(t *testing.T) {
	ctx := context.Background()
	srv := googletest.Start(t)
	srv.SetPageSize(3)
	p := newProvider(t, srv)
	creds := srv.Creds()
	ids := map[string]bool{}
	for i := range 8 {
		ev, err := p.Create(ctx, creds, cal, timedEvent(t, fmt.Sprintf("u%d", i), fmt.Sprintf("E%d", i)))
		require.NoError(t, err)
		ids[ev.ID] = true
	}
	before := srv.Calls("list")
	cs, err := p.Changes(ctx, creds, cal, "")
	require.NoError(t, err)
	require.True(t, cs.Full)
	require.Len(t, cs.Updated, 8)
	require.Equal(t, 3, srv.Calls("list")-before, "8 events in pages of 3")
	require.NotEmpty(t, cs.Cursor)
	for _, ev := range cs.Updated {
		require.True(t, ids[ev.ID])
	}

	// Nothing changed.
	cs2, err := p.Changes(ctx, creds, cal, cs.Cursor)
	require.NoError(t, err)
	require.False(t, cs2.Full)
	require.Empty(t, cs2.Updated)
	require.Empty(t, cs2.Deleted)

	// The supplier edits one, deletes one, adds one.
	var first, second string
	for id := range ids {
		if first == "" {
			first = id
		} else if second == "" {
			second = id
		}
	}
	raw, _ := srv.Event(cal, first)
	raw["summary"] = "Edited"
	srv.Put(cal, raw)
	srv.Remove(cal, second)
	added := srv.Put(cal, map[string]any{"summary": "Dentist", "start": map[string]any{"dateTime": "2026-07-01T09:00:00Z"},
		"end": map[string]any{"dateTime": "2026-07-01T10:00:00Z"}})
	cs3, err := p.Changes(ctx, creds, cal, cs2.Cursor)
	require.NoError(t, err)
	require.False(t, cs3.Full)
	got := byID(cs3.Updated)
	require.Len(t, got, 2)
	require.Equal(t, "Edited", got[first].Summary)
	require.Equal(t, "Dentist", got[added["id"].(string)].Summary)
	require.Equal(t, []string{second}, cs3.Deleted)

	// A stale token: 410 -> ErrCursorInvalid, then a full listing works.
	srv.ExpireSyncTokens(cal)
	_, err = p.Changes(ctx, creds, cal, cs3.Cursor)
	require.ErrorIs(t, err, calendar.ErrCursorInvalid)
	full, err := p.Changes(ctx, creds, cal, "")
	require.NoError(t, err)
	require.True(t, full.Full)
	require.Len(t, full.Updated, 8)
	_, err = p.Changes(ctx, creds, cal, full.Cursor)
	require.NoError(t, err, "the new token is accepted")
}

func TestRecurrenceWithExceptions(t *testing.T) {
	ctx := context.Background()
	srv := googletest.Start(t)
	p := newProvider(t, srv)
	creds := srv.Creds()
	start := map[string]any{"dateTime": "2026-06-06T10:00:00+01:00", "timeZone": "Europe/London"}
	end := map[string]any{"dateTime": "2026-06-06T11:00:00+01:00", "timeZone": "Europe/London"}
	master := srv.Put(cal, map[string]any{"id": "series1", "iCalUID": "series1@google.com", "summary": "Yoga", "start": start, "end": end,
		"recurrence": []any{"RRULE:FREQ=WEEKLY;COUNT=5;BYDAY=SA", "EXDATE;TZID=Europe/London:20260627T100000"}})
	require.Equal(t, "series1", master["id"])
	cs, err := p.Changes(ctx, creds, cal, "")
	require.NoError(t, err)
	require.Len(t, cs.Updated, 1)
	require.Empty(t, cs.Updated[0].Overrides)

	// The supplier moves the 13 June instance and cancels the 20 June one.
	srv.Put(cal, map[string]any{"id": "series1_20260613T090000Z", "iCalUID": "series1@google.com", "recurringEventId": "series1",
		"originalStartTime": map[string]any{"dateTime": "2026-06-13T10:00:00+01:00", "timeZone": "Europe/London"},
		"summary":           "Yoga (late)", "start": map[string]any{"dateTime": "2026-06-13T12:00:00+01:00", "timeZone": "Europe/London"},
		"end": map[string]any{"dateTime": "2026-06-13T13:00:00+01:00", "timeZone": "Europe/London"}})
	srv.Put(cal, map[string]any{"id": "series1_20260620T090000Z", "iCalUID": "series1@google.com", "recurringEventId": "series1",
		"originalStartTime": map[string]any{"dateTime": "2026-06-20T10:00:00+01:00", "timeZone": "Europe/London"}, "status": "cancelled"})

	inc, err := p.Changes(ctx, creds, cal, cs.Cursor)
	require.NoError(t, err)
	require.Len(t, inc.Updated, 1, "the instances come back as their whole series")
	s := inc.Updated[0]
	require.Equal(t, "series1", s.ID)
	require.NotEqual(t, cs.Updated[0].ETag, s.ETag, "a series' ETag changes with its instances (Google keeps the master's)")
	require.True(t, strings.HasPrefix(s.ETag, master["etag"].(string)))
	require.Equal(t, []string{"RRULE:FREQ=WEEKLY;COUNT=5;BYDAY=SA", "EXDATE;TZID=Europe/London:20260627T100000"}, s.Recurrence)
	require.Len(t, s.Overrides, 2)
	ov := byID(s.Overrides)
	lon := london(t)
	moved := ov["series1_20260613T090000Z"]
	require.True(t, moved.RecurrenceID.Equal(time.Date(2026, 6, 13, 10, 0, 0, 0, lon)))
	require.True(t, moved.Start.Equal(time.Date(2026, 6, 13, 12, 0, 0, 0, lon)))
	require.Equal(t, "Yoga (late)", moved.Summary)
	cancelled := ov["series1_20260620T090000Z"]
	require.True(t, cancelled.Cancelled)
	require.True(t, cancelled.RecurrenceID.Equal(time.Date(2026, 6, 20, 10, 0, 0, 0, lon)))

	// A full listing folds them in too, and so does Get.
	full, err := p.Changes(ctx, creds, cal, "")
	require.NoError(t, err)
	require.Len(t, full.Updated, 1)
	require.Len(t, full.Updated[0].Overrides, 2)
	got, err := p.Get(ctx, creds, cal, "series1")
	require.NoError(t, err)
	require.Len(t, got.Overrides, 2)

	// Deleting the series reports it deleted.
	srv.Remove(cal, "series1")
	del, err := p.Changes(ctx, creds, cal, inc.Cursor)
	require.NoError(t, err)
	require.Empty(t, del.Updated)
	require.Contains(t, del.Deleted, "series1")
}

func TestCalendars(t *testing.T) {
	srv := googletest.Start(t)
	srv.AddCalendar("work@group.calendar.google.com", "Work", "America/New_York")
	p := newProvider(t, srv)
	cals, err := p.Calendars(context.Background(), srv.Creds())
	require.NoError(t, err)
	require.Equal(t, []calendar.CalendarInfo{
		{ID: "primary", Name: "Primary", TimeZone: "Europe/London"},
		{ID: "work@group.calendar.google.com", Name: "Work", TimeZone: "America/New_York"},
	}, cals)
	// A calendar id with an @ and dots works as a path.
	ev, err := p.Create(context.Background(), srv.Creds(), "work@group.calendar.google.com", timedEvent(t, "w", "Work"))
	require.NoError(t, err)
	require.Len(t, srv.Events("work@group.calendar.google.com"), 1)
	require.NotEmpty(t, ev.ID)
}

func TestErrorsMap(t *testing.T) {
	ctx := context.Background()
	srv := googletest.Start(t)
	p := newProvider(t, srv)
	creds := srv.Creds()
	cases := []struct {
		f          googletest.Failure
		status     int
		retryAfter time.Duration
	}{
		{googletest.Failure{Status: 403, Reason: "rateLimitExceeded", RetryAfter: "7"}, 403, 7 * time.Second},
		{googletest.Failure{Status: 403, Reason: "userRateLimitExceeded"}, 403, 0},
		{googletest.Failure{Status: 429, RetryAfter: "2"}, 429, 2 * time.Second},
		{googletest.Failure{Status: 503}, 503, 0},
	}
	for _, c := range cases {
		srv.FailNext("list", c.f)
		_, err := p.Changes(ctx, creds, cal, "")
		var pe *calendar.ProviderError
		require.ErrorAs(t, err, &pe, "%+v", c.f)
		require.Equal(t, c.status, pe.Status)
		require.Equal(t, c.retryAfter, pe.RetryAfter)
		require.Equal(t, "google", pe.Provider)
	}
	srv.FailNext("insert", googletest.Failure{Status: 403, Reason: "forbidden"})
	_, err := p.Create(ctx, creds, cal, timedEvent(t, "x", "x"))
	require.ErrorIs(t, err, calendar.ErrUnauthorized, "a 403 that is not a rate limit")
	_, err = p.Get(ctx, creds, "nosuchcalendar", "x")
	require.ErrorIs(t, err, calendar.ErrNotFound)

	// Bad input names the field.
	_, err = p.Changes(ctx, []byte(`{}`), cal, "")
	require.ErrorIs(t, err, calendar.ErrInvalid)
	require.Contains(t, err.Error(), "creds")
	_, err = p.Changes(ctx, creds, "", "")
	require.ErrorContains(t, err, "calendar")
	_, err = p.Create(ctx, creds, cal, &calendar.Event{Summary: "no times"})
	require.ErrorIs(t, err, calendar.ErrInvalid)
	_, err = google.New(nil)
	require.ErrorIs(t, err, calendar.ErrInvalid)
	_, err = google.New(srv.OAuthConfig(), google.WithPageSize(0), google.WithEndpoint("nope"))
	require.ErrorContains(t, err, "WithPageSize")
	require.ErrorContains(t, err, "WithEndpoint")
}

func TestDefaultClientRefusesLoopback(t *testing.T) {
	srv := googletest.Start(t)
	p, err := google.New(srv.OAuthConfig(), google.WithEndpoint(srv.Endpoint()), google.WithInsecureHTTP(true))
	require.NoError(t, err)
	t.Cleanup(p.CloseIdleConnections)
	_, err = p.Calendars(context.Background(), srv.Creds())
	require.Error(t, err)
	require.Equal(t, 0, srv.Calls("calendarList"), "the SSRF-safe client never reached the server")
}

func TestTokenRefreshMidSyncHandsCredentialsBack(t *testing.T) {
	srv := googletest.Start(t)
	srv.SetPageSize(2)
	p := newProvider(t, srv)
	creds := srv.Creds()
	for i := range 6 {
		_, err := p.Create(context.Background(), creds, cal, timedEvent(t, fmt.Sprintf("u%d", i), "E"))
		require.NoError(t, err)
	}
	// The access token dies after the first page.
	srv.ExpireAccessTokensAfter(1)
	rec := &credsRecorder{}
	cs, err := p.Changes(rec.ctx(), creds, cal, "")
	require.NoError(t, err)
	require.Len(t, cs.Updated, 6, "the sync went on with a refreshed token")
	require.Equal(t, 1, srv.Calls("token"))
	got := rec.all()
	require.Len(t, got, 1, "the refreshed token is handed to the engine once")
	var old, fresh oauth2.Token
	require.NoError(t, json.Unmarshal(creds, &old))
	require.NoError(t, json.Unmarshal(got[0], &fresh))
	require.NotEqual(t, old.AccessToken, fresh.AccessToken)
	require.Equal(t, old.RefreshToken, fresh.RefreshToken, "the refresh token is kept")
	// The new credentials work without refreshing.
	_, err = p.Changes(rec.ctx(), got[0], cal, "")
	require.NoError(t, err)
	require.Equal(t, 1, srv.Calls("token"))
	require.Len(t, rec.all(), 1)

	// An access token past its expiry is refreshed before the call.
	fresh.Expiry = time.Now().Add(-time.Minute)
	b, _ := json.Marshal(fresh)
	_, err = p.Calendars(rec.ctx(), b)
	require.NoError(t, err)
	require.Equal(t, 2, srv.Calls("token"))
	require.Len(t, rec.all(), 2)
}

func TestRevokedRefreshTokenNeedsReconnect(t *testing.T) {
	srv := googletest.Start(t)
	p := newProvider(t, srv)
	creds := srv.Creds()
	srv.RevokeRefreshTokens()
	rec := &credsRecorder{}
	_, err := p.Changes(rec.ctx(), creds, cal, "")
	require.ErrorIs(t, err, calendar.ErrReconnect)
	require.NotContains(t, err.Error(), "rt-", "no token in the error")
	require.Empty(t, rec.all())

	// A token endpoint that fails for a while is retryable, not a reconnect.
	creds = srv.Creds()
	srv.ExpireAccessTokens()
	srv.FailNext("token", googletest.Failure{Status: 503, Reason: "temporarily_unavailable", RetryAfter: "3"})
	_, err = p.Changes(rec.ctx(), creds, cal, "")
	var pe *calendar.ProviderError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, 503, pe.Status)
	require.Equal(t, 3*time.Second, pe.RetryAfter)
	require.NotErrorIs(t, err, calendar.ErrReconnect)
}

func TestUnauthorizedAfterFreshToken(t *testing.T) {
	srv := googletest.Start(t)
	p := newProvider(t, srv)
	// A token with no refresh token that the API refuses.
	b, _ := json.Marshal(oauth2.Token{AccessToken: "bogus", TokenType: "Bearer"})
	_, err := p.Changes(context.Background(), b, cal, "")
	require.ErrorIs(t, err, calendar.ErrUnauthorized)
	require.NotContains(t, err.Error(), "bogus")
	// With a refresh token, the API answering 401 twice.
	creds := srv.Creds()
	srv.FailNext("list", googletest.Failure{Status: 401}, googletest.Failure{Status: 401})
	_, err = p.Changes(context.Background(), creds, cal, "")
	require.ErrorIs(t, err, calendar.ErrUnauthorized)
	require.Equal(t, 1, srv.Calls("token"), "refreshed once, then gave up")
	require.False(t, errors.Is(err, calendar.ErrReconnect))
}

func TestTimeZonesMap(t *testing.T) {
	ctx := context.Background()
	srv := googletest.Start(t)
	p := newProvider(t, srv)
	creds := srv.Creds()
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	st := time.Date(2026, 3, 8, 1, 30, 0, 0, ny) // just before the DST change
	got, err := p.Create(ctx, creds, cal, &calendar.Event{UID: "ny", Summary: "NY", Start: st, End: st.Add(2 * time.Hour)})
	require.NoError(t, err)
	require.Equal(t, "America/New_York", got.Start.Location().String())
	require.True(t, got.End.Equal(st.Add(2*time.Hour)), "two real hours across the change")
	require.Equal(t, 4, got.End.Hour(), "04:30 EDT")

	// A zone the system does not know, and none: the instant is kept, in UTC.
	for _, tz := range []string{"Mars/Olympus_Mons", ""} {
		ev, err := google.DecodeEvent([]byte(`{"id":"x","start":{"dateTime":"2026-06-06T10:00:00+02:00","timeZone":"` + tz + `"},"end":{"dateTime":"2026-06-06T11:00:00+02:00"}}`))
		require.NoError(t, err)
		require.Equal(t, time.UTC, ev.Start.Location())
		require.Equal(t, 8, ev.Start.Hour())
	}
	// A time in Local is written in UTC, never with the host's zone name.
	raw, err := google.EncodeEvent(&calendar.Event{Start: time.Date(2026, 1, 1, 9, 0, 0, 0, time.Local), End: time.Date(2026, 1, 1, 10, 0, 0, 0, time.Local)})
	require.NoError(t, err)
	require.Contains(t, string(raw), `"timeZone":"UTC"`)
}

func TestTimeoutIsRetryable(t *testing.T) {
	srv := googletest.Start(t)
	block := make(chan struct{})
	defer close(block)
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		select {
		case <-r.Context().Done():
			return nil, r.Context().Err()
		case <-block:
			return nil, errors.New("unreachable")
		}
	})}
	p := newProvider(t, srv, google.WithHTTPClient(hc), google.WithTimeout(50*time.Millisecond))
	_, err := p.Changes(context.Background(), srv.Creds(), cal, "")
	var pe *calendar.ProviderError
	require.ErrorAs(t, err, &pe, "a call out of time is retried by the engine")
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// The caller's own cancellation is returned as is.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = p.Changes(ctx, srv.Creds(), cal, "")
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, errors.As(err, &pe))
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCreateSeriesWithOverrides(t *testing.T) {
	ctx := context.Background()
	srv := googletest.Start(t)
	p := newProvider(t, srv)
	creds := srv.Creds()
	lon := london(t)
	st := time.Date(2026, 6, 6, 10, 0, 0, 0, lon)
	ev := &calendar.Event{UID: "yoga", Summary: "Yoga", Start: st, End: st.Add(time.Hour),
		Recurrence: []string{"RRULE:FREQ=WEEKLY;COUNT=4"},
		Overrides: []calendar.Event{
			{RecurrenceID: st.AddDate(0, 0, 7), Summary: "Yoga (late)", Start: st.AddDate(0, 0, 7).Add(2 * time.Hour), End: st.AddDate(0, 0, 7).Add(3 * time.Hour)},
			{RecurrenceID: st.AddDate(0, 0, 14), Cancelled: true},
		}}
	got, err := p.Create(ctx, creds, cal, ev)
	require.NoError(t, err)
	require.Equal(t, []string{"RRULE:FREQ=WEEKLY;COUNT=4"}, got.Recurrence)
	require.Len(t, got.Overrides, 2)
	ov := byID(got.Overrides)
	late := ov[google.InstanceID(got.ID, st.AddDate(0, 0, 7), false)]
	require.Equal(t, "Yoga (late)", late.Summary)
	require.True(t, late.Start.Equal(st.AddDate(0, 0, 7).Add(2*time.Hour)))
	require.True(t, late.RecurrenceID.Equal(st.AddDate(0, 0, 7)))
	require.True(t, ov[google.InstanceID(got.ID, st.AddDate(0, 0, 14), false)].Cancelled)
	require.Equal(t, got.ID+"_20260613T090000Z", google.InstanceID(got.ID, st.AddDate(0, 0, 7), false))

	// Update moves the series and adds an exception.
	got.Start, got.End = got.Start.Add(30*time.Minute), got.End.Add(30*time.Minute)
	got.Overrides = []calendar.Event{{RecurrenceID: st.AddDate(0, 0, 21).Add(30 * time.Minute), Summary: "Last one", Start: st.AddDate(0, 0, 21).Add(time.Hour), End: st.AddDate(0, 0, 21).Add(2 * time.Hour)}}
	upd, err := p.Update(ctx, creds, cal, got, got.ETag)
	require.NoError(t, err)
	require.True(t, upd.Start.Equal(st.Add(30*time.Minute)))
	require.Len(t, upd.Overrides, 3)
	full, err := p.Changes(ctx, creds, cal, "")
	require.NoError(t, err)
	require.Len(t, full.Updated, 1, "instances are not separate events")
	require.Len(t, full.Updated[0].Overrides, 3)
}

func TestTokenEndpointRefusalsNeedReconnect(t *testing.T) {
	srv := googletest.Start(t)
	p := newProvider(t, srv)
	for _, f := range []googletest.Failure{{Status: 401, Reason: "invalid_client"}, {Status: 400, Reason: "unauthorized_client"}} {
		creds := srv.Creds()
		srv.ExpireAccessTokens()
		srv.FailNext("token", f)
		_, err := p.Calendars(context.Background(), creds)
		require.ErrorIs(t, err, calendar.ErrReconnect, "%+v", f)
		require.ErrorContains(t, err, f.Reason)
	}
}
