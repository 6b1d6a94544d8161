package delivery_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wedsync/integrations/webhook/delivery"
	"github.com/wedsync/integrations/webhook/webhooktest"
)

// logTap is a slog handler that keeps every record and lets a test wait for
// a message to appear.
type logTap struct {
	mu      sync.Mutex
	records []slog.Record
	changed chan struct{}
}

func newLogTap() *logTap { return &logTap{changed: make(chan struct{})} }

func (l *logTap) Enabled(context.Context, slog.Level) bool { return true }
func (l *logTap) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logTap) WithGroup(string) slog.Handler            { return l }
func (l *logTap) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	return nil
}

// find returns the attributes of the first record whose message contains
// msg, or nil.
func (l *logTap) find(msg string) map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.records {
		if strings.Contains(r.Message, msg) {
			attrs := map[string]string{"level": r.Level.String()}
			r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
			return attrs
		}
	}
	return nil
}

// wait blocks until a record containing msg is logged.
func (l *logTap) wait(t *testing.T, msg string) map[string]string {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		l.mu.Lock()
		ch := l.changed
		l.mu.Unlock()
		if attrs := l.find(msg); attrs != nil {
			return attrs
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("no log record containing %q within a minute", msg)
		}
	}
}

// When the attempt's row cannot be written (the database is away), the
// manager says so at warn with the message and endpoint ids, retries the
// bookkeeping, and does not make the request again once the database is
// back. River's own logs reach the host's logger too.
func TestPostgresFailedAttemptWriteIsLoggedAndRetriedWithoutResending(t *testing.T) {
	ctx := context.Background()
	db := migrated(t)
	tap := newLogTap()
	log := newAttempts()
	m := newPGManager(t, db, log.hook(), delivery.WithLogger(slog.New(tap)))
	recv := webhooktest.NewReceiver(t)
	ep, err := m.CreateEndpoint(ctx, delivery.EndpointInput{SupplierID: "sup_1", URL: recv.URL})
	require.NoError(t, err)
	start(t, m)
	tap.wait(t, "River client started")

	// Take the attempt log away, as a crashed or unreachable database would.
	_, err = db.Pool.Exec(ctx, `ALTER TABLE webhook_attempts RENAME TO webhook_attempts_away`)
	require.NoError(t, err)
	id, err := m.Send(ctx, delivery.Message{SupplierID: "sup_1", EventType: "booking.confirmed", Payload: json.RawMessage(`{"n":1}`)})
	require.NoError(t, err)
	recv.Wait(t, 1)

	warn := tap.wait(t, "could not record an attempt; retrying")
	require.Equal(t, "WARN", warn["level"])
	require.Equal(t, id, warn["message"])
	require.Equal(t, ep.ID, warn["endpoint"])
	require.Contains(t, warn["err"], "webhook_attempts")

	_, err = db.Pool.Exec(ctx, `ALTER TABLE webhook_attempts_away RENAME TO webhook_attempts`)
	require.NoError(t, err)
	a := log.next(t)
	require.Equal(t, id, a.MessageID)
	require.Equal(t, delivery.AttemptSucceeded, a.Status)
	require.NoError(t, m.WaitIdle(ctx))
	require.Equal(t, 1, recv.Count(), "the bookkeeping was retried, not the request")
	require.Nil(t, tap.find("it will be sent again"))
}
