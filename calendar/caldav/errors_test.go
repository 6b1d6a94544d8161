package caldav_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/caldav"
	"github.com/wedsync/integrations/calendar/caldav/caldavtest"
)

// fake serves handler on loopback and returns the server as the provider
// sees it.
func fake(t *testing.T, handler http.HandlerFunc) (*caldavtest.Server, *caldav.Provider) {
	t.Helper()
	hs := httptest.NewServer(handler)
	t.Cleanup(hs.Close)
	srv := &caldavtest.Server{URL: hs.URL + "/", Kind: "fake"}
	return srv, newProvider(t, srv)
}

func TestErrorMapping(t *testing.T) {
	const secret = "s3cret-password"
	cases := []struct {
		name   string
		status int
		header map[string]string
		check  func(t *testing.T, err error)
	}{
		{"429 with Retry-After", http.StatusTooManyRequests, map[string]string{"Retry-After": "120"}, func(t *testing.T, err error) {
			var pe *calendar.ProviderError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, http.StatusTooManyRequests, pe.Status)
			require.Equal(t, 120*time.Second, pe.RetryAfter)
			require.Equal(t, "caldav", pe.Provider)
		}},
		{"503", http.StatusServiceUnavailable, nil, func(t *testing.T, err error) {
			var pe *calendar.ProviderError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, http.StatusServiceUnavailable, pe.Status)
			require.Zero(t, pe.RetryAfter)
		}},
		{"401", http.StatusUnauthorized, nil, func(t *testing.T, err error) {
			require.ErrorIs(t, err, calendar.ErrUnauthorized)
			var pe *calendar.ProviderError
			require.False(t, errors.As(err, &pe), "not retryable")
		}},
		{"403", http.StatusForbidden, nil, func(t *testing.T, err error) {
			require.ErrorIs(t, err, calendar.ErrUnauthorized)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, p := fake(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
			})
			creds := caldav.Credentials{URL: srv.URL, Username: "alice", Password: secret}.Marshal()
			calls := map[string]func() error{
				"calendars": func() error { _, err := p.Calendars(t.Context(), creds); return err },
				"changes":   func() error { _, err := p.Changes(t.Context(), creds, "/alice/cal/", "s1:tok"); return err },
				"get":       func() error { _, err := p.Get(t.Context(), creds, "/alice/cal/", "x.ics"); return err },
				"create":    func() error { _, err := p.Create(t.Context(), creds, "/alice/cal/", timedEvent(t, "x")); return err },
				"update": func() error {
					ev := timedEvent(t, "x")
					ev.ID = "/alice/cal/x.ics"
					_, err := p.Update(t.Context(), creds, "/alice/cal/", ev, `"e1"`)
					return err
				},
				"delete": func() error { return p.Delete(t.Context(), creds, "/alice/cal/", "x.ics", `"e1"`) },
			}
			for op, call := range calls {
				err := call()
				require.Error(t, err, op)
				require.NotContains(t, err.Error(), secret, op)
				tc.check(t, err)
			}
		})
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	release := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hs.Close)
	t.Cleanup(func() { close(release) })
	srv := &caldavtest.Server{URL: hs.URL + "/"}
	p, err := caldav.New(append(srv.ProviderOptions(), caldav.WithTimeout(50*time.Millisecond))...)
	require.NoError(t, err)
	t.Cleanup(p.CloseIdleConnections)
	_, err = p.Get(t.Context(), srv.Creds("alice"), "/alice/cal/", "x.ics")
	var pe *calendar.ProviderError
	require.ErrorAs(t, err, &pe)
	require.Zero(t, pe.Status)
}

func TestDefaultClientRefusesLoopback(t *testing.T) {
	var hits atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(hs.Close)
	p, err := caldav.New(caldav.WithInsecureHTTP(true))
	require.NoError(t, err)
	t.Cleanup(p.CloseIdleConnections)
	_, err = p.Calendars(t.Context(), caldav.Credentials{URL: hs.URL + "/", Username: "a", Password: "b"}.Marshal())
	require.Error(t, err)
	require.Contains(t, err.Error(), "refused")
	var pe *calendar.ProviderError
	require.False(t, errors.As(err, &pe), "a refused address is not retried")
	require.Zero(t, hits.Load())
}

