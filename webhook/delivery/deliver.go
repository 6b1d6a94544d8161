package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"

	"github.com/wedsync/integrations/internal/attempt"
	"github.com/wedsync/integrations/internal/backoff"
	"github.com/wedsync/integrations/internal/jobs"
	"github.com/wedsync/integrations/internal/telemetry"
)

// maxLoggedBody is how much of a response body the attempt log keeps.
const maxLoggedBody = 4 << 10

// outcome is what one HTTP attempt produced.
type outcome struct {
	attempt.Outcome
	status  int
	body    string
	latency time.Duration
	err     error
}

func (o *outcome) ok() bool { return o.err == nil && o.status >= 200 && o.status < 300 }

// deliver works one delivery job: one attempt of one message to one
// endpoint, on the attempt chain of internal/attempt.
func (m *Manager) deliver(ctx context.Context, job *jobs.Job[deliverArgs]) error {
	a := job.Args
	done, err := attempt.AlreadyDone(ctx, job.Attempt, func(ctx context.Context) (bool, error) {
		return m.store.attemptRecorded(ctx, a.MessageID, a.EndpointID, a.Number, job.ID, job.CreatedAt)
	})
	if err != nil || done {
		return err
	}
	ce, err := m.endpoint(ctx, a.EndpointID)
	if errors.Is(err, ErrNotFound) {
		return jobs.Cancel(fmt.Errorf("endpoint %s was deleted", a.EndpointID))
	}
	if err != nil {
		return err // a database error: the queue retries the job
	}
	ep := &ce.ep
	now := m.o.clock.Now()
	if ep.Status == EndpointPaused {
		// Checked before the message is read: a paused endpoint's jobs
		// come back every minute and need no I/O until it resumes.
		m.tel.deferred(ctx, "paused")
		return jobs.Snooze(backoff.Jitter(m.o.pausedRecheck, 0.2, nil))
	}
	msg, err := m.store.getMessage(ctx, a.MessageID)
	if errors.Is(err, ErrNotFound) {
		return jobs.Cancel(fmt.Errorf("message %s is past retention", a.MessageID))
	}
	if err != nil {
		return err
	}
	if ep.Status == EndpointDisabled {
		return m.record(ctx, job.ID, msg, a, &outcome{err: errors.New("endpoint disabled: " + ep.DisabledReason)}, now, time.Time{})
	}

	permit, wait, why := m.guards.Acquire(ep.ID, ep.RateLimit)
	if permit == nil {
		m.tel.deferred(ctx, string(why))
		return jobs.Snooze(wait)
	}
	out := m.post(ctx, ce, msg, a.Number)
	if !out.ok() && ctx.Err() != nil {
		// The job's own context ended (the manager is stopping), not the
		// vendor: count nothing against the endpoint, keep the attempt for
		// the next start. The vendor may have got the request: at least
		// once.
		permit.NotAttempted()
		return jobs.Snooze(0)
	}
	permit.Done(out.ok())

	at := m.o.clock.Now()
	if out.ok() {
		if !ep.FailingSince.IsZero() {
			m.setFailing(ctx, ep.ID, time.Time{})
		}
		return m.record(ctx, job.ID, msg, a, out, at, time.Time{})
	}
	if out.status == http.StatusGone {
		m.disable(ctx, ep.ID, "the endpoint answered 410 Gone")
		return m.record(ctx, job.ID, msg, a, out, at, time.Time{})
	}
	if ep.FailingSince.IsZero() {
		m.setFailing(ctx, ep.ID, at)
	} else if at.Sub(ep.FailingSince) >= m.o.disableAfter {
		m.disable(ctx, ep.ID, fmt.Sprintf("every attempt failed since %s", ep.FailingSince.UTC().Format(time.RFC3339)))
		return m.record(ctx, job.ID, msg, a, out, at, time.Time{})
	}
	var next time.Time
	if d, ok := m.o.policy.Next(a.Number, out.Outcome); ok {
		next = at.Add(d)
	}
	return m.record(ctx, job.ID, msg, a, out, at, next)
}

func (m *Manager) setFailing(ctx context.Context, id string, at time.Time) {
	if err := m.store.setFailing(ctx, id, at); err != nil {
		m.o.logger.Warn("webhook: could not record endpoint health", "endpoint", id, "err", err)
		return
	}
	// Cached entries are shared read-only by running deliveries: replace,
	// never modify.
	m.mu.Lock()
	if c := m.cache[id]; c != nil {
		nc := *c
		nc.ep.FailingSince = at
		m.cache[id] = &nc
	}
	m.mu.Unlock()
}

