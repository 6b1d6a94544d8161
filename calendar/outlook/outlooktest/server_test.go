package outlooktest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/calendar/outlook"
	"github.com/wedsync/integrations/calendar/outlook/outlooktest"
)

func get(t *testing.T, srv *outlooktest.Server, path string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+path, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	c := &http.Client{}
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var ge struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&ge)
	return resp.StatusCode, ge.Error.Code
}

// The fake checks what Graph checks: a bearer token it issued, and (the
// provider's contract) Prefer: IdType="ImmutableId".
func TestFakeChecksAuthAndPrefer(t *testing.T) {
	srv := outlooktest.Start(t)
	tok, err := outlook.ParseCredentials(srv.Creds())
	require.NoError(t, err)
	st, code := get(t, srv, "/me/calendars", nil)
	require.Equal(t, http.StatusUnauthorized, st)
	require.Equal(t, "InvalidAuthenticationToken", code)
	st, _ = get(t, srv, "/me/calendars", map[string]string{"Authorization": "Bearer made-up"})
	require.Equal(t, http.StatusUnauthorized, st)
	st, code = get(t, srv, "/me/calendars", map[string]string{"Authorization": "Bearer " + tok.AccessToken})
	require.Equal(t, http.StatusBadRequest, st)
	require.Contains(t, code, "PreferImmutableId")
	ok := map[string]string{"Authorization": "Bearer " + tok.AccessToken, "Prefer": `IdType="ImmutableId"`}
	st, _ = get(t, srv, "/me/calendars", ok)
	require.Equal(t, http.StatusOK, st)
	cal := srv.AddCalendar("c")
	st, code = get(t, srv, "/me/calendars/"+cal+"/calendarView/delta", ok)
	require.Equal(t, http.StatusBadRequest, st, "calendarView needs its window")
	require.Equal(t, "ErrorInvalidParameter", code)
	st, code = get(t, srv, "/me/calendars/"+cal+"/calendarView/delta?$deltatoken=forged", ok)
	require.Equal(t, http.StatusGone, st)
	require.Equal(t, "syncStateNotFound", code)
	srv.ExpireAccessTokens()
	st, _ = get(t, srv, "/me/calendars", ok)
	require.Equal(t, http.StatusUnauthorized, st)
}

func TestFakeTokenEndpoint(t *testing.T) {
	srv := outlooktest.Start(t)
	tok, err := outlook.ParseCredentials(srv.Creds())
	require.NoError(t, err)
	post := func(form url.Values) (int, map[string]any) {
		c := &http.Client{}
		defer c.CloseIdleConnections()
		resp, err := c.Post(srv.TokenURL, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		require.NoError(t, err)
		defer resp.Body.Close()
		var m map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
		return resp.StatusCode, m
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
		"client_id": {outlooktest.ClientID}, "client_secret": {"wrong"}}
	st, m := post(form)
	require.Equal(t, http.StatusUnauthorized, st)
	require.Equal(t, "invalid_client", m["error"])
	form.Set("client_secret", outlooktest.ClientSecret)
	st, m = post(form)
	require.Equal(t, http.StatusOK, st)
	require.NotEmpty(t, m["access_token"])
	require.Equal(t, 1, srv.Refreshes())
	srv.RevokeRefreshTokens()
	st, m = post(form)
	require.Equal(t, http.StatusBadRequest, st)
	require.Equal(t, "invalid_grant", m["error"])
}
