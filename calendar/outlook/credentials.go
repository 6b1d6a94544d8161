package outlook

import (
	"encoding/json"

	"golang.org/x/oauth2"

	"github.com/wedsync/integrations/internal/validate"
)

// ParseCredentials reads a connection's credentials: an *oauth2.Token as
// golang.org/x/oauth2 marshals it to JSON (access_token, token_type,
// refresh_token, expiry). A refresh token or an access token is required.
// Its errors name the field and never show a token.
func ParseCredentials(data []byte) (*oauth2.Token, error) {
	var t oauth2.Token
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, validate.New("outlook", "credentials", "must be an OAuth2 token as JSON (access_token, refresh_token, expiry)")
	}
	if t.AccessToken == "" && t.RefreshToken == "" {
		return nil, validate.New("outlook", "credentials", "must hold an access_token or a refresh_token")
	}
	return &t, nil
}

// MarshalCredentials returns tok as the JSON credentials the Provider
// takes (and hands back through calendar.UpdateCredentials when it
// refreshed the access token).
func MarshalCredentials(tok *oauth2.Token) []byte {
	b, _ := json.Marshal(tok) // strings and a time: cannot fail
	return b
}
