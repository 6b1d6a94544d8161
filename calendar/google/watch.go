package google

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/wedsync/integrations/calendar"
)

// Watch implements calendar.Watcher with events.watch: a web_hook channel
// with a random id, token as the channel token and callbackURL as its
// address, asking for WithWatchTTL. The Watch returned carries Google's
// resourceId and the expiration it granted.
func (p *Provider) Watch(ctx context.Context, creds []byte, cal, callbackURL, token string) (calendar.Watch, error) {
	cp, err := calPath(cal)
	if err != nil {
		return calendar.Watch{}, err
	}
	if callbackURL == "" {
		return calendar.Watch{}, invalidf("callbackURL", "is required")
	}
	if token == "" || len(token) > 256 {
		return calendar.Watch{}, invalidf("token", "must be 1 to 256 characters")
	}
	body := map[string]any{
		"id": "wedsync-" + rand.Text(), "type": "web_hook", "address": callbackURL, "token": token,
		"expiration": strconv.FormatInt(time.Now().Add(p.watchTTL).UnixMilli(), 10),
	}
	var w calendar.Watch
	err = p.call(ctx, creds, func(ctx context.Context, s *session) error {
		r, err := s.do(ctx, request{op: "watch", method: http.MethodPost, path: cp + "/events/watch", body: body})
		if err != nil {
			return err
		}
		if r.status != http.StatusOK {
			return statusErr("watch", r)
		}
		var ch struct {
			ID         string `json:"id"`
			ResourceID string `json:"resourceId"`
			Expiration string `json:"expiration"`
		}
		if err := decodeJSON("watch", r, &ch); err != nil {
			return err
		}
		ms, err := strconv.ParseInt(ch.Expiration, 10, 64)
		if err != nil || ch.ID == "" || ch.ResourceID == "" {
			return fmt.Errorf("google watch: the channel answer lacks id, resourceId or expiration")
		}
		w = calendar.Watch{ID: ch.ID, ResourceID: ch.ResourceID, Token: token, Expires: time.UnixMilli(ms).UTC()}
		return nil
	})
	return w, err
}

// StopWatch implements calendar.Watcher with channels.stop; a channel
// Google no longer knows (404) is not an error.
func (p *Provider) StopWatch(ctx context.Context, creds []byte, w calendar.Watch) error {
	if w.ID == "" || w.ResourceID == "" {
		return invalidf("w", "needs ID and ResourceID")
	}
	return p.call(ctx, creds, func(ctx context.Context, s *session) error {
		r, err := s.do(ctx, request{op: "stopwatch", method: http.MethodPost, path: "channels/stop",
			body: map[string]string{"id": w.ID, "resourceId": w.ResourceID}})
		if err != nil {
			return err
		}
		switch r.status {
		case http.StatusOK, http.StatusNoContent, http.StatusNotFound:
			return nil
		}
		return statusErr("stopwatch", r)
	})
}

// Notification limits of NotificationHandler.
const (
	// MaxNotificationBytes bounds the body read from a push (Google's
	// carry none).
	MaxNotificationBytes = 4 << 10
	// NotificationRate and NotificationBurst bound the pushes accepted per
	// remote address per second; more get 429.
	NotificationRate  = 50
	NotificationBurst = 100
	// maxLimiters bounds the per-remote limiter table.
	maxLimiters = 10000
)

// NotificationHandler receives Google's push notifications (the callback
// URL given to the engine). Each request must carry X-Goog-Channel-ID,
// X-Goog-Channel-Token, X-Goog-Resource-ID and X-Goog-Resource-State.
// lookup finds the watch of a channel id and its connection (the engine's
// Sync.LookupWatch); a channel it does not know, or whose token (compared
// in constant time) or resource id differs, is logged without the token
// and answered 404, and nothing is notified. The first message of a
// channel (state "sync") is answered 200 and ignored. A genuine change
// calls notify with the connection (Sync.Notify); its failure answers 500
// so that Google retries. Each remote address may send NotificationRate
// requests a second (burst NotificationBurst), after which it gets 429.
// logger nil discards.
func NotificationHandler(
	lookup func(ctx context.Context, watchID string) (connection string, w calendar.Watch, ok bool),
	notify func(ctx context.Context, connection string) error,
	logger *slog.Logger,
) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &notifyHandler{lookup: lookup, notify: notify, logger: logger, limiters: map[string]*rate.Limiter{}}
	return h
}

type notifyHandler struct {
	lookup   func(ctx context.Context, watchID string) (string, calendar.Watch, bool)
	notify   func(ctx context.Context, connection string) error
	logger   *slog.Logger
	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

func (h *notifyHandler) allow(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	l, ok := h.limiters[host]
	if !ok {
		if len(h.limiters) >= maxLimiters {
			clear(h.limiters)
		}
		l = rate.NewLimiter(NotificationRate, NotificationBurst)
		h.limiters[host] = l
	}
	return l.Allow()
}

func (h *notifyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !h.allow(r.RemoteAddr) {
		http.Error(w, "too many requests", http.StatusTooManyRequests)
		return
	}
	_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, MaxNotificationBytes))
	id := r.Header.Get("X-Goog-Channel-ID")
	token := r.Header.Get("X-Goog-Channel-Token")
	resource := r.Header.Get("X-Goog-Resource-ID")
	state := r.Header.Get("X-Goog-Resource-State")
	if id == "" || resource == "" || state == "" || len(id) > 256 || len(resource) > 256 {
		h.logger.Warn("google: push notification refused: missing or oversized channel headers", "remote", r.RemoteAddr)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	conn, wt, ok := h.lookup(r.Context(), id)
	switch {
	case !ok:
		h.logger.Warn("google: push notification for an unknown channel ignored", "channel", id, "remote", r.RemoteAddr)
	case wt.Token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(wt.Token)) != 1:
		h.logger.Warn("google: push notification with a wrong channel token ignored", "channel", id, "remote", r.RemoteAddr)
		ok = false
	case subtle.ConstantTimeCompare([]byte(resource), []byte(wt.ResourceID)) != 1:
		h.logger.Warn("google: push notification with a wrong resource id ignored", "channel", id, "remote", r.RemoteAddr)
		ok = false
	}
	if !ok {
		http.Error(w, "unknown channel", http.StatusNotFound)
		return
	}
	if state == "sync" {
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := h.notify(r.Context(), conn); err != nil {
		h.logger.Error("google: notifying the engine failed", "channel", id, "connection", conn, "error", err.Error())
		http.Error(w, "try again", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}
