package oauthflow_test

import (
	"fmt"
	"net/url"

	"golang.org/x/oauth2"

	"github.com/wedsync/integrations/calendar/oauthflow"
)

func ExampleFlow_Begin() {
	cfg := &oauth2.Config{
		ClientID: "wedsync-client", ClientSecret: "…", RedirectURL: "https://wedsync.example/oauth/google/callback",
		Endpoint: oauth2.Endpoint{AuthURL: "https://accounts.google.com/o/oauth2/auth", TokenURL: "https://oauth2.googleapis.com/token"},
		Scopes:   []string{"https://www.googleapis.com/auth/calendar.events"},
	}
	flow, err := oauthflow.New(cfg, []byte("0123456789abcdef0123456789abcdef")) // the host's 32-byte key
	if err != nil {
		panic(err)
	}
	authURL, err := flow.Begin("sup_anna")
	if err != nil {
		panic(err)
	}
	u, _ := url.Parse(authURL)
	q := u.Query()
	fmt.Println(u.Host, q.Get("access_type"), q.Get("prompt"), q.Get("code_challenge_method"), q.Get("state") != "")
	// Output: accounts.google.com offline consent S256 true
}
