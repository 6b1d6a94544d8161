package outlook

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"golang.org/x/time/rate"

	"github.com/wedsync/integrations/calendar"
)

// Limits of NotificationHandler.
const (
	// MaxNotificationBytes bounds a notification request's body.
	MaxNotificationBytes = 1 << 20
	// MaxValidationTokenBytes bounds the validationToken echoed back.
	MaxValidationTokenBytes = 1024
	// NotificationRate and NotificationBurst limit the requests of one
	// remote address (per second, and the burst above it); more get 429.
	NotificationRate  = 50
	NotificationBurst = 100
	// maxLimiters bounds the remotes tracked at once; the table is reset
	// when it is full.
	maxLimiters = 10000
)

// NotificationHandler receives Microsoft Graph change notifications at
// the callbackURL given to Watch, and tells the engine which connection to
// sync.
//
// A POST with a validationToken query parameter is Graph's validation
// handshake (when a subscription is created): the handler answers 200
// with the token as text/plain. Any other POST carries a JSON batch
// {"value":[{"subscriptionId", "clientState", ...}]}: each item's
// subscription is looked up (lookup, typically Sync.LookupWatch: the
// connection and the Watch the engine stored), its clientState compared
// with the Watch's Token in constant time, and notify (Sync.Notify) called
// once per connection with a genuine item. Unknown subscriptions and wrong
// clientStates are logged (the subscription id and remote address, never
// the clientState) and ignored. The answer is 202 Accepted, as Graph
// expects within a few seconds; notify should only queue a sync.
//
// Bodies are limited to MaxNotificationBytes (413 beyond), each remote
// address to NotificationRate requests a second (429 beyond); a malformed
// body gets 400, a method other than POST 405. logger may be nil
// (discard).
func NotificationHandler(
	lookup func(ctx context.Context, watchID string) (connection string, w calendar.Watch, ok bool),
	notify func(ctx context.Context, connection string) error,
	logger *slog.Logger,
) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &notificationHandler{lookup: lookup, notify: notify, logger: logger, limiters: map[string]*rate.Limiter{}}
	return h
}

type notificationHandler struct {
	lookup   func(ctx context.Context, watchID string) (string, calendar.Watch, bool)
	notify   func(ctx context.Context, connection string) error
	logger   *slog.Logger
	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

func (h *notificationHandler) allow(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.limiters[host]
	if l == nil {
		if len(h.limiters) >= maxLimiters {
			clear(h.limiters)
		}
		l = rate.NewLimiter(NotificationRate, NotificationBurst)
		h.limiters[host] = l
	}
	return l.Allow()
}

func (h *notificationHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !h.allow(r.RemoteAddr) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many requests", http.StatusTooManyRequests)
		return
	}
	ctx := r.Context()
	if r.URL.Query().Has("validationToken") {
		tok := r.URL.Query().Get("validationToken")
		if tok == "" || len(tok) > MaxValidationTokenBytes {
			http.Error(w, "bad validationToken", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, tok)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxNotificationBytes+1))
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	if len(body) > MaxNotificationBytes {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	items, err := ParseNotifications(body)
	if err != nil {
		h.logger.WarnContext(ctx, "outlook: malformed notification ignored", "remote", r.RemoteAddr, "error", err)
		http.Error(w, "malformed notification", http.StatusBadRequest)
		return
	}
	done := map[string]bool{}
	for _, n := range items {
		conn, watch, ok := h.lookup(ctx, n.SubscriptionID)
		if !ok {
			h.logger.WarnContext(ctx, "outlook: notification for an unknown subscription ignored",
				"subscription", n.SubscriptionID, "remote", r.RemoteAddr)
			continue
		}
		if watch.Token == "" || subtle.ConstantTimeCompare([]byte(n.ClientState), []byte(watch.Token)) != 1 {
			h.logger.WarnContext(ctx, "outlook: forged notification ignored (clientState does not match)",
				"subscription", n.SubscriptionID, "connection", conn, "remote", r.RemoteAddr)
			continue
		}
		if done[conn] {
			continue
		}
		done[conn] = true
		if err := h.notify(ctx, conn); err != nil {
			h.logger.WarnContext(ctx, "outlook: notify failed", "connection", conn, "error", err)
		}
	}
	w.WriteHeader(http.StatusAccepted)
}

// ParseNotifications reads a Graph change-notification batch and returns
// its items' subscription ids and clientStates. It fails on anything that
// is not a JSON object with a "value" array of objects.
func ParseNotifications(body []byte) ([]Notification, error) {
	var batch struct {
		Value []Notification `json:"value"`
	}
	if err := json.Unmarshal(body, &batch); err != nil {
		return nil, err
	}
	if batch.Value == nil {
		return nil, errNoValue
	}
	return batch.Value, nil
}

// Notification is one item of a Graph change-notification batch.
type Notification struct {
	SubscriptionID string `json:"subscriptionId"`
	ClientState    string `json:"clientState"`
	ChangeType     string `json:"changeType"`
	Resource       string `json:"resource"`
}

type constErr string

func (e constErr) Error() string { return string(e) }

const errNoValue = constErr(`outlook: a notification batch needs a "value" array`)
