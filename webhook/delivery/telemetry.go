package delivery

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/wedsync/integrations/internal/attempt"
	"github.com/wedsync/integrations/internal/jobs"
	"github.com/wedsync/integrations/internal/telemetry"
)

// Metric and attribute names; docs/telemetry.md lists them for operators.
const (
	metricAttempts   = "wedsync.webhook.attempts"
	metricMessages   = "wedsync.webhook.messages"
	metricDeferrals  = "wedsync.webhook.deferrals"
	metricQueueDepth = "wedsync.webhook.queue.depth"

	attrOutcome = attribute.Key("wedsync.outcome")
	attrReason  = attribute.Key("wedsync.reason")
)

// metrics are the manager's instruments.
type metrics struct {
	tel       *telemetry.Telemetry
	http      *telemetry.HTTPClient
	attempts  metric.Int64Counter
	messages  metric.Int64Counter
	deferrals metric.Int64Counter

	// observing gates the queue-depth callback, which is registered once
	// for the manager's life: it reports only while the manager runs.
	observing atomic.Bool
}

func newMetrics(mp metric.MeterProvider, tp trace.TracerProvider) *metrics {
	tel := telemetry.New("webhook/delivery", mp, tp)
	m := &metrics{
		tel:  tel,
		http: tel.HTTPClient(),
		attempts: tel.Counter(metricAttempts, "{attempt}",
			"Delivery attempts, by outcome: succeeded, retrying (failed, another attempt is queued) or failed (failed for good)."),
		messages: tel.Counter(metricMessages, "{message}", "Messages accepted by Send, SendTx and SendBatch."),
		deferrals: tel.Counter(metricDeferrals, "{deferral}",
			"Deliveries put off without an attempt, by reason: paused, breaker_open or rate_limited."),
	}
	telemetry.Handle(tel.Err())
	return m
}

// observeQueue registers the queue-depth gauge, reported while m.observing
// is set (between Start and Stop).
func (m *metrics) observeQueue(q jobs.Queue) {
	m.tel.QueueDepth(metricQueueDepth, "Delivery jobs not yet finished, by state: due, scheduled (waiting for a retry time) or running.", &m.observing,
		func(ctx context.Context) (int64, int64, int64, error) {
			st, err := q.Stats(ctx)
			return st.Due, st.Scheduled, st.Running, err
		})
}

// The counters' attribute sets, made once.
var (
	outcomeSucceeded = metric.WithAttributeSet(attribute.NewSet(attrOutcome.String("succeeded")))
	outcomeRetrying  = metric.WithAttributeSet(attribute.NewSet(attrOutcome.String("retrying")))
	outcomeFailed    = metric.WithAttributeSet(attribute.NewSet(attrOutcome.String("failed")))
	reasonSets       = map[string]metric.AddOption{
		"paused":                    metric.WithAttributeSet(attribute.NewSet(attrReason.String("paused"))),
		string(attempt.BreakerOpen): metric.WithAttributeSet(attribute.NewSet(attrReason.String(string(attempt.BreakerOpen)))),
		string(attempt.RateLimited): metric.WithAttributeSet(attribute.NewSet(attrReason.String(string(attempt.RateLimited)))),
	}
)

func (m *metrics) attempted(ctx context.Context, a *Attempt) {
	opt := outcomeSucceeded
	switch {
	case a.Status == AttemptSucceeded:
	case !a.NextAttemptAt.IsZero():
		opt = outcomeRetrying
	default:
		opt = outcomeFailed
	}
	m.attempts.Add(ctx, 1, opt)
}

func (m *metrics) deferred(ctx context.Context, reason string) {
	opt, ok := reasonSets[reason]
	if !ok {
		opt = metric.WithAttributes(attrReason.String(reason))
	}
	m.deferrals.Add(ctx, 1, opt)
}
