package caldav

import (
	"encoding/json"
	"net/url"
	"strings"

	"github.com/wedsync/integrations/internal/validate"
)

// Credentials are what a CalDAV connection stores (sealed) and passes to
// every Provider call, as JSON:
//
//	{"url": "https://dav.example.com/", "username": "alice", "password": "…"}
//
// URL is the server's context path or any URL on it: discovery asks it for
// the current user's principal. The password is sent only in the
// Authorization header (HTTP basic auth) and never appears in errors.
type Credentials struct {
	URL      string `json:"url"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// Marshal returns the credentials as the JSON the Provider takes.
func (c Credentials) Marshal() []byte {
	b, _ := json.Marshal(c) // three strings: cannot fail
	return b
}

// String hides the password, so that printing credentials by mistake
// leaks nothing.
func (c Credentials) String() string {
	return "caldav.Credentials{URL: " + c.URL + ", Username: " + c.Username + ", Password: <redacted>}"
}

// GoString hides the password from %#v too.
func (c Credentials) GoString() string { return c.String() }

// ParseCredentials reads and checks the credentials JSON: url must be an
// absolute http or https URL without user info, username and password must
// be set. Its errors (*ValidationError) name the field and never show the
// password. Whether http is acceptable, and which addresses may be reached,
// is the Provider's policy, checked when it sends.
func ParseCredentials(data []byte) (Credentials, error) {
	var c Credentials
	if err := json.Unmarshal(data, &c); err != nil {
		return Credentials{}, validate.New("caldav", "credentials", "must be a JSON object with url, username and password")
	}
	return c, c.Validate()
}

// Validate checks the fields, as ParseCredentials does.
func (c Credentials) Validate() error {
	ch := validate.NewChecker("caldav")
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		ch.Check(false, "url", "is required")
	case err != nil || !u.IsAbs() || u.Host == "":
		ch.Check(false, "url", "must be an absolute URL")
	case u.Scheme != "https" && u.Scheme != "http":
		ch.Check(false, "url", "must use https (or http), got %q", u.Scheme)
	case u.User != nil:
		ch.Check(false, "url", "must not carry user info; put it in username and password")
	}
	ch.Check(strings.TrimSpace(c.Username) != "", "username", "is required")
	ch.Check(c.Password != "", "password", "is required")
	return ch.Err()
}
