package delivery

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

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
	attrState   = attribute.Key("wedsync.queue.state")
)

// metrics are the manager's instruments.
type metrics struct {
	tel       *telemetry.Telemetry
	http      *telemetry.HTTPClient
	attempts  metric.Int64Counter
	messages  metric.Int64Counter
	deferrals metric.Int64Counter
	depth     metric.Int64ObservableGauge

	mu  sync.Mutex
	reg metric.Registration
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
	var err error
	m.depth, err = tel.Meter.Int64ObservableGauge(metricQueueDepth, metric.WithUnit("{job}"),
		metric.WithDescription("Delivery jobs not yet finished, by state: due, scheduled (waiting for a retry time) or running."))
	tel.Check(err)
	telemetry.Handle(tel.Err())
	return m
}

// observeQueue reports the queue's depth at each collection until
// stopObserving.
func (m *metrics) observeQueue(q jobs.Queue) error {
	reg, err := m.tel.Meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		st, err := q.Stats(ctx)
		if err != nil {
			return err
		}
		o.ObserveInt64(m.depth, st.Due, metric.WithAttributes(attrState.String("due")))
		o.ObserveInt64(m.depth, st.Scheduled, metric.WithAttributes(attrState.String("scheduled")))
		o.ObserveInt64(m.depth, st.Running, metric.WithAttributes(attrState.String("running")))
		return nil
	}, m.depth)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.reg = reg
	m.mu.Unlock()
	return nil
}

func (m *metrics) stopObserving() {
	m.mu.Lock()
	reg := m.reg
	m.reg = nil
	m.mu.Unlock()
	if reg != nil {
		telemetry.Handle(reg.Unregister())
	}
}

func (m *metrics) attempted(ctx context.Context, a *Attempt) {
	outcome := "succeeded"
	switch {
	case a.Status == AttemptSucceeded:
	case !a.NextAttemptAt.IsZero():
		outcome = "retrying"
	default:
		outcome = "failed"
	}
	m.attempts.Add(ctx, 1, metric.WithAttributes(attrOutcome.String(outcome)))
}

func (m *metrics) deferred(ctx context.Context, reason string) {
	m.deferrals.Add(ctx, 1, metric.WithAttributes(attrReason.String(reason)))
}
