package notify

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/wedsync/integrations/internal/jobs"
	"github.com/wedsync/integrations/internal/telemetry"
)

// Metric and attribute names; docs/telemetry.md lists them for operators.
const (
	metricNotifications = "wedsync.notify.notifications"
	metricRouted        = "wedsync.notify.routed"
	metricSends         = "wedsync.notify.sends"
	metricCalls         = "wedsync.notify.provider.duration"
	metricDeferrals     = "wedsync.notify.deferrals"
	metricEscalations   = "wedsync.notify.escalations"
	metricAcks          = "wedsync.notify.acknowledgements"
	metricQueueDepth    = "wedsync.notify.queue.depth"

	attrPriority = attribute.Key("wedsync.notify.priority")
	attrChannel  = attribute.Key("wedsync.notify.channel")
	attrStatus   = attribute.Key("wedsync.notify.status")
	attrProvider = attribute.Key("wedsync.notify.provider")
	attrOutcome  = attribute.Key("wedsync.outcome")
	attrReason   = attribute.Key("wedsync.reason")
	attrError    = attribute.Key("error.type")
)

type metrics struct {
	tel           *telemetry.Telemetry
	notifications metric.Int64Counter
	routed        metric.Int64Counter
	sends         metric.Int64Counter
	calls         metric.Float64Histogram
	deferrals     metric.Int64Counter
	escalations   metric.Int64Counter
	acks          metric.Int64Counter
	observing     atomic.Bool
}

func newMetrics(mp metric.MeterProvider, tp trace.TracerProvider) *metrics {
	tel := telemetry.New("notify", mp, tp)
	m := &metrics{
		tel:           tel,
		notifications: tel.Counter(metricNotifications, "{notification}", "Notifications accepted by Send and SendTx (and digests made), by priority."),
		routed: tel.Counter(metricRouted, "{channel}",
			"Routing decisions per channel, by status: queued, suppressed (preferences), deferred (quiet hours), digested or acknowledged."),
		sends: tel.Counter(metricSends, "{attempt}",
			"Attempts on a channel, by channel and outcome: sent, retrying (every provider failed, another attempt is queued) or failed."),
		calls: tel.Histogram(metricCalls, "Duration of provider calls, by provider and error.type (absent on success)."),
		deferrals: tel.Counter(metricDeferrals, "{deferral}",
			"Attempts put off without a call because every provider of the channel was guarded, by reason: breaker_open or rate_limited."),
		escalations: tel.Counter(metricEscalations, "{escalation}", "Critical notifications sent on a further channel because nobody acknowledged them, by channel."),
		acks:        tel.Counter(metricAcks, "{notification}", "Notifications acknowledged (Acknowledge, or MarkRead of their in-app message)."),
	}
	telemetry.Handle(tel.Err())
	return m
}

// observeQueue registers the queue-depth gauge, reported while m.observing
// is set (between Start and Stop).
func (m *metrics) observeQueue(q jobs.Queue) {
	m.tel.QueueDepth(metricQueueDepth, "Notify jobs not yet finished, by state: due, scheduled (retries, escalations, digests, quiet hours) or running.", &m.observing,
		func(ctx context.Context) (int64, int64, int64, error) {
			st, err := q.Stats(ctx)
			return st.Due, st.Scheduled, st.Running, err
		})
}

func (m *metrics) accepted(ctx context.Context, p Priority) {
	m.notifications.Add(ctx, 1, metric.WithAttributes(attrPriority.String(string(p))))
}

func (m *metrics) routedOne(ctx context.Context, ch Channel, st Status) {
	m.routed.Add(ctx, 1, metric.WithAttributes(attrChannel.String(string(ch)), attrStatus.String(string(st))))
}

func (m *metrics) sent(ctx context.Context, ch Channel, st Status, retrying bool) {
	outcome := "failed"
	switch {
	case st == StatusSent:
		outcome = "sent"
	case retrying:
		outcome = "retrying"
	}
	m.sends.Add(ctx, 1, metric.WithAttributes(attrChannel.String(string(ch)), attrOutcome.String(outcome)))
}

func (m *metrics) deferred(ctx context.Context, reason string) {
	m.deferrals.Add(ctx, 1, metric.WithAttributes(attrReason.String(reason)))
}

func (m *metrics) escalated(ctx context.Context, ch Channel) {
	m.escalations.Add(ctx, 1, metric.WithAttributes(attrChannel.String(string(ch))))
}

func (m *metrics) acknowledged(ctx context.Context) { m.acks.Add(ctx, 1) }

// call makes one provider call inside a client span, and times it.
func (m *metrics) call(ctx context.Context, p Provider, msg *Message) (Result, error) {
	ctx, span := m.tel.Tracer.Start(ctx, "notify "+string(msg.Channel)+" "+p.Name(), trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(attrProvider.String(p.Name()), attrChannel.String(string(msg.Channel)),
			attribute.String("wedsync.notify.notification_id", msg.NotificationID))
	}
	start := time.Now()
	r, err := p.Send(ctx, msg)
	attrs := []attribute.KeyValue{attrProvider.String(p.Name())}
	if err != nil {
		attrs = append(attrs, attrError.String(errorType(err)))
		span.SetStatus(codes.Error, errorType(err))
	}
	m.calls.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(attrs...))
	span.End()
	return r, err
}

// errorType names an error for error.type without its text.
func errorType(err error) string {
	switch {
	case isRecipient(err):
		return "bad_recipient"
	case isGone(err):
		return "subscription_gone"
	}
	return telemetry.ErrorType(err)
}
