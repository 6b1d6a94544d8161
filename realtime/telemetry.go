package realtime

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/wedsync/integrations/internal/telemetry"
)

// scope is the instrumentation scope of the package's metrics and spans
// (under telemetry.ScopePrefix).
const scope = "realtime"

// Metric, span and attribute names; docs/realtime.md ("Telemetry") lists
// them for operators. Metric attributes are low-cardinality: never a
// topic, a supplier or a socket; spans may carry the topic.
const (
	metricConnections       = "wedsync.realtime.connections"
	metricChannels          = "wedsync.realtime.channels"
	metricHandshakesRefused = "wedsync.realtime.handshakes.refused"
	metricJoins             = "wedsync.realtime.joins"
	metricBroadcasts        = "wedsync.realtime.broadcasts"
	metricFrames            = "wedsync.realtime.frames.delivered"
	metricSlowConsumers     = "wedsync.realtime.slow_consumers"
	metricReplays           = "wedsync.realtime.replays"
	metricResyncs           = "wedsync.realtime.resyncs"
	metricPresenceRefused   = "wedsync.realtime.presence.refused"

	spanBroadcast = "realtime.broadcast"
	spanReplay    = "realtime.replay"
	spanResync    = "realtime.resync"

	attrOutcome = attribute.Key("wedsync.outcome")
	attrReason  = attribute.Key("wedsync.reason")
	attrSource  = attribute.Key("wedsync.realtime.source")
	attrLimit   = attribute.Key("wedsync.realtime.limit")
	attrEvent   = attribute.Key("wedsync.realtime.event")
	attrCount   = attribute.Key("wedsync.realtime.publications")

	// messagingSystem is the messaging.system of the package's spans.
	messagingSystem = "wedsync.realtime"
)

// Reasons and outcomes, the values of attrReason and attrOutcome.
const (
	reasonUnauthenticated    = "unauthenticated"
	reasonForbidden          = "forbidden"
	reasonRateLimited        = "rate_limited"
	reasonTooManyConnections = "too_many_connections"
	reasonTooManyChannels    = "too_many_channels"
	reasonShuttingDown       = "shutting_down"
	reasonBadRequest         = "bad_request"
	reasonUpgradeFailed      = "upgrade_failed"
	reasonInvalid            = "invalid"
	reasonSendBuffer         = "send_buffer"
	reasonReplayBacklog      = "replay_backlog"
	reasonGap                = "gap"
	reasonBroker             = "broker"
	reasonTooLarge           = "too_large"
	reasonTopicFull          = "topic_full"
	reasonClosed             = "closed"
	reasonUnavailable        = "unavailable"

	outcomeOK         = "ok"
	outcomeRefused    = "refused"
	outcomeError      = "error"
	outcomeComplete   = "complete"
	outcomeIncomplete = "incomplete"
)

// hubMetrics are a hub's instruments. Every method is safe on a no-op
// provider, where it costs next to nothing.
type hubMetrics struct {
	tracer trace.Tracer

	connections       metric.Int64UpDownCounter
	channels          metric.Int64UpDownCounter
	handshakesRefused metric.Int64Counter
	joins             metric.Int64Counter
	broadcasts        metric.Int64Counter
	frames            metric.Int64Counter
	slowConsumers     metric.Int64Counter
	replays           metric.Int64Counter
	resyncs           metric.Int64Counter
	presenceRefused   metric.Int64Counter

	// Attribute sets of the hot paths, built once.
	fromHost, fromClient metric.AddOption
}

func newHubMetrics(o sharedOptions) *hubMetrics {
	tel := telemetry.New(scope, o.meterProvider, o.tracerProvider)
	m := &hubMetrics{
		tracer:      tel.Tracer,
		connections: tel.UpDownCounter(metricConnections, "{connection}", "Open dashboard sockets."),
		channels:    tel.UpDownCounter(metricChannels, "{channel}", "Joined channels (a socket's membership of a topic)."),
		handshakesRefused: tel.Counter(metricHandshakesRefused, "{handshake}",
			"Socket handshakes refused, by reason: unauthenticated, rate_limited, too_many_connections (with wedsync.realtime.limit per_ip or per_principal), shutting_down, bad_request or upgrade_failed."),
		joins: tel.Counter(metricJoins, "{join}",
			"Channel joins, by outcome: ok; refused (by the Authenticator or Authorizer; reason unauthenticated or forbidden); error (reason invalid, rate_limited or too_many_channels)."),
		broadcasts: tel.Counter(metricBroadcasts, "{broadcast}",
			"Broadcasts this instance published to the broker, by source: host (Hub.Broadcast) or client (a socket's broadcast)."),
		frames: tel.Counter(metricFrames, "{frame}", "Frames written to dashboard sockets (broadcasts, replies, presence, system messages)."),
		slowConsumers: tel.Counter(metricSlowConsumers, "{connection}",
			"Sockets cut off for not keeping up, by reason: send_buffer (over WithSendBuffer) or replay_backlog (too much arrived while a join replayed)."),
		replays: tel.Counter(metricReplays, "{replay}",
			"Joins that asked for a replay, by outcome: complete, incomplete (the client is told to reload) or error (the history could not be read; the client is told to reload)."),
		resyncs: tel.Counter(metricResyncs, "{resync}",
			"Times a topic's missed broadcasts were read from history, by reason: gap (an offset was skipped) or broker (the broker lost its feed)."),
		presenceRefused: tel.Counter(metricPresenceRefused, "{track}",
			"Presence tracks refused, by reason: rate_limited, too_large, topic_full, invalid, closed or unavailable (the broker that shares presence could not store it)."),
	}
	m.fromHost = metric.WithAttributeSet(attribute.NewSet(attrSource.String("host")))
	m.fromClient = metric.WithAttributeSet(attribute.NewSet(attrSource.String("client")))
	telemetry.Handle(tel.Err())
	return m
}

// count adds one to c with the attributes.
func count(c metric.Int64Counter, attrs ...attribute.KeyValue) {
	c.Add(context.Background(), 1, metric.WithAttributes(attrs...))
}

func (m *hubMetrics) handshakeRefused(reason string, attrs ...attribute.KeyValue) {
	count(m.handshakesRefused, append(attrs, attrReason.String(reason))...)
}

func (m *hubMetrics) join(outcome, reason string) {
	if reason == "" {
		count(m.joins, attrOutcome.String(outcome))
		return
	}
	count(m.joins, attrOutcome.String(outcome), attrReason.String(reason))
}

// joinRefused counts a join the authenticator or authorizer refused.
func (m *hubMetrics) joinRefused(err error) {
	reason := reasonUnauthenticated
	if errors.Is(err, ErrForbidden) {
		reason = reasonForbidden
	}
	m.join(outcomeRefused, reason)
}

// startBroadcast starts the producer span of Hub.Broadcast.
func (m *hubMetrics) startBroadcast(ctx context.Context, topic, event string, size int) (context.Context, trace.Span) {
	return m.tracer.Start(ctx, spanBroadcast, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		semconv.MessagingSystemKey.String(messagingSystem),
		semconv.MessagingOperationTypeSend,
		semconv.MessagingOperationName("broadcast"),
		semconv.MessagingDestinationName(topic),
		semconv.MessagingMessageBodySize(size),
		attrEvent.String(event),
	))
}

// endSpan records err (if any) on span and ends it.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
