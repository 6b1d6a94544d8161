package google_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/google"
)

func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"id":"a1","etag":"\"1\"","iCalUID":"u@x","summary":"S","start":{"dateTime":"2026-06-06T14:00:00+01:00","timeZone":"Europe/London"},"end":{"dateTime":"2026-06-06T16:00:00+01:00","timeZone":"Europe/London"}}`,
		`{"id":"a2","start":{"date":"2026-08-01"},"end":{"date":"2026-08-03"},"transparency":"transparent","extendedProperties":{"private":{"wedsyncBooking":"bk_1"}}}`,
		`{"id":"a3","status":"cancelled"}`,
		`{"id":"s_20260613T090000Z","recurringEventId":"s","originalStartTime":{"dateTime":"2026-06-13T10:00:00+01:00","timeZone":"Europe/London"},"status":"cancelled"}`,
		`{"id":"s","recurrence":["RRULE:FREQ=WEEKLY;BYDAY=SA"],"start":{"dateTime":"2026-06-06T10:00:00Z","timeZone":"Nowhere/Else"},"end":{"dateTime":"2026-06-06T11:00:00Z"}}`,
		`{"id":"x","start":{"date":"2026-08-01"},"end":{"dateTime":"2026-08-03T00:00:00Z"}}`,
		`{"id":"x","start":{"dateTime":"2026-08-01T00:00:00Z","timeZone":"Local"},"end":{"dateTime":"2026-08-01T00:00:00Z","timeZone":"../../etc/passwd"}}`,
		`[]`, `null`, `{"id":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := google.DecodeEvent(data)
		if err != nil {
			return
		}
		if ev.ID == "" {
			t.Fatal("an event without id decoded")
		}
		if ev.Cancelled && ev.Start.IsZero() {
			return
		}
		if ev.End.Before(ev.Start) {
			t.Fatalf("ends before it starts: %s %s", ev.Start, ev.End)
		}
		if ev.AllDay && (ev.Start.Location() != time.UTC || ev.Start.Hour() != 0) {
			t.Fatalf("all-day start not midnight UTC: %s", ev.Start)
		}
		if ev.Start.Location().String() == "Local" {
			t.Fatal("the host's zone leaked in")
		}
		raw, err := google.EncodeEvent(ev)
		if err != nil {
			t.Fatalf("a decoded event does not encode: %v", err)
		}
		back, err := google.DecodeEvent(raw)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, raw)
		}
		if !back.Start.Equal(ev.Start.Truncate(time.Second)) || !back.End.Equal(ev.End.Truncate(time.Second)) || back.AllDay != ev.AllDay ||
			back.Summary != ev.Summary || back.Tag != ev.Tag || back.Transparent != ev.Transparent || back.UID != ev.UID ||
			!slices.Equal(back.Recurrence, ev.Recurrence) || back.Start.Location().String() != ev.Start.Location().String() {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", ev, back)
		}
	})
}

func FuzzNotificationHandler(f *testing.F) {
	f.Add("ch1", "secret", "res1", "exists", []byte(nil))
	f.Add("ch1", "secret", "res1", "sync", []byte("x"))
	f.Add("ch1", "Secret", "res1", "exists", []byte(nil))
	f.Add("ch2", "secret", "res1", "exists", []byte(nil))
	f.Add("", "", "", "", []byte(strings.Repeat("a", 5000)))
	w := calendar.Watch{ID: "ch1", ResourceID: "res1", Token: "secret"}
	f.Fuzz(func(t *testing.T, id, token, res, state string, body []byte) {
		notified := 0
		h := google.NotificationHandler(
			func(_ context.Context, got string) (string, calendar.Watch, bool) {
				return "conn", w, got == w.ID
			},
			func(context.Context, string) error { notified++; return nil }, nil)
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		for k, v := range map[string]string{"X-Goog-Channel-ID": id, "X-Goog-Channel-Token": token, "X-Goog-Resource-ID": res, "X-Goog-Resource-State": state} {
			if !validHeader(v) {
				return
			}
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		genuine := id == w.ID && token == w.Token && res == w.ResourceID && state != "" && state != "sync"
		if notified > 0 != genuine {
			t.Fatalf("notified %d for id=%q token=%q res=%q state=%q", notified, id, token, res, state)
		}
		if genuine && rec.Code != http.StatusOK {
			t.Fatalf("genuine push answered %d", rec.Code)
		}
		if !slices.Contains([]int{200, 400, 404}, rec.Code) {
			t.Fatalf("status %d", rec.Code)
		}
	})
}

// validHeader: what net/http would send (the handler never sees others).
func validHeader(v string) bool {
	for _, c := range []byte(v) {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return strings.TrimSpace(v) == v
}
