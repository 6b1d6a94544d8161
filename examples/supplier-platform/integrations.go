package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/wedsync/integrations/realtime"
	"github.com/wedsync/integrations/webhook/delivery"
)

// The integrations page's side of the API: a test webhook to one endpoint,
// the vendor CRM's view of what it received, failures scripted on the
// vendor's hooks, and a webhook.attempt broadcast for each delivery attempt,
// so that the page shows deliveries and retries as they happen.

// eventWebhookAttempt is the broadcast that tells a supplier's dashboards
// about one delivery attempt.
const eventWebhookAttempt = "webhook.attempt"

// testEvent is the event type of a test webhook, as Svix and Stripe name
// theirs.
const testEvent = "webhook.test"

// attemptFeed broadcasts each delivery attempt to the supplier's
// dashboards. hub is set before the manager starts, and never changes.
type attemptFeed struct {
	hub *realtime.Hub
	out *console
}

// attempt is called by the manager's attempt hook.
func (f *attemptFeed) attempt(at delivery.Attempt) {
	if f.hub == nil {
		return
	}
	payload := map[string]any{
		"message_id": at.MessageID, "endpoint_id": at.EndpointID, "endpoint": f.out.endpointName(at.EndpointID),
		"event_type": at.EventType, "attempt": at.Number, "status": at.Status, "response_status": at.ResponseStatus,
		"latency_ms": ms(at.Latency), "at": at.At,
	}
	if at.Error != "" {
		payload["error"] = at.Error
	}
	if !at.NextAttemptAt.IsZero() {
		payload["next_attempt_at"] = at.NextAttemptAt
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := f.hub.Broadcast(ctx, realtime.SupplierTopic(at.SupplierID), eventWebhookAttempt, payload); err != nil &&
		!errors.Is(err, realtime.ErrHubClosed) {
		f.out.printf("WEBHOOK    could not tell the dashboards of %s about attempt %d of %s: %v", at.SupplierID, at.Number, at.MessageID, err)
	}
}

// endpointName is what the page calls an endpoint: the vendor's hook name
// for the demo's vendor, else its description, else its URL's host and
// path.
func (a *api) endpointName(ep *delivery.Endpoint) string {
	if name, ok := a.vendor.hookName(ep.URL); ok {
		return name
	}
	if ep.Description != "" {
		return ep.Description
	}
	if u, err := url.Parse(ep.URL); err == nil && u.Host != "" {
		return u.Host + u.Path
	}
	return ep.ID
}

// POST /api/endpoints/{id}/test
//
// It sends a webhook.test message to that one endpoint
// (delivery.Message.EndpointID), whatever its event-type filter.
func (a *api) testWebhook(w http.ResponseWriter, r *http.Request) error {
	ep, err := a.m.GetEndpoint(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	name := a.endpointName(ep)
	payload, err := json.Marshal(map[string]any{"type": testEvent, "timestamp": time.Now().UTC().Format(time.RFC3339),
		"data": map[string]any{"endpoint_id": ep.ID, "message": "A test webhook from WedSync: if your system shows this, the endpoint " +
			name + " works."}})
	if err != nil {
		return err
	}
	id, err := a.m.Send(r.Context(), delivery.Message{SupplierID: ep.SupplierID, EventType: testEvent, Payload: payload, EndpointID: ep.ID})
	if err != nil {
		return err
	}
	a.out.printf("SENT       %-17s %s -> %s (a test webhook, through the API)", testEvent, id, name)
	writeJSON(w, http.StatusAccepted, map[string]any{"id": id, "endpoint_id": ep.ID, "endpoint": name, "event_type": testEvent})
	return nil
}

// GET /api/vendor?limit=  (default 50, at most 200)
func (a *api) vendorView(w http.ResponseWriter, r *http.Request) error {
	limit := 50
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxReceipts {
			return badRequest("limit", "must be a whole number from 1 to %d", maxReceipts)
		}
		limit = n
	}
	hooks, received, total := a.vendor.view(limit)
	writeJSON(w, http.StatusOK, map[string]any{"base": a.vendor.base, "hooks": hooks, "received": received, "total": total})
	return nil
}

// POST /api/vendor/hooks/{name}/fail  {"next": 1, "status": 503, "retry_after": 1}
func (a *api) vendorFail(w http.ResponseWriter, r *http.Request) error {
	in := struct {
		Next       int `json:"next"`
		Status     int `json:"status"`
		RetryAfter int `json:"retry_after"`
	}{Next: 1, Status: http.StatusServiceUnavailable}
	if err := decode(w, r, &in, true); err != nil {
		return err
	}
	switch {
	case in.Next < 0 || in.Next > 20:
		return badRequest("next", "must be 0 (stop failing) to 20 requests, got %d", in.Next)
	case in.Status < 300 || in.Status > 599:
		return badRequest("status", "must be an HTTP status from 300 to 599 (anything but 2xx fails a delivery), got %d", in.Status)
	case in.RetryAfter < 0 || in.RetryAfter > 3600:
		return badRequest("retry_after", "must be 0 (no Retry-After header) to 3600 seconds, got %d", in.RetryAfter)
	}
	retryAfter := ""
	if in.RetryAfter > 0 {
		retryAfter = strconv.Itoa(in.RetryAfter)
	}
	name := r.PathValue("name")
	if !a.vendor.failNextRequests(name, in.Next, in.Status, retryAfter) {
		return &apiError{status: http.StatusNotFound, field: "name", msg: fmt.Sprintf(
			"name: the vendor has no hook %q: register an endpoint with the URL %s first", truncate(name, 60), a.vendor.hookURL(truncate(name, 60)))}
	}
	what := "answers normally again"
	if in.Next > 0 {
		what = fmt.Sprintf("fails its next %d %s with HTTP %d", in.Next, plural(in.Next, "request", "requests"), in.Status)
		if retryAfter != "" {
			what += " and Retry-After: " + retryAfter
		}
	}
	a.out.printf("VENDOR     %s %s (scripted through the API)", name, what)
	writeJSON(w, http.StatusOK, map[string]any{"hook": name, "fail_next": in.Next, "status": in.Status, "retry_after": in.RetryAfter})
	return nil
}
