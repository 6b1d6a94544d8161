package caldavtest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wedsync/integrations/calendar/caldav/caldavtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// send makes one request as user and returns the status, ETag and body.
func send(t *testing.T, method, url, user string, header map[string]string, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	require.NoError(t, err)
	if user != "" {
		req.SetBasicAuth(user, "x")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("ETag"), string(b)
}

func object(uid, summary string) string {
	return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:" + uid +
		"\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260101T100000Z\r\nSUMMARY:" + summary + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
}

var ics = map[string]string{"Content-Type": "text/calendar"}

// Both servers honour the preconditions the provider relies on.
func TestServersHonourPreconditions(t *testing.T) {
	for name, start := range map[string]func(testing.TB) *caldavtest.Server{
		"radicale":   caldavtest.StartRadicale,
		"in-process": caldavtest.StartInProcess,
	} {
		t.Run(name, func(t *testing.T) {
			srv := start(t)
			cal := srv.MakeCalendar(t, "alice", "work")
			require.Equal(t, srv.CalendarPath("alice", "work"), cal)
			url := strings.TrimSuffix(srv.URL, "/") + cal + "a.ics"

			st, etag1, _ := send(t, "PUT", url, "alice", map[string]string{"Content-Type": "text/calendar", "If-None-Match": "*"}, object("a", "one"))
			require.Equal(t, http.StatusCreated, st)
			require.NotEmpty(t, etag1)
			st, _, _ = send(t, "PUT", url, "alice", map[string]string{"Content-Type": "text/calendar", "If-None-Match": "*"}, object("a", "one"))
			require.Equal(t, http.StatusPreconditionFailed, st)

			st, etag2, _ := send(t, "PUT", url, "alice", map[string]string{"Content-Type": "text/calendar", "If-Match": etag1}, object("a", "two"))
			require.Contains(t, []int{http.StatusCreated, http.StatusNoContent}, st)
			require.NotEqual(t, etag1, etag2, "a write changes the ETag")
			st, _, _ = send(t, "PUT", url, "alice", map[string]string{"Content-Type": "text/calendar", "If-Match": etag1}, object("a", "three"))
			require.Equal(t, http.StatusPreconditionFailed, st)

			st, _, body := send(t, "GET", url, "alice", nil, "")
			require.Equal(t, http.StatusOK, st)
			require.Contains(t, body, "SUMMARY:two")

			st, _, _ = send(t, "DELETE", url, "alice", map[string]string{"If-Match": etag1}, "")
			require.Equal(t, http.StatusPreconditionFailed, st)
			st, _, _ = send(t, "DELETE", url, "alice", map[string]string{"If-Match": etag2}, "")
			require.Contains(t, []int{http.StatusOK, http.StatusNoContent}, st)
			st, _, _ = send(t, "GET", url, "alice", nil, "")
			require.Equal(t, http.StatusNotFound, st)
		})
	}
}

func TestMemoryServerAccess(t *testing.T) {
	mem := caldavtest.NewMemoryServer()
	cal := mem.CreateCalendar("alice", "work")
	hs := httptest.NewServer(mem)
	t.Cleanup(hs.Close)

	st, _, _ := send(t, "PROPFIND", hs.URL+cal, "", map[string]string{"Depth": "0"}, "")
	require.Equal(t, http.StatusUnauthorized, st)
	st, _, _ = send(t, "PROPFIND", hs.URL+cal, "bob", map[string]string{"Depth": "0"}, "")
	require.Equal(t, http.StatusForbidden, st)
	st, _, _ = send(t, "PROPFIND", hs.URL+cal, "alice", map[string]string{"Depth": "0"}, "")
	require.Equal(t, http.StatusMultiStatus, st)

	// One UID per calendar.
	st, _, _ = send(t, "PUT", hs.URL+cal+"a.ics", "alice", ics, object("same", "x"))
	require.Equal(t, http.StatusCreated, st)
	st, _, _ = send(t, "PUT", hs.URL+cal+"b.ics", "alice", ics, object("same", "x"))
	require.Equal(t, http.StatusConflict, st)

	// Calendars only where the layout puts them; no second one of a name.
	st, _, _ = send(t, "MKCALENDAR", hs.URL+"/alice/elsewhere/", "alice", nil, "")
	require.Equal(t, http.StatusMethodNotAllowed, st)
	st, _, _ = send(t, "MKCALENDAR", hs.URL+cal, "alice", nil, "")
	require.Equal(t, http.StatusMethodNotAllowed, st)

	// No sync-collection: the provider falls back to an etag scan.
	st, _, _ = send(t, "REPORT", hs.URL+cal, "alice", map[string]string{"Depth": "0"},
		`<d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`)
	require.Equal(t, http.StatusBadRequest, st)
}

func TestStart(t *testing.T) {
	srv := caldavtest.Start(t)
	require.Contains(t, []string{caldavtest.KindRadicale, caldavtest.KindMemory}, srv.Kind)
	require.Contains(t, string(srv.Creds("alice")), `"username":"alice"`)
}