func TestCredentials(t *testing.T) {
	c, err := caldav.ParseCredentials(caldav.Credentials{URL: "https://dav.example.com/", Username: "alice", Password: "pw"}.Marshal())
	require.NoError(t, err)
	require.Equal(t, "alice", c.Username)
	require.NotContains(t, fmt.Sprint(c), "pw}")
	require.NotContains(t, fmt.Sprintf("%#v", c), `"pw"`)

	for _, tc := range []struct {
		json  string
		field string
	}{
		{`{"url":"","username":"a","password":"b"}`, "url"},
		{`{"url":"dav.example.com","username":"a","password":"b"}`, "url"},
		{`{"url":"ftp://dav.example.com/","username":"a","password":"b"}`, "url"},
		{`{"url":"https://u:p@dav.example.com/","username":"a","password":"b"}`, "url"},
		{`{"url":"https://dav.example.com/","username":" ","password":"b"}`, "username"},
		{`{"url":"https://dav.example.com/","username":"a","password":""}`, "password"},
		{`not json`, "credentials"},
	} {
		_, err := caldav.ParseCredentials([]byte(tc.json))
		var ve *calendar.ValidationError
		require.ErrorAs(t, err, &ve, tc.json)
		require.ErrorIs(t, err, calendar.ErrInvalid)
		require.Contains(t, ve.Error(), tc.field, tc.json)
	}

	p, err := caldav.New()
	require.NoError(t, err)
	_, err = p.Changes(t.Context(), []byte(`{"url":"https://x/","username":"a"}`), "/a/c/", "")
	require.ErrorIs(t, err, calendar.ErrInvalid)
	_, err = caldav.New(caldav.WithTimeout(0))
	require.ErrorIs(t, err, calendar.ErrInvalid)
}

// A truncated sync answer (507 for the collection, RFC 6578 3.6) is
// followed with its new token, and later pages override earlier ones.
func TestChangesFollowsTruncation(t *testing.T) {
	page := func(token string, self507 bool, items ...string) string {
		var b strings.Builder
		b.WriteString(`<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">`)
		for _, it := range items {
			b.WriteString(it)
		}
		if self507 {
			b.WriteString(`<d:response><d:href>/alice/cal/</d:href><d:status>HTTP/1.1 507 Insufficient Storage</d:status></d:response>`)
		}
		b.WriteString(`<d:sync-token>` + token + `</d:sync-token></d:multistatus>`)
		return b.String()
	}
	ev := func(name, summary string) string {
		return `<d:response><d:href>/alice/cal/` + name + `</d:href><d:propstat><d:prop><d:getetag>"` + summary + `"</d:getetag><c:calendar-data>BEGIN:VCALENDAR
VERSION:2.0
PRODID:x
BEGIN:VEVENT
UID:` + name + `
DTSTAMP:20260101T000000Z
DTSTART:20260101T100000Z
SUMMARY:` + summary + `
END:VEVENT
END:VCALENDAR
</c:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`
	}
	gone := func(name string) string {
		return `<d:response><d:href>/alice/cal/` + name + `</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>`
	}
	pages := map[string]string{
		"t0": page("t1", true, ev("a.ics", "A"), ev("b.ics", "B")),
		"t1": page("t2", false, gone("a.ics"), ev("c.ics", "C")),
	}
	var calls atomic.Int32
	srv, p := fake(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var tok string
		body, _ := io.ReadAll(r.Body)
		s := string(body)
		if i := strings.Index(s, "<d:sync-token>"); i >= 0 {
			tok = s[i+len("<d:sync-token>") : strings.Index(s, "</d:sync-token>")]
		}
		w.WriteHeader(http.StatusMultiStatus)
		_, _ = w.Write([]byte(pages[tok]))
	})
	cs, err := p.Changes(t.Context(), srv.Creds("alice"), "/alice/cal/", "s1:t0")
	require.NoError(t, err)
	require.Equal(t, int32(2), calls.Load())
	require.Equal(t, "s1:t2", cs.Cursor)
	require.ElementsMatch(t, []string{"/alice/cal/b.ics", "/alice/cal/c.ics"}, ids(cs.Updated))
	require.Equal(t, []string{"/alice/cal/a.ics"}, cs.Deleted)
	require.Equal(t, `"B"`, byID(cs.Updated)["/alice/cal/b.ics"].ETag)
}

func TestPutWithoutETagAsks(t *testing.T) {
	srv, p := fake(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPut:
			require.Equal(t, "*", r.Header.Get("If-None-Match"))
			w.WriteHeader(http.StatusCreated) // no ETag: the server changed the data
		case "PROPFIND":
			w.WriteHeader(http.StatusMultiStatus)
			_, _ = w.Write([]byte(`<multistatus xmlns="DAV:"><response><href>` + r.URL.Path +
				`</href><propstat><prop><getetag>"v7"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>`))
		}
	})
	ev := timedEvent(t, "x")
	ev.UID = "u1"
	out, err := p.Create(t.Context(), srv.Creds("alice"), "/alice/cal", ev)
	require.NoError(t, err)
	require.Equal(t, `"v7"`, out.ETag)
	require.Equal(t, "/alice/cal/u1.ics", out.ID)
}

