package pgbroker

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/wedsync/integrations/internal/telemetry"
)

// Metric, span and attribute names; docs/realtime.md ("Telemetry") lists
// them for operators. Metric attributes are low-cardinality: never a topic.
const (
	metricPublishes       = "wedsync.realtime.pgbroker.publishes"
	metricPublishDuration = "wedsync.realtime.pgbroker.publish.duration"
	metricNotifications   = "wedsync.realtime.pgbroker.notifications"
	metricReconnects      = "wedsync.realtime.pgbroker.listen.reconnects"
	metricTrimmed         = "wedsync.realtime.pgbroker.trimmed"

	spanPublish = "pgbroker.publish"

	attrOutcome = attribute.Key("wedsync.outcome")
)

// Notification outcomes.
const (
	notifyDelivered     = "delivered"
	notifyNotFound      = "not_found"
	notifyEpochMismatch = "epoch_mismatch"
	notifyMalformed     = "malformed"
	notifyReadError     = "read_error"
	notifyOtherSchema   = "other_schema"
	notifyUnattached    = "unattached"
)

type metrics struct {
	tracer          trace.Tracer
	publishes       metric.Int64Counter
	publishDuration metric.Float64Histogram
	notifications   metric.Int64Counter
	reconnects      metric.Int64Counter
	trimmed         metric.Int64Counter

	ok, failed, unknown metric.MeasurementOption
}

func newMetrics(o options) *metrics {
	tel := telemetry.New("realtime/pgbroker", o.meterProvider, o.tracerProvider)
	m := &metrics{
		tracer:    tel.Tracer,
		publishes: tel.Counter(metricPublishes, "{publication}", "Publishes, by outcome: ok, error (not published) or unknown (ErrPublishOutcomeUnknown: it may have been published)."),
		publishDuration: tel.Histogram(metricPublishDuration,
			"Duration of a publish, from the call until its transaction (offsets, history rows, trim and NOTIFY, shared with the publishes queued with it) commits, by outcome."),
		notifications: tel.Counter(metricNotifications, "{notification}",
			"Notifications the LISTEN connection received, by outcome: delivered (the row was read back and handed to the hub), presence (a presence hint handed to the hub), not_found (no such row: forged, or trimmed first), epoch_mismatch, malformed, read_error (the hub is told to resync), other_schema (another schema's broker shares the channel) or unattached (no hub attached yet)."),
		reconnects: tel.Counter(metricReconnects, "{attempt}",
			"Attempts to re-establish a lost LISTEN connection, by outcome: ok or error."),
		trimmed: tel.Counter(metricTrimmed, "{publication}",
			"Publications the background sweep deleted for having outlived the history TTL (a publish's own trims are not counted)."),
	}
	m.ok = metric.WithAttributeSet(attribute.NewSet(attrOutcome.String("ok")))
	m.failed = metric.WithAttributeSet(attribute.NewSet(attrOutcome.String("error")))
	m.unknown = metric.WithAttributeSet(attribute.NewSet(attrOutcome.String("unknown")))
	telemetry.Handle(tel.Err())
	return m
}

func (m *metrics) notified(outcome string) { m.notifiedN(outcome, 1) }

// notifiedN counts n notifications with one outcome (a batch read back).
func (m *metrics) notifiedN(outcome string, n int) {
	m.notifications.Add(context.Background(), int64(n), metric.WithAttributes(attrOutcome.String(outcome)))
}

// startPublish starts the producer span of a publish.
func (m *metrics) startPublish(ctx context.Context, topic, event string, size int) (context.Context, trace.Span) {
	return m.tracer.Start(ctx, spanPublish, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		semconv.MessagingSystemKey.String("wedsync.realtime"),
		semconv.MessagingOperationTypeSend,
		semconv.MessagingOperationName("publish"),
		semconv.MessagingDestinationName(topic),
		semconv.MessagingMessageBodySize(size),
		semconv.DBSystemNamePostgreSQL,
		attribute.String("wedsync.realtime.event", event),
	))
}
