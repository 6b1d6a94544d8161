package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/wedsync/integrations/webhook/delivery"
)

// console prints plain lines from many goroutines without interleaving
// them, and knows the endpoints' short names.
type console struct {
	mu    sync.Mutex
	w     io.Writer
	names map[string]string // endpoint id -> short name
}

func newConsole(w io.Writer) *console {
	return &console{w: w, names: map[string]string{}}
}

// Write lets slog's text handler share the console.
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w.Write(p)
}

// plain prints a line as is.
func (c *console) plain(format string, args ...any) {
	_, _ = fmt.Fprintf(c, format+"\n", args...)
}

// printf prints a line after the time of day.
func (c *console) printf(format string, args ...any) {
	_, _ = fmt.Fprintf(c, time.Now().Format("15:04:05.000")+" "+format+"\n", args...)
}

func (c *console) name(endpointID, name string) {
	c.mu.Lock()
	c.names[endpointID] = name
	c.mu.Unlock()
}

func (c *console) endpointName(id string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.names[id]; n != "" {
		return n
	}
	return id
}

// attempt prints one line per delivery attempt (the manager's attempt hook).
func (c *console) attempt(a delivery.Attempt) {
	head := fmt.Sprintf("%-17s %s -> %s, attempt %d", a.EventType, a.MessageID, c.endpointName(a.EndpointID), a.Number)
	if a.Status == delivery.AttemptSucceeded {
		c.printf("DELIVERED  %s: HTTP %d in %s", head, a.ResponseStatus, a.Latency.Round(time.Microsecond*100))
		return
	}
	what := a.Error
	if a.ResponseStatus != 0 {
		what = fmt.Sprintf("HTTP %d", a.ResponseStatus)
		if b := strings.TrimSpace(a.ResponseBody); b != "" {
			what += fmt.Sprintf(" %q", truncate(b, 60))
		}
	}
	if a.NextAttemptAt.IsZero() {
		c.printf("GAVE UP    %s: %s; no retries left (POST /api/endpoints/{id}/recover resends it)", head, what)
		return
	}
	c.printf("FAILED     %s: %s; retry (attempt %d) in %s", head, what, a.Number+1,
		a.NextAttemptAt.Sub(a.At).Round(10*time.Millisecond))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// skippedLogs are the log messages that hooks print in a friendlier form:
// the manager's attempt hook and the notifier's status hook.
var skippedLogs = []string{
	"webhook delivered", "webhook attempt failed",
	"notify: provider failed", "notify: channel failed", "notify: critical notification not acknowledged",
}

// skipAttemptLogs drops the manager's per-attempt log records, which the
// attempt hook prints in a friendlier form, and keeps the rest (endpoint
// disabled, circuit breaker opened, ...).
type skipAttemptLogs struct{ slog.Handler }

func (h skipAttemptLogs) Handle(ctx context.Context, r slog.Record) error {
	for _, p := range skippedLogs {
		if strings.HasPrefix(r.Message, p) {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h skipAttemptLogs) WithAttrs(as []slog.Attr) slog.Handler {
	return skipAttemptLogs{h.Handler.WithAttrs(as)}
}

func (h skipAttemptLogs) WithGroup(name string) slog.Handler {
	return skipAttemptLogs{h.Handler.WithGroup(name)}
}