// Discovery reads the privilege set, the calendar's time zone and its
// component set, as servers other than Radicale send them (absolute
// hrefs, other prefixes).
func TestCalendarsProperties(t *testing.T) {
	srv, p := fake(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusMultiStatus)
		var out string
		switch {
		case strings.Contains(string(body), "current-user-principal"):
			out = `<D:multistatus xmlns:D="DAV:"><D:response><D:href>/</D:href><D:propstat><D:prop><D:current-user-principal><D:href>http://` + r.Host + `/principals/alice/</D:href></D:current-user-principal></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>`
		case strings.Contains(string(body), "calendar-home-set") && !strings.Contains(string(body), "resourcetype"):
			require.Equal(t, "/principals/alice/", r.URL.Path)
			out = `<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:response><D:href>/principals/alice/</D:href><D:propstat><D:prop><C:calendar-home-set><D:href>/cals/alice/</D:href></C:calendar-home-set></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>`
		default:
			require.Equal(t, "/cals/alice/", r.URL.Path)
			require.Equal(t, "1", r.Header.Get("Depth"))
			cal := func(href, name, comps, privs, tz string) string {
				return `<D:response><D:href>` + href + `</D:href><D:propstat><D:prop><D:resourcetype><D:collection/><C:calendar/></D:resourcetype><D:displayname>` + name +
					`</D:displayname><C:supported-calendar-component-set>` + comps + `</C:supported-calendar-component-set><D:current-user-privilege-set>` + privs +
					`</D:current-user-privilege-set>` + tz + `</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`
			}
			out = `<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">` +
				`<D:response><D:href>/cals/alice/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>` +
				cal("/cals/alice/work/", "Work", `<C:comp name="VEVENT"/>`, `<D:privilege><D:read/></D:privilege><D:privilege><D:write-content/></D:privilege>`,
					`<C:calendar-timezone>BEGIN:VCALENDAR
VERSION:2.0
PRODID:x
BEGIN:VTIMEZONE
TZID:Europe/London
END:VTIMEZONE
END:VCALENDAR
</C:calendar-timezone>`) +
				cal("/cals/alice/shared/", "Shared", `<C:comp name="VEVENT"/><C:comp name="VTODO"/>`, `<D:privilege><D:read/></D:privilege>`, "") +
				cal("/cals/alice/tasks/", "Tasks", `<C:comp name="VTODO"/>`, `<D:privilege><D:all/></D:privilege>`, "") +
				`</D:multistatus>`
		}
		_, _ = w.Write([]byte(out))
	})
	cals, err := p.Calendars(t.Context(), srv.Creds("alice"))
	require.NoError(t, err)
	require.Equal(t, []calendar.CalendarInfo{
		{ID: "/cals/alice/work/", Name: "Work", TimeZone: "Europe/London"},
		{ID: "/cals/alice/shared/", Name: "Shared", ReadOnly: true},
	}, cals)
}

// Discovery from a server's bare root: 405 there, then
// /.well-known/caldav, which redirects within the host to the DAV root.
func TestCalendarsWellKnownRedirect(t *testing.T) {
	var paths []string
	srv, p := fake(t, func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		switch r.URL.Path {
		case "/":
			w.WriteHeader(http.StatusMethodNotAllowed)
		case "/.well-known/caldav":
			http.Redirect(w, r, "/dav/", http.StatusMovedPermanently)
		case "/dav/":
			w.WriteHeader(http.StatusMultiStatus)
			_, _ = w.Write([]byte(`<multistatus xmlns="DAV:"><response><href>/dav/</href><propstat><prop><current-user-principal><href>/dav/alice/</href></current-user-principal></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>`))
		case "/dav/alice/":
			w.WriteHeader(http.StatusMultiStatus)
			_, _ = w.Write([]byte(`<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><response><href>/dav/alice/</href><propstat><prop><C:calendar-home-set><href>/dav/alice/</href></C:calendar-home-set><resourcetype><collection/></resourcetype></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	cals, err := p.Calendars(t.Context(), srv.Creds("alice"))
	require.NoError(t, err)
	require.Empty(t, cals)
	require.Equal(t, []string{"/", "/.well-known/caldav", "/dav/", "/dav/alice/", "/dav/alice/"}, paths)

	// A redirect to another host is not followed.
	srv2, p2 := fake(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/", http.StatusFound)
	})
	_, err = p2.Calendars(t.Context(), srv2.Creds("alice"))
	require.ErrorContains(t, err, "redirects off the server")
}

// A server's no-uid-conflict names the object that has the UID (RFC 4791
// 5.3.2.1); Create's ExistsError carries it when it is in the calendar.
func TestCreateUIDConflictNamesTheObject(t *testing.T) {
	for _, tc := range []struct{ name, href, want string }{
		{"path", "/dav/alice/work/other.ics", "/dav/alice/work/other.ics"},
		{"absolute URL", "http://host.example/dav/alice/work/other.ics", "/dav/alice/work/other.ics"},
		{"another calendar", "/dav/alice/home/other.ics", ""},
		{"none", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `<?xml version="1.0"?><d:error xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><c:no-uid-conflict>`
			if tc.href != "" {
				body += `<d:href>` + tc.href + `</d:href>`
			}
			body += `</c:no-uid-conflict></d:error>`
			srv, p := fake(t, func(w http.ResponseWriter, r *http.Request) {
				require.Equal(t, http.MethodPut, r.Method)
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusConflict)
				_, _ = io.WriteString(w, body)
			})
			_, err := p.Create(t.Context(), srv.Creds("alice"), "/dav/alice/work/", timedEvent(t, "dup"))
			require.ErrorIs(t, err, calendar.ErrPrecondition)
			var ex *calendar.ExistsError
			require.ErrorAs(t, err, &ex)
			require.Equal(t, tc.want, ex.ID)
		})
	}
}