// record writes the attempt and, when next is set, queues the next attempt
// in the same transaction (internal/attempt's Recorder).
func (m *Manager) record(ctx context.Context, jobID int64, msg *storedMessage, a deliverArgs, out *outcome, at, next time.Time) error {
	att := &Attempt{
		MessageID: msg.ID, EndpointID: a.EndpointID, SupplierID: msg.SupplierID, EventType: msg.EventType,
		Number: a.Number, Status: AttemptFailed, ResponseStatus: out.status, Latency: out.latency,
		ResponseBody: out.body, At: at, NextAttemptAt: next, jobID: jobID,
	}
	if out.ok() {
		att.Status = AttemptSucceeded
	} else if out.err != nil {
		att.Error = out.err.Error()
	} else {
		att.Error = fmt.Sprintf("endpoint answered %d", out.status)
	}
	e := attempt.Entry{
		Write:      func(ctx context.Context, tx pgx.Tx) error { return m.store.insertAttempt(ctx, tx, att) },
		WriteFinal: func(ctx context.Context) error { return m.store.insertFinalAttempt(ctx, att) },
		OnRetry: func(err error, try int, wait time.Duration) {
			m.o.logger.Warn("webhook: could not record an attempt; retrying", "message", a.MessageID, "endpoint", a.EndpointID,
				"attempt", a.Number, "try", try+1, "retry_in", wait, "err", err)
		},
	}
	if !next.IsZero() {
		e.Next = &jobs.InsertParams{
			Args:  deliverArgs{MessageID: a.MessageID, EndpointID: a.EndpointID, Number: a.Number + 1, Resend: a.Resend},
			RunAt: next, Unique: true,
		}
	}
	if err := m.recorder.Record(ctx, e); err != nil {
		// The request was made but its bookkeeping is lost: the job runs
		// again and sends again (at least once). Say so.
		m.o.logger.Warn("webhook: could not record an attempt; it will be sent again", "message", a.MessageID,
			"endpoint", a.EndpointID, "attempt", a.Number, "status", att.Status, "err", err)
		return fmt.Errorf("delivery: record attempt: %w", err)
	}
	m.logAttempt(att)
	m.tel.attempted(ctx, att)
	if m.o.attemptHook != nil {
		m.o.attemptHook(*att)
	}
	return nil
}

func (m *Manager) logAttempt(a *Attempt) {
	l := m.o.logger
	if a.Status == AttemptSucceeded {
		l.Debug("webhook delivered", "message", a.MessageID, "endpoint", a.EndpointID, "event", a.EventType,
			"attempt", a.Number, "status", a.ResponseStatus, "latency", a.Latency)
		return
	}
	args := []any{"message", a.MessageID, "endpoint", a.EndpointID, "event", a.EventType, "attempt", a.Number,
		"status", a.ResponseStatus, "error", a.Error}
	if !a.NextAttemptAt.IsZero() {
		l.Warn("webhook attempt failed, will retry", append(args, "next_attempt_at", a.NextAttemptAt)...)
	} else {
		l.Warn("webhook attempt failed, giving up", args...)
	}
}

// post makes one signed POST, as an HTTP client span.
func (m *Manager) post(ctx context.Context, ce *cachedEndpoint, msg *storedMessage, number int) *outcome {
	out := &outcome{}
	ctx, cancel := context.WithTimeout(ctx, m.o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ce.ep.URL, bytes.NewReader(msg.Payload))
	if err != nil {
		out.err = err
		return out
	}
	// The message's own timestamp would fall outside receivers' tolerance
	// on retries; Standard Webhooks signs the attempt's send time.
	if err := ce.signer.SetHeaders(req.Header, msg.ID, m.o.clock.Now(), msg.Payload); err != nil {
		out.err = err
		return out
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", m.o.userAgent)
	spanCtx, span := m.tel.http.Start(ctx, req,
		attribute.String("wedsync.webhook.message_id", msg.ID),
		attribute.String("wedsync.webhook.endpoint_id", ce.ep.ID),
		attribute.String("wedsync.supplier_id", msg.SupplierID),
		attribute.String("wedsync.webhook.event_type", msg.EventType),
		attribute.Int("wedsync.webhook.attempt", number))
	if span.Recording() {
		req = req.WithContext(spanCtx)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		out.latency = span.End(ctx, nil, err)
		// The error's text goes to the attempt log and the host's logs:
		// never with the vendor's URL in full (its path or query may hold
		// a secret).
		err = telemetry.RedactError(err)
		out.err = err
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			out.Timeout = true
			out.err = fmt.Errorf("timed out after %s: %w", m.o.timeout, err)
		}
		return out
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxLoggedBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	_ = resp.Body.Close()
	out.latency = span.End(ctx, resp, nil)
	out.Outcome = attempt.OutcomeOf(resp, m.o.clock.Now())
	out.status = resp.StatusCode
	out.body = cleanBody(body)
	return out
}

// cleanBody makes a response body safe to store as text.
func cleanBody(b []byte) string {
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.ReplaceAll(s, "\x00", "")
}
