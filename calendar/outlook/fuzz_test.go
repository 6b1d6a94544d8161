package outlook_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/outlook"
)

// FuzzDecodeEvent: any input either fails with an error or decodes to an
// event with an id, an end not before its start, and (for a series
// master) one RRULE line that encodes back.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","@odata.etag":"W/\"1\"","subject":"x","start":{"dateTime":"2027-06-06T13:00:00.0000000","timeZone":"UTC"},"end":{"dateTime":"2027-06-06T14:00:00.0000000","timeZone":"UTC"},"originalStartTimeZone":"GMT Standard Time"}`,
		`{"id":"b","isAllDay":true,"start":{"dateTime":"2027-06-06T00:00:00","timeZone":"UTC"},"end":{"dateTime":"2027-06-08T00:00:00","timeZone":"UTC"}}`,
		`{"id":"c","@removed":{"reason":"deleted"}}`,
		`{"id":"m","type":"seriesMaster","start":{"dateTime":"2027-06-06T13:00:00","timeZone":"UTC"},"end":{"dateTime":"2027-06-06T14:00:00","timeZone":"UTC"},"recurrence":{"pattern":{"type":"relativeMonthly","interval":2,"daysOfWeek":["saturday"],"index":"last"},"range":{"type":"endDate","endDate":"2028-01-01"}}}`,
		`{"id":"t","showAs":"free","singleValueExtendedProperties":[{"id":"` + outlook.TagPropertyID + `","value":"bk_1"}],"start":{"dateTime":"2027-06-06T13:00:00","timeZone":"Pacific Standard Time"},"end":{"dateTime":"2027-06-06T14:00:00","timeZone":"Pacific Standard Time"}}`,
		`{}`, `[]`, `{"id":"x","start":{"dateTime":"nope"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := outlook.DecodeEvent(data)
		if err != nil {
			return
		}
		if ev.ID == "" {
			t.Fatal("decoded an event without an id")
		}
		if ev.End.Before(ev.Start) {
			t.Fatalf("end %s before start %s", ev.End, ev.Start)
		}
		if len(ev.Recurrence) > 1 || (len(ev.Recurrence) == 1 && !strings.HasPrefix(ev.Recurrence[0], "RRULE:")) {
			t.Fatalf("recurrence %q", ev.Recurrence)
		}
		if !ev.Start.IsZero() {
			if _, err := outlook.EncodeEvent(ev); err != nil && len(ev.Recurrence) == 0 {
				t.Fatalf("a decoded event does not encode: %v", err)
			}
		}
	})
}

// FuzzNotificationHandler: no body makes the handler notify without a
// matching clientState, panic, or answer other than 202, 400 or 413.
func FuzzNotificationHandler(f *testing.F) {
	for _, s := range []string{
		`{"value":[{"subscriptionId":"sub-1","clientState":"right"}]}`,
		`{"value":[{"subscriptionId":"sub-1","clientState":"wrong"},{"subscriptionId":"x"}]}`,
		`{"value":[]}`, `{}`, `null`, `{"value":null}`, `{"value":[1,2]}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		notified := 0
		h := outlook.NotificationHandler(func(_ context.Context, id string) (string, calendar.Watch, bool) {
			return "conn", calendar.Watch{ID: "sub-1", Token: "right"}, id == "sub-1"
		}, func(context.Context, string) error { notified++; return nil }, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body))))
		switch rec.Code {
		case http.StatusAccepted, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d", rec.Code)
		}
		genuine := strings.Contains(string(body), "right")
		if notified > 1 || (notified == 1 && !genuine) {
			t.Fatalf("notified %d times for %q", notified, body)
		}
		items, err := outlook.ParseNotifications(body)
		if err == nil && rec.Code != http.StatusAccepted {
			t.Fatalf("parsed %d items but answered %d", len(items), rec.Code)
		}
	})
}
