package outlook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/wedsync/integrations/calendar"
	"github.com/wedsync/integrations/internal/validate"
)

// SubscriptionLifetime is how long a subscription asks to live. Graph
// allows event subscriptions just under three days (4230 minutes); the
// engine renews them before they expire.
const SubscriptionLifetime = 70 * time.Hour

// Watch implements calendar.Watcher: POST /subscriptions for created,
// updated and deleted events of the calendar, with token as clientState
// (at most 128 characters) and callbackURL as notificationUrl (Graph
// validates it first: see NotificationHandler). The Watch's ID is the
// subscription id.
func (p *Provider) Watch(ctx context.Context, creds []byte, cal, callbackURL, token string) (calendar.Watch, error) {
	c := validate.NewChecker("outlook")
	c.Check(cal != "", "calendar", "is required")
	u, err := url.Parse(callbackURL)
	c.Check(err == nil && u.IsAbs() && (u.Scheme == "https" || u.Scheme == "http"), "callbackURL", "must be an absolute http(s) URL")
	c.Check(token != "" && len(token) <= 128, "token", "must be 1 to 128 characters")
	if err := c.Err(); err != nil {
		return calendar.Watch{}, err
	}
	s, ctx, done, err := p.open(ctx, creds)
	defer done()
	if err != nil {
		return calendar.Watch{}, err
	}
	body := map[string]string{
		"changeType":         "created,updated,deleted",
		"notificationUrl":    callbackURL,
		"resource":           "me/calendars/" + cal + "/events",
		"expirationDateTime": p.now().UTC().Add(SubscriptionLifetime).Format(time.RFC3339),
		"clientState":        token,
	}
	r, err := s.do(ctx, "watch", http.MethodPost, "/subscriptions", nil, body)
	if err != nil {
		return calendar.Watch{}, err
	}
	if r.status != http.StatusCreated && r.status != http.StatusOK {
		return calendar.Watch{}, statusErr("watch", r)
	}
	var sub struct {
		ID         string    `json:"id"`
		Expiration time.Time `json:"expirationDateTime"`
	}
	if err := json.Unmarshal(r.body, &sub); err != nil || sub.ID == "" {
		return calendar.Watch{}, fmt.Errorf("outlook watch: undecodable subscription")
	}
	return calendar.Watch{ID: sub.ID, Token: token, Expires: sub.Expiration}, nil
}

// StopWatch implements calendar.Watcher: DELETE /subscriptions/{id}; a
// subscription already gone is not an error.
func (p *Provider) StopWatch(ctx context.Context, creds []byte, w calendar.Watch) error {
	if err := required("watch.id", w.ID); err != nil {
		return err
	}
	s, ctx, done, err := p.open(ctx, creds)
	defer done()
	if err != nil {
		return err
	}
	r, err := s.do(ctx, "stopwatch", http.MethodDelete, "/subscriptions/"+url.PathEscape(w.ID), nil, nil)
	if err != nil {
		return err
	}
	switch r.status {
	case http.StatusNoContent, http.StatusOK, http.StatusNotFound, http.StatusGone:
		return nil
	}
	return statusErr("stopwatch", r)
}
