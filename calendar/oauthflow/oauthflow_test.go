package oauthflow_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/oauth2"

	"github.com/wedsync/integrations/calendar/oauthflow"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var key = []byte("0123456789abcdef0123456789abcdef")

// provider is a token endpoint that checks the PKCE verifier against the
// challenge the authorisation URL carried.
func provider(t *testing.T, challenge *string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		sum := sha256.Sum256([]byte(r.Form.Get("code_verifier")))
		if r.Form.Get("code") != "good-code" || base64.RawURLEncoding.EncodeToString(sum[:]) != *challenge {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "refresh_token": "rt", "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFlow(t *testing.T) {
	var challenge string
	srv := provider(t, &challenge)
	cfg := &oauth2.Config{ClientID: "client", ClientSecret: "secret", RedirectURL: "https://wedsync.example/oauth/callback",
		Endpoint: oauth2.Endpoint{AuthURL: srv.URL + "/auth", TokenURL: srv.URL + "/token"}, Scopes: []string{"calendar"}}
	f, err := oauthflow.New(cfg, key)
	require.NoError(t, err)
	ctx := context.Background()

	authURL, err := f.Begin("sup_anna")
	require.NoError(t, err)
	u, err := url.Parse(authURL)
	require.NoError(t, err)
	q := u.Query()
	require.Equal(t, "S256", q.Get("code_challenge_method"))
	require.Equal(t, "offline", q.Get("access_type"))
	challenge = q.Get("code_challenge")
	state := q.Get("state")
	require.NotContains(t, state, "sup_anna", "the state is sealed, not readable")

	creds, supplier, err := f.Finish(ctx, "good-code", state)
	require.NoError(t, err)
	require.Equal(t, "sup_anna", supplier)
	var tok oauth2.Token
	require.NoError(t, json.Unmarshal(creds, &tok))
	require.Equal(t, "rt", tok.RefreshToken)

	// A state from another flow (its verifier) does not redeem this code.
	other, err := f.Begin("sup_mallory")
	require.NoError(t, err)
	ou, _ := url.Parse(other)
	_, _, err = f.Finish(ctx, "good-code", ou.Query().Get("state"))
	require.Error(t, err, "the verifier does not match the challenge the code was issued for")

	// Forged, tampered and expired states.
	_, _, err = f.Finish(ctx, "good-code", "forged")
	require.ErrorIs(t, err, oauthflow.ErrState)
	_, _, err = f.Finish(ctx, "good-code", state[:len(state)-2]+"AA")
	require.ErrorIs(t, err, oauthflow.ErrState)
	later, err := oauthflow.New(cfg, key, oauthflow.WithNow(func() time.Time { return time.Now().Add(time.Hour) }))
	require.NoError(t, err)
	_, _, err = later.Finish(ctx, "good-code", state)
	require.ErrorIs(t, err, oauthflow.ErrState)
	otherKey, err := oauthflow.New(cfg, []byte("ffffffffffffffffffffffffffffffff"))
	require.NoError(t, err)
	_, _, err = otherKey.Finish(ctx, "good-code", state)
	require.ErrorIs(t, err, oauthflow.ErrState)

	_, err = oauthflow.New(&oauth2.Config{}, []byte("short"))
	require.ErrorContains(t, err, "cfg")
	require.ErrorContains(t, err, "key")
}
