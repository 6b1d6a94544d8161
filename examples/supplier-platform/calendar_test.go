package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
)

// weekOf returns the week's lists from GET /api/calendar/week.
func weekOf(t *testing.T, api *apiClient, query string) (bookings, busy, conflicts []map[string]any, body map[string]any) {
	t.Helper()
	code, body := api.do("GET", "/api/calendar/week"+query, "")
	require.Equal(t, http.StatusOK, code, body)
	list := func(key string) []map[string]any {
		raw, ok := body[key].([]any)
		require.True(t, ok, "%s is a list: %v", key, body[key])
		out := make([]map[string]any, len(raw))
		for i, x := range raw {
			out[i] = x.(map[string]any)
		}
		return out
	}
	return list("bookings"), list("busy"), list("conflicts"), body
}

func byField(items []map[string]any, field, value string) map[string]any {
	for _, it := range items {
		if it[field] == value {
			return it
		}
	}
	return nil
}

// The calendar panel's API in memory mode: the seeded week with its
// conflict, a refused hold, an event of the supplier's own that becomes busy
// time (and a conflict) after the sync, confirm and cancel.
func TestDemoCalendarAPI(t *testing.T) {
	changes := make(chan calendar.Change, 64)
	base, hc, out := startServer(t, func(c *config) {
		c.onChange = func(ch calendar.Change) {
			select {
			case changes <- ch:
			default:
			}
		}
	})
	api := &apiClient{t: t, base: base, token: testAdminToken, c: hc}
	anon := &apiClient{t: t, base: base, c: hc}

	// The admin token is required.
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/calendar/week"}, {"POST", "/api/calendar/hold"}, {"POST", "/api/calendar/confirm"},
		{"POST", "/api/calendar/cancel"}, {"POST", "/api/calendar/external"}, {"POST", "/api/calendar/sync"},
	} {
		code, body := anon.do(r.method, r.path, `{}`)
		require.Equal(t, http.StatusUnauthorized, code, "%s %s", r.method, r.path)
		require.Contains(t, body["error"], "bearer token")
	}

	// The seeded week: two bookings, two holds, the supplier's own events,
	// and the dentist on top of the wedding.
	bookings, busy, conflicts, week := weekOf(t, api, "")
	require.Equal(t, demoSupplier, week["supplier"])
	require.Equal(t, "Europe/London", week["time_zone"])
	require.Len(t, week["days"], 7)
	require.Len(t, bookings, 4, bookings)
	wedding := byField(bookings, "title", "Alex & Sam wedding")
	require.NotNil(t, wedding, bookings)
	require.Equal(t, "confirmed", wedding["status"])
	require.EqualValues(t, 120, wedding["setup_minutes"])
	require.Equal(t, true, wedding["conflict"])
	blocked := wedding["blocked"].(map[string]any)
	ws, _ := time.Parse(time.RFC3339, wedding["start"].(string))
	bs, _ := time.Parse(time.RFC3339, blocked["start"].(string))
	require.Equal(t, 2*time.Hour, ws.Sub(bs), "the blocked interval includes the set-up buffer")
	consult := byField(bookings, "title", "Priya & Jordan: consultation")
	require.NotNil(t, consult)
	require.Equal(t, "hold", consult["status"])
	require.NotEmpty(t, consult["hold_until"])
	for _, s := range []string{"Dentist", "Gym", "Flower market", "Mum's birthday dinner"} {
		b := byField(busy, "summary", s)
		require.NotNil(t, b, "busy block %q: %v", s, busy)
		require.True(t, strings.HasPrefix(b["connection"].(string), "calconn_"), b)
	}
	require.Equal(t, true, byField(busy, "summary", "Dentist")["conflict"])
	require.Equal(t, false, byField(busy, "summary", "Gym")["conflict"])
	require.Len(t, conflicts, 1, conflicts)
	require.Equal(t, wedding["id"], conflicts[0]["booking_id"])
	require.Equal(t, "busy", conflicts[0]["kind"])
	require.Equal(t, "Dentist", conflicts[0]["with"])
	conns := week["connections"].([]any)
	require.Len(t, conns, 1)
	conn := conns[0].(map[string]any)
	require.NotEmpty(t, conn["last_success"], conn)
	require.Empty(t, conn["last_error"])
	require.NotEmpty(t, conn["next_run"])
	require.Equal(t, true, conn["cursor_present"])
	require.GreaterOrEqual(t, conn["events"], float64(8), "4 own events and the 4 bookings and holds written")
	// The day's grid places the wedding from 10:00 (set-up) to 19:00.
	var dayItem map[string]any
	for _, d := range week["days"].([]any) {
		for _, it := range d.(map[string]any)["items"].([]any) {
			if m := it.(map[string]any); m["id"] == wedding["id"] {
				dayItem = m
			}
		}
	}
	require.NotNil(t, dayItem)
	require.Equal(t, "booking", dayItem["type"])
	require.EqualValues(t, 12*60, dayItem["start_min"])
	require.EqualValues(t, 10*60, dayItem["blocked_start_min"])
	require.EqualValues(t, 19*60, dayItem["blocked_end_min"])

	// The first sync reported the conflict: a plain console line.
	require.Contains(t, out.String(), `calendar: conflict: "Dentist"`)
	require.Contains(t, out.String(), "overlaps booking "+wedding["id"].(string)+" for "+demoSupplier)
	require.Regexp(t, `calendar: +an in-process CalDAV server on 127\.0\.0\.1:\d+ holds the sample supplier's calendar`, out.String())

	// A hold over the wedding's set-up time is refused, naming the wedding.
	day := strings.SplitN(wedding["start"].(string), "T", 2)[0]
	code, body := api.do("POST", "/api/calendar/hold",
		`{"title":"Clash","start":"`+day+`T09:00","end":"`+day+`T10:30","setup_minutes":0,"teardown_minutes":0}`)
	require.Equal(t, http.StatusConflict, code, body)
	cl := body["conflicts"].([]any)
	require.Len(t, cl, 1, body)
	require.Equal(t, wedding["id"], cl[0].(map[string]any)["booking_id"])
	require.Equal(t, "booking", cl[0].(map[string]any)["kind"])

	// Bad input: 400 naming the field.
	for _, tc := range []struct{ path, body, field, rule string }{
		{"/api/calendar/hold", `{"start":"2027-01-01T10:00","end":"2027-01-01T11:00"}`, "title", "is required"},
		{"/api/calendar/hold", `{"title":"x","start":"tomorrow","end":"2027-01-01T11:00"}`, "start", "must be a time"},
		{"/api/calendar/hold", `{"title":"x","start":"2027-01-01T10:00"}`, "end", "is required"},
		{"/api/calendar/hold", `{"title":"x","start":"2027-01-01T10:00","end":"2027-01-01T09:00"}`, "end", "after start"},
		{"/api/calendar/hold", `{"title":"x","start":"2027-01-01T10:00","end":"2027-01-01T11:00","setup_minutes":-5}`, "setup_minutes", "0 to 1440"},
		{"/api/calendar/hold", `{"title":"x","setup_minutes":"lots"}`, "setup_minutes", "must be a number"},
		{"/api/calendar/hold", `{"title":"x","colour":"red"}`, "colour", "not a known field"},
		{"/api/calendar/hold", `{"title":`, "body", "truncated"},
		{"/api/calendar/confirm", `{}`, "id", "is required"},
		{"/api/calendar/external", `{"summary":"x","start":"2027-01-01T10:00","end":"2027-01-01T10:00"}`, "end", "after start"},
		{"/api/calendar/external", `{"start":"2027-01-01T10:00","end":"2027-01-01T11:00"}`, "summary", "is required"},
	} {
		code, body := api.do("POST", tc.path, tc.body)
		require.Equal(t, http.StatusBadRequest, code, "%s %s: %v", tc.path, tc.body, body)
		require.Equal(t, tc.field, body["field"], body)
		require.Contains(t, body["error"], tc.field+": ")
		require.Contains(t, body["error"], tc.rule)
	}
	code, body = api.do("GET", "/api/calendar/week?start=next-monday", "")
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Equal(t, "start", body["field"])
	code, body = api.do("POST", "/api/calendar/hold", `{"title":"`+strings.Repeat("a", 2<<20)+`"}`)
	require.Equal(t, http.StatusRequestEntityTooLarge, code, body)
	code, body = api.do("POST", "/api/calendar/cancel", `{"id":"bk_nope"}`)
	require.Equal(t, http.StatusNotFound, code, body)
	require.Equal(t, "id", body["field"])

	// A hold on a free evening, then confirmed: a booking.
	code, body = api.do("POST", "/api/calendar/hold",
		`{"title":"Riley & Quinn: call","start":"`+day+`T20:00","end":"`+day+`T21:00","setup_minutes":15,"teardown_minutes":15}`)
	require.Equal(t, http.StatusCreated, code, body)
	hold := body["booking"].(map[string]any)
	require.Equal(t, "hold", hold["status"])
	require.EqualValues(t, 15, hold["setup_minutes"])
	code, body = api.do("POST", "/api/calendar/confirm", `{"id":"`+hold["id"].(string)+`"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "confirmed", body["booking"].(map[string]any)["status"])

	// The supplier adds an event of their own on top of it, in their
	// calendar app: after the sync it is busy time and a conflict, and the
	// change handler reported it.
	code, body = api.do("POST", "/api/calendar/external", `{"summary":"Yoga class","start":"`+day+`T20:30","end":"`+day+`T21:30"}`)
	require.Equal(t, http.StatusCreated, code, body)
	require.Equal(t, true, body["synced"], "the engine went idle within the handler's wait")
	_, busy, conflicts, _ = weekOf(t, api, "")
	require.NotNil(t, byField(busy, "summary", "Yoga class"), busy)
	require.NotNil(t, byField(conflicts, "with", "Yoga class"), conflicts)
	require.Equal(t, hold["id"], byField(conflicts, "with", "Yoga class")["booking_id"])
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for seen := false; !seen; {
		select {
		case ch := <-changes:
			seen = ch.Kind == calendar.ChangeConflict && ch.BookingID == hold["id"] && ch.Conflict != nil && ch.Conflict.Summary == "Yoga class"
		case <-deadline.C:
			t.Fatalf("no conflict change for the yoga class\n%s", out.String())
		}
	}

	// Cancel: the booking is gone from the week, and so is its conflict.
	code, body = api.do("POST", "/api/calendar/cancel", `{"id":"`+hold["id"].(string)+`"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "cancelled", body["booking"].(map[string]any)["status"])
	bookings, _, conflicts, _ = weekOf(t, api, "")
	require.Nil(t, byField(bookings, "id", hold["id"].(string)), bookings)
	require.Nil(t, byField(conflicts, "with", "Yoga class"), conflicts)

	// Sync now answers with the connection's state.
	code, body = api.do("POST", "/api/calendar/sync", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, true, body["synced"])
	require.Equal(t, true, body["connection"].(map[string]any)["cursor_present"])

	// Another week: empty.
	bookings, busy, _, _ = weekOf(t, api, "?start=2020-01-06")
	require.Empty(t, bookings)
	require.Empty(t, busy)

	s := out.String()
	for _, want := range []string{
		`calendar: hold ` + hold["id"].(string) + ` "Riley & Quinn: call" taken for sup_demo_florist`,
		`calendar: the supplier's calendar app wrote "Yoga class"`,
		`calendar: conflict: "Yoga class"`,
		`calendar: ` + hold["id"].(string) + ` "Riley & Quinn: call" of sup_demo_florist cancelled`,
	} {
		require.Contains(t, s, want)
	}
}
