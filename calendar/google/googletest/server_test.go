package googletest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/oauth2"

	"github.com/wedsync/integrations/calendar/google/googletest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// call sends one request to the fake and returns the status and the error
// reason of the answer.
func call(t *testing.T, srv *googletest.Server, method, path, bearer string, body any) (int, string) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, srv.Endpoint()+path, rd)
	require.NoError(t, err)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var e struct {
		Error struct {
			Errors []struct{ Reason string } `json:"errors"`
		} `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	reason := ""
	if len(e.Error.Errors) > 0 {
		reason = e.Error.Errors[0].Reason
	}
	return resp.StatusCode, reason
}

func access(t *testing.T, srv *googletest.Server) string {
	var tok oauth2.Token
	require.NoError(t, json.Unmarshal(srv.Creds(), &tok))
	return tok.AccessToken
}

func TestFakeChecksRequestShapes(t *testing.T) {
	srv := googletest.Start(t)
	at := access(t, srv)
	ev := func(extra map[string]any) map[string]any {
		m := map[string]any{"start": map[string]any{"dateTime": "2026-06-06T10:00:00Z"}, "end": map[string]any{"dateTime": "2026-06-06T11:00:00Z"}}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	st, reason := call(t, srv, http.MethodGet, "calendars/primary/events", "", nil)
	require.Equal(t, http.StatusUnauthorized, st, "no bearer")
	require.Equal(t, "authError", reason)
	st, _ = call(t, srv, http.MethodGet, "calendars/primary/events", "made-up", nil)
	require.Equal(t, http.StatusUnauthorized, st, "a token the fake never issued")

	st, _ = call(t, srv, http.MethodGet, "calendars/primary/events?syncToken=x&iCalUID=y", at, nil)
	require.Equal(t, http.StatusBadRequest, st, "syncToken with a filter")
	st, reason = call(t, srv, http.MethodGet, "calendars/primary/events?syncToken=CPs9_1", at, nil)
	require.Equal(t, http.StatusGone, st)
	require.Equal(t, "fullSyncRequired", reason)
	st, _ = call(t, srv, http.MethodGet, "calendars/primary/events?maxResults=3000", at, nil)
	require.Equal(t, http.StatusBadRequest, st)

	st, _ = call(t, srv, http.MethodPost, "calendars/primary/events", at, ev(map[string]any{"id": "UPPER-case"}))
	require.Equal(t, http.StatusBadRequest, st, "ids are base32hex")
	st, _ = call(t, srv, http.MethodPost, "calendars/primary/events", at, ev(map[string]any{"id": "abcd"}))
	require.Equal(t, http.StatusBadRequest, st, "ids have 5 characters at least")
	st, _ = call(t, srv, http.MethodPost, "calendars/primary/events", at, ev(map[string]any{"recurrence": []string{"RRULE:FREQ=DAILY"}}))
	require.Equal(t, http.StatusBadRequest, st, "a series needs a time zone")
	st, _ = call(t, srv, http.MethodPost, "calendars/primary/events", at, map[string]any{"start": map[string]any{"date": "2026-06-06"},
		"end": map[string]any{"dateTime": "2026-06-07T00:00:00Z"}})
	require.Equal(t, http.StatusBadRequest, st, "date and dateTime mixed")
	st, _ = call(t, srv, http.MethodPost, "calendars/primary/events", at, ev(map[string]any{"id": "abcde12345"}))
	require.Equal(t, http.StatusOK, st)
	st, reason = call(t, srv, http.MethodPost, "calendars/primary/events", at, ev(map[string]any{"id": "abcde12345"}))
	require.Equal(t, http.StatusConflict, st)
	require.Equal(t, "duplicate", reason)

	st, _ = call(t, srv, http.MethodPost, "calendars/primary/events/watch", at, map[string]any{"id": "c1", "type": "email", "address": "https://x.example/"})
	require.Equal(t, http.StatusBadRequest, st, "web_hook only")
	st, _ = call(t, srv, http.MethodPost, "calendars/nosuch/events", at, ev(nil))
	require.Equal(t, http.StatusNotFound, st)
}

func TestFakeTokenEndpoint(t *testing.T) {
	srv := googletest.Start(t)
	var tok oauth2.Token
	require.NoError(t, json.Unmarshal(srv.Creds(), &tok))
	post := func(id, secret, rt string) (int, map[string]any) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		c := &http.Client{Transport: &http.Transport{}}
		defer c.CloseIdleConnections()
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	st, m := post(googletest.ClientID, googletest.ClientSecret, tok.RefreshToken)
	require.Equal(t, http.StatusOK, st)
	require.NotEmpty(t, m["access_token"])
	st, m = post(googletest.ClientID, "wrong", tok.RefreshToken)
	require.Equal(t, http.StatusUnauthorized, st)
	require.Equal(t, "invalid_client", m["error"])
	srv.RevokeRefreshTokens()
	st, m = post(googletest.ClientID, googletest.ClientSecret, tok.RefreshToken)
	require.Equal(t, http.StatusBadRequest, st)
	require.Equal(t, "invalid_grant", m["error"])
}
