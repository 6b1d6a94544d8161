package google_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log"
	"net/http"
	"os"

	"golang.org/x/oauth2"
	googleoauth "golang.org/x/oauth2/google"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/calendar/google"
)

// The host's connect flow: send the supplier to Google's consent page
// (state and PKCE checked on the way back), trade the code for a token,
// and connect the chosen calendar. The token JSON is the connection's
// credentials; the engine stores it sealed, and the refreshed ones the
// provider hands back.
func ExampleNew() {
	cfg := &oauth2.Config{
		ClientID:     os.Getenv("GOOGLE_CLIENT_ID"),
		ClientSecret: os.Getenv("GOOGLE_CLIENT_SECRET"),
		Endpoint:     googleoauth.Endpoint,
		RedirectURL:  "https://app.example/oauth/google/callback",
		Scopes:       []string{"https://www.googleapis.com/auth/calendar"},
	}
	p, err := google.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	s, err := calendar.NewSync(calendar.WithProvider(p))
	if err != nil {
		log.Fatal(err)
	}

	// In the real host, state and verifier live in the supplier's session.
	state, verifier := rand.Text(), oauth2.GenerateVerifier()
	http.HandleFunc("/oauth/google/start", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, cfg.AuthCodeURL(state, oauth2.AccessTypeOffline,
			oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "consent")), http.StatusFound)
	})
	http.HandleFunc("/oauth/google/callback", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("state") != state {
			http.Error(w, "bad state", http.StatusBadRequest)
			return
		}
		tok, err := cfg.Exchange(r.Context(), r.URL.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			http.Error(w, "Google refused the code", http.StatusBadGateway)
			return
		}
		creds, _ := json.Marshal(tok)
		cals, err := p.Calendars(r.Context(), creds)
		if err != nil || len(cals) == 0 {
			http.Error(w, "no calendar", http.StatusBadGateway)
			return
		}
		_, err = s.Connect(r.Context(), calendar.Connection{Supplier: "sup_anna", Provider: google.ProviderName,
			Calendar: cals[0].ID, TimeZone: cals[0].TimeZone}, creds)
		if err != nil {
			http.Error(w, "connect failed", http.StatusInternalServerError)
		}
	})
	// Google's push notifications: lookup is the engine's table of watches.
	var lookup func(ctx context.Context, watchID string) (string, calendar.Watch, bool)
	http.Handle("/hooks/google", google.NotificationHandler(lookup, s.Notify, nil))
}
